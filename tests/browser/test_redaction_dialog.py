"""The redaction dialog in a real headless Chromium on the real hub (uvicorn in this process):
a supervisor opens an evidence item of a request, moves to a moment, draws a box on the frame
with the mouse, previews (the preview shows faces and the box obscured), makes the redacted
copy and sees it ready, playable, with its SHA-256 and its master's. At 390 px wide the box is
drawn with a finger (real touch input).
Screenshots go to /tmp/shots-i12-redact/."""

from __future__ import annotations

import base64
import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest
from playwright.sync_api import Browser, Page

from cctv_common.evidence.manifest import Window
from tests.support.browser import launched_chromium
from tests.support.face_video import face_frames, faces_found, sharpness, write_video
from tests.support.hub_kit import CAMERA, insert_evidence
from tests.support.request_pages import OFFICER, LiveHub, live_hub, off_loop, request_body
from tests.support.ui_actions import logged_in, shot

pytestmark = pytest.mark.slow

SHOTS = Path("/tmp/shots-i12-redact")
WIDTH, HEIGHT, FRAMES = 640, 360, 50  # 2 s at 25 fps
CORNER = (20, 240, 140, 100)  # a box drawn over the background, bottom left (source pixels)


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[LiveHub, str, Any]]:
    """The hub with one request whose camera's clip (drawn faces, 640x360) is stored."""
    folder = tmp_path_factory.mktemp("redaction-dialog")
    with live_hub(folder) as hub:
        pictures = face_frames(WIDTH, HEIGHT, FRAMES)
        video = write_video(folder / "faces.mp4", [p for p, _ in pictures])
        start = datetime.now(UTC) - timedelta(hours=1)
        made = hub.call(OFFICER, "POST", "/api/requests", 201, json=request_body([CAMERA], start))
        reference = made["id"]
        hub.call(
            "supervisor",
            "POST",
            f"/api/requests/{reference}/decision",
            json={"outcome": "approve"},
        )
        hub.confirm_holds()
        for job in hub.open_jobs(reference):
            store = partial(
                insert_evidence,
                hub.settings,
                hub.database,
                hub.site_key,
                video,
                requested_by=reference,
                job=job,
                delivered=Window(start=job.start, end=job.start + timedelta(seconds=2)),
                width=WIDTH,
                height=HEIGHT,
            )
            off_loop(store)
        hub.wait_state(reference, "ready")
        yield hub, reference, pictures


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with launched_chromium() as launched:
        yield launched


def _picture(page: Page) -> np.ndarray[Any, Any]:
    src = page.get_attribute("#redact-frame", "src") or ""
    data = base64.b64decode(src.split(",", 1)[1])
    decoded = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    assert decoded is not None and decoded.shape == (HEIGHT, WIDTH, 3)
    return decoded


def _open(page: Page, hub: LiveHub, reference: str) -> None:
    page.goto(f"{hub.url}/#request/{reference}")
    page.click("button.redact")
    page.wait_for_selector("#redact-dialog[open] #redact-stage[data-showing=frame]")


def _seek(page: Page, seconds: float) -> None:
    page.eval_on_selector(
        "#redact-time",
        "(slider, t) => { slider.value = String(t);"
        " slider.dispatchEvent(new Event('change', { bubbles: true })); }",
        seconds,
    )
    page.wait_for_function(
        "t => document.querySelector('#redact-showing').textContent.includes(t)",
        arg=f"{seconds:.2f} s",
    )


def _draw(page: Page, box: tuple[int, int, int, int]) -> None:
    """Drag with the mouse from one corner of ``box`` (source pixels) to the other."""
    shown = page.locator("#redact-frame").bounding_box()
    assert shown is not None
    scale = shown["width"] / WIDTH
    x, y, w, h = box
    page.mouse.move(shown["x"] + x * scale, shown["y"] + y * scale)
    page.mouse.down()
    page.mouse.move(shown["x"] + (x + w / 2) * scale, shown["y"] + (y + h / 2) * scale, steps=4)
    page.mouse.move(shown["x"] + (x + w) * scale, shown["y"] + (y + h) * scale, steps=4)
    page.mouse.up()


def _draw_by_touch(page: Page, box: tuple[int, int, int, int]) -> None:
    """The same drag with a finger: real touch input through Chromium's DevTools protocol
    (the page sees touch pointer events, as on a phone)."""
    shown = page.locator("#redact-frame").bounding_box()
    assert shown is not None
    scale = shown["width"] / WIDTH
    x, y, w, h = box
    cdp = page.context.new_cdp_session(page)
    cdp.send("Emulation.setTouchEmulationEnabled", {"enabled": True, "maxTouchPoints": 1})
    points = [(x, y), (x + w / 2, y + h / 2), (x + w, y + h)]
    for n, (px, py) in enumerate(points):
        kind = "touchStart" if n == 0 else "touchMove"
        where = {"x": shown["x"] + px * scale, "y": shown["y"] + py * scale}
        cdp.send("Input.dispatchTouchEvent", {"type": kind, "touchPoints": [where]})
    cdp.send("Input.dispatchTouchEvent", {"type": "touchEnd", "touchPoints": []})
    cdp.detach()


def _drawn(page: Page) -> tuple[int, int, int, int]:
    text = page.text_content("#redact-boxes li:last-child .box-size") or ""
    found = re.fullmatch(r"(\d+)\u00d7(\d+) at (\d+),(\d+)", text.strip())
    assert found, text
    w, h, x, y = (int(v) for v in found.groups())
    return x, y, w, h


def copies_made(hub: LiveHub, item: dict[str, Any]) -> list[str]:
    copies = hub.call("supervisor", "GET", f"/api/clips/{item['clip_id']}/derived")
    return [c["derived_id"] for c in copies if c["operation"] == "redact"]


def test_a_supervisor_draws_previews_and_makes_a_redacted_copy(
    served: tuple[LiveHub, str, Any], browser: Browser
) -> None:
    hub, reference, pictures = served
    item = hub.request(reference)["items"][0]
    with logged_in(browser, hub.url, "supervisor", "pw-supervisor") as page:
        _open(page, hub, reference)
        _seek(page, 1.0)
        frame = _picture(page)
        assert faces_found(frame) == 2  # the master's frame, unchanged
        _draw(page, CORNER)
        drawn = _drawn(page)
        assert all(abs(a - b) <= 3 for a, b in zip(drawn, CORNER, strict=True)), drawn
        assert "fixed from" in (page.text_content("#redact-boxes li") or "")
        shot(page, SHOTS, "redaction-1366-box-drawn")
        before = page.get_attribute("#redact-frame", "src")
        page.click("#redact-preview")
        page.wait_for_selector("#redact-stage[data-showing=preview]")
        assert page.get_attribute("#redact-frame", "src") != before
        preview = _picture(page)
        assert faces_found(preview) == 0
        for box in [*pictures[25][1], drawn]:
            assert sharpness(preview, box) < sharpness(frame, box) * 0.15, box
        shot(page, SHOTS, "redaction-1366-preview")
        # No reason: refused in the page, nothing ordered.
        page.click("#redact-make")
        page.wait_for_selector("#redact-error:not([hidden])")
        assert "reason" in (page.text_content("#redact-error") or "")
        page.fill("#redact-reason", "Subject access request: third parties' faces and a car")
        page.click("#redact-make")
        page.wait_for_selector("#redact-result:not([hidden])")
        sha256 = (page.text_content("#redact-sha256") or "").strip()
        assert re.fullmatch(r"[0-9a-f]{64}", sha256), sha256
        source = page.text_content("#redact-source-sha256") or ""
        assert source == f"derived from {item['sha256']}"
        page.wait_for_function(
            "() => document.querySelector('#redact-video').readyState >= 1"
        )  # the browser reads the copy's video
        earlier = f"#redact-earlier li[data-derived-id='{copies_made(hub, item)[0]}']"
        page.wait_for_selector(earlier)
        assert sha256 in (page.text_content(earlier) or "")
        page.locator("#redact-result").scroll_into_view_if_needed()
        page.locator("#redact-dialog").screenshot(path=str(SHOTS / "redaction-1366-ready.png"))
    copies = hub.call("supervisor", "GET", f"/api/clips/{item['clip_id']}/derived")
    assert [(c["operation"], c["state"], c["sha256"]) for c in copies] == [
        ("redact", "ready", sha256)
    ]
    assert copies[0]["plan"]["boxes"][0]["x"] == drawn[0]
    actions = [r["action"] for r in hub.call("auditor", "GET", "/api/audit")]
    assert "redact" in actions


def test_the_dialog_works_on_a_phone(served: tuple[LiveHub, str, Any], browser: Browser) -> None:
    hub, reference, _ = served
    with logged_in(browser, hub.url, "supervisor", "pw-supervisor", width="phone") as page:
        _open(page, hub, reference)
        page.select_option("#redact-mode", "follow")
        _draw_by_touch(page, CORNER)
        drawn = _drawn(page)
        assert all(abs(a - b) <= 4 for a, b in zip(drawn, CORNER, strict=True)), drawn
        assert "follows the object from 0.00 s" in (page.text_content("#redact-boxes li") or "")
        width = page.evaluate("document.documentElement.scrollWidth")
        assert width <= 390, f"the page scrolls sideways: {width} px"
        page.click("#redact-preview")
        page.wait_for_selector("#redact-stage[data-showing=preview]")
        shot(page, SHOTS, "redaction-390-preview")
        made = copies_made(hub, hub.request(reference)["items"][0])
        assert page.locator("#redact-earlier li").count() == len(made)
        page.click("#redact-boxes li button")  # delete it
        assert page.locator("#redact-boxes li").count() == 0
