"""ONVIF details of third-party devices, end to end through the real parts.

A fake ONVIF camera that refuses a Renew without WS-Addressing headers and answers its snapshot
URI with a PNG, naming the real RTSP test camera as its stream; the agent and the hub as
processes (``devkit.site_stack``) on a real Mosquitto; headless Chromium on the hub's page.

- The agent renews its PullPoint subscription instead of re-subscribing, and each motion and
  tamper event reaches the hub's API once, also across an agent restart.
- The hub's snapshot route returns a JPEG made from the camera's PNG.
- On the camera timeline, a click on an event fills in the request form with the footage around
  it, and the job sent asks for that window.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Any, Final

import cv2
import numpy as np
import pytest
from playwright.sync_api import sync_playwright

from cctv_common.clock import parse_iso
from devkit.local_broker import MosquittoBroker
from devkit.site_stack import PASSWORD, SiteStack
from devkit.testcam import TestCamera
from devkit.waiting import wait_until
from tests.support.browser import CHROMIUM, CHROMIUM_ARGS
from tests.support.onvif_device import FakeOnvifDevice
from tests.support.site_rig import GUARD_SECONDS, running_stack, site_broker, wait_on_stack

pytestmark = pytest.mark.slow

SITE_ID: Final = "onvif-site"


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[MosquittoBroker]:
    with site_broker(MosquittoBroker, tmp_path / "broker", SITE_ID) as broker:
        yield broker


@pytest.fixture
def device(onvif_device: FakeOnvifDevice, rtsp_camera: TestCamera) -> FakeOnvifDevice:
    onvif_device.set_stream_uri("Profile_1", rtsp_camera.url)
    onvif_device.max_termination = 2.0  # a renewal every second, so the test sees several
    ramp = np.tile(np.linspace(0, 255, 96, dtype=np.uint8), (54, 1))
    ok, png = cv2.imencode(".png", np.dstack([ramp, ramp[::-1], ramp]))
    assert ok
    onvif_device.snapshot, onvif_device.snapshot_type = bytes(png.tobytes()), "image/png"
    return onvif_device


@pytest.fixture
def stack(tmp_path: Path, broker: MosquittoBroker, device: FakeOnvifDevice) -> Iterator[SiteStack]:
    camera = {
        "name": "Third-party dome",
        "onvif": {
            "host": device.host,
            "port": device.port,
            "user": device.user,
            "password": device.password,
        },
    }
    with running_stack(
        SiteStack(tmp_path / "site", broker, "", site_id=SITE_ID, camera=camera)
    ) as stack:
        yield stack


def events(stack: SiteStack) -> list[dict[str, Any]]:
    path = f"/api/sites/{SITE_ID}/cameras/{stack.camera_id}/events"
    return list(stack.api.json(path)["events"])


def job_listed(stack: SiteStack, reason: str) -> bool:
    return any(job["reason"] == reason for job in stack.api.json("/api/jobs"))


def test_events_snapshots_and_the_timeline_through_the_real_parts(
    stack: SiteStack, device: FakeOnvifDevice, tmp_path: Path
) -> None:
    stack.wait_for_footage(3)
    wait_on_stack(stack, lambda: device.renewals >= 2, "two renewals of the event subscription")

    # -- events reach the hub once each ---------------------------------------------------------
    device.push_motion(True)
    device.push_motion(False)
    device.push_tamper(True)
    got = wait_on_stack(
        stack, lambda: (lambda e: e if len(e) >= 3 else None)(events(stack)), "3 events"
    )
    assert [(e["kind"], e["active"]) for e in got] == [
        ("motion", True),
        ("motion", False),
        ("tamper", True),
    ]
    assert abs((parse_iso(got[0]["at"]) - datetime.now(UTC)).total_seconds()) < 30
    assert got[0]["data"]["source.Rule"] == "MyMotionDetectorRule"
    assert device.count("CreatePullPointSubscription") == 1  # renewed, never re-subscribed
    assert device.wsa_refusals == 0

    # -- an agent restart sends nothing twice and stores no ongoing state again ------------------
    stack.agent.stop()
    stack.start_agent()
    wait_on_stack(
        stack,
        lambda: device.count("CreatePullPointSubscription") == 2 and bool(device.subscriptions),
        "the restarted agent's subscription",
    )
    device.push_motion(True)
    after = wait_on_stack(
        stack, lambda: (lambda e: e if len(e) >= 4 else None)(events(stack)), "4 events"
    )
    assert [(e["kind"], e["active"]) for e in after] == [
        ("motion", True),
        ("motion", False),
        ("tamper", True),
        ("motion", True),
    ]
    assert len({e["event_id"] for e in after}) == 4

    # -- the snapshot route gives a JPEG made from the camera's PNG ------------------------------
    response = stack.api.get(f"/api/sites/{SITE_ID}/cameras/{stack.camera_id}/snapshot")
    assert response.headers["content-type"] == "image/jpeg"
    assert response.headers["x-snapshot-source"] == "onvif"
    assert response.content.startswith(b"\xff\xd8")
    picture = cv2.imdecode(np.frombuffer(response.content, np.uint8), cv2.IMREAD_COLOR)
    assert picture is not None and picture.shape == (54, 96, 3)

    # -- the timeline: a click on an event fills in the request for the footage around it --------
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            # Wide: the newest event's mark (drawn last, on top of the others of that second).
            # Narrow: the oldest event's line in the list under the bar.
            for width, chosen in ((1366, after[-1]), (390, after[0])):
                at = parse_iso(chosen["at"])
                context = browser.new_context(viewport={"width": width, "height": 900})
                page = context.new_page()
                page.set_default_timeout(GUARD_SECONDS * 1000)
                page.goto(stack.api.base + "/login")
                page.fill("#username", "operator")
                page.fill("#password", PASSWORD)
                page.click("button[type=submit]")
                page.wait_for_selector("body[data-ready=true]")
                mark = f"#tl-marks .event-mark[data-event-id='{chosen['event_id']}']"
                page.wait_for_selector(mark)
                assert page.locator("#tl-marks .event-mark").count() == 4
                page.fill("#tl-before", "10")
                page.fill("#tl-after", "20")
                before_click = datetime.now(UTC)
                if width == 1366:
                    page.click(mark)
                else:
                    page.click(f"#tl-events button[data-event-id='{chosen['event_id']}']")
                after_click = datetime.now(UTC)
                assert page.is_visible(f"{mark}.chosen")
                assert page.input_value("#job-camera") == stack.camera_id
                page.fill("#job-reason", f"timeline test {width}")
                page.screenshot(path=str(tmp_path / f"timeline-{width}.png"), full_page=True)
                page.click("#job-submit")
                page.wait_for_selector("#jobs-body tr[data-job-id]")
                wide = page.evaluate("document.documentElement.scrollWidth")
                assert wide <= width, f"the page is {wide} px wide in a {width} px window"
                context.close()
                # The rows waited for above may be the first width's job: wait for this one.
                reason = f"timeline test {width}"
                wait_until(partial(job_listed, stack, reason), f"the job of {reason}")
                job = next(j for j in stack.api.json("/api/jobs") if j["reason"] == reason)
                assert (job["site_id"], job["camera_id"]) == (SITE_ID, stack.camera_id)
                # The form holds whole seconds: within a second of the event minus 10 s, and
                # ending 20 s after it or, when that is still to come, when it was clicked (the
                # page's clock read between before_click and after_click, however slow the
                # machine is: no fixed allowance for it).
                start, end = parse_iso(job["start"]), parse_iso(job["end"])
                assert abs((start - (at - timedelta(seconds=10))).total_seconds()) <= 1
                latest = at + timedelta(seconds=20)
                second = timedelta(seconds=1)
                assert min(latest, before_click) - second <= end <= min(latest, after_click)
        finally:
            browser.close()
