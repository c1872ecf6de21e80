"""Honest delivery through the real parts: a camera that stops mid-window gives a stored clip
with a gap, and the API and the page say so instead of a bare green "stored".

Real camera (GStreamer RTSP server), real Mosquitto, the hub and the agent as processes
(``devkit.site_stack``), headless Chromium on the hub's page. Screenshots of the page go to
the pytest temp folder (``delivery-1366.png``, ``delivery-390.png``) for a person to look at.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Final

import pytest
from playwright.sync_api import sync_playwright

from cctv_common.clock import parse_iso
from devkit.local_broker import MosquittoBroker
from devkit.site_stack import PASSWORD, SiteStack
from devkit.testcam import TestCamera
from edge_agent.store.segment_index import SegmentIndex
from tests.support.browser import CHROMIUM, CHROMIUM_ARGS
from tests.support.site_rig import (
    GUARD_SECONDS,
    running_camera,
    running_stack,
    site_broker,
    wait_on_stack,
)

pytestmark = pytest.mark.slow

SITE_ID: Final = "delivery-site"
OUTAGE_SECONDS: Final = 6.0  # the camera is off at least this long: well over the 1 s tolerance
LEAD_SECONDS: Final = 4.0  # footage asked for before the outage, and after it


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[MosquittoBroker]:
    with site_broker(MosquittoBroker, tmp_path / "broker", SITE_ID) as broker:
        yield broker


@pytest.fixture
def camera() -> Iterator[TestCamera]:
    with running_camera(width=640, height=360, fps=25, gop_seconds=1.0) as camera:
        yield camera


@pytest.fixture
def stack(tmp_path: Path, broker: MosquittoBroker, camera: TestCamera) -> Iterator[SiteStack]:
    with running_stack(SiteStack(tmp_path / "site", broker, camera.url, site_id=SITE_ID)) as stack:
        yield stack


def test_a_camera_stopped_mid_window_gives_an_incomplete_delivery_shown_plainly(
    stack: SiteStack, camera: TestCamera, tmp_path: Path
) -> None:
    stack.wait_for_footage(LEAD_SECONDS + 2)
    before_outage = stack.buffer_end()
    camera.stop()
    stopped_at = time.monotonic()
    wait_on_stack(
        stack,
        lambda: (stack.api.camera(SITE_ID, stack.camera_id) or {}).get("state") != "recording",
        "the agent to notice the camera is gone",
    )
    wait_on_stack(stack, lambda: time.monotonic() - stopped_at >= OUTAGE_SECONDS, "the outage")
    camera.start()  # the same port: the agent reconnects to the same URL
    wait_on_stack(
        stack,
        lambda: stack.buffer_end() - before_outage >= timedelta(seconds=OUTAGE_SECONDS + 6),
        "footage after the camera came back",
    )
    start = before_outage - timedelta(seconds=LEAD_SECONDS)
    end = stack.buffer_end()
    job = stack.api.dispatch(SITE_ID, stack.camera_id, start, end, "delivery test: camera off")
    done = stack.wait_job(job["job_id"])

    # -- the API: incomplete, with the gap where the camera was off -------------------------------
    delivery = done["delivery"]
    assert delivery is not None
    assert delivery["complete"] is False, delivery
    requested = (end - start).total_seconds()
    assert delivery["requested_seconds"] == pytest.approx(requested, abs=0.01)
    missing = [gap for gap in delivery["gaps"] if gap["missing"]]
    assert missing, delivery
    lost = sum(gap["seconds"] for gap in missing)
    assert delivery["covered_seconds"] == pytest.approx(requested - lost, abs=0.01)
    # The outage: at least as long as the camera was off, from where the agent's footage stopped
    # to where it started again, as its index recorded them. (The hub's buffer end before the
    # stop lags the stop by up to a segment and a status interval, more on a busy machine: it
    # only bounds the outage's start from below.)
    outage = max(missing, key=lambda gap: gap["seconds"])
    assert outage["seconds"] >= OUTAGE_SECONDS - 1
    outage_start, outage_end = parse_iso(outage["start"]), parse_iso(outage["end"])
    assert outage_start >= before_outage - timedelta(milliseconds=1)
    index = SegmentIndex(stack.agent_data / "index.db")
    try:
        recorded = index.segments_overlapping(stack.camera_id, start, end)
    finally:
        index.close()
    assert not [s for s in recorded if s.overlaps(outage_start, outage_end)], outage
    assert any(abs((s.end - outage_start).total_seconds()) < 0.001 for s in recorded), outage
    assert any(abs((s.start - outage_end).total_seconds()) < 0.001 for s in recorded), outage
    assert outage["cause"] in (None, "camera_unreachable", "stream_stalled"), outage
    assert outage["cause_text"]
    assert " of " in delivery["summary"] and "gap" in delivery["summary"]
    clip = stack.api.json(f"/api/clips/{done['clip_id']}")
    assert clip["delivery"] == delivery

    # -- the page: amber "stored: ... of ...; N gap(s)" with the gap listed ------------------------
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            for width in (1366, 390):
                context = browser.new_context(viewport={"width": width, "height": 900})
                page = context.new_page()
                page.set_default_timeout(GUARD_SECONDS * 1000)
                page.goto(stack.api.base + "/login")
                page.fill("#username", "operator")
                page.fill("#password", PASSWORD)
                page.click("button[type=submit]")
                page.wait_for_selector("body[data-ready=true]")
                row = f"#jobs-body tr[data-job-id='{job['job_id']}']"
                block = page.wait_for_selector(f"{row} .delivery-incomplete")
                assert block is not None
                text = block.inner_text()
                assert text.startswith("stored: " + delivery["summary"]), text
                assert outage["cause_text"] in text and outage["length_text"] in text
                color = page.evaluate(
                    "(s) => getComputedStyle(document.querySelector(s)).color",
                    f"{row} .delivery-summary",
                )
                assert color == "rgb(138, 83, 0)", color  # amber, not the green of "complete"
                assert page.is_hidden(f"{row} .delivery-complete")
                # The clip view says the same beside the player.
                page.click(f"#clips-body button[data-clip-id='{done['clip_id']}']")
                facts = page.wait_for_selector("#player-delivery .delivery-incomplete")
                assert facts is not None and outage["cause_text"] in facts.inner_text()
                wide = page.evaluate("document.documentElement.scrollWidth")
                assert wide <= width, f"the page is {wide} px wide in a {width} px window"
                page.screenshot(path=str(tmp_path / f"delivery-{width}.png"), full_page=True)
                context.close()
        finally:
            browser.close()
