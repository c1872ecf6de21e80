"""The request form's coverage bars with NVR spans, in real headless Chromium at 1366 and 390 px:
a camera whose buffer holds only the last 20 minutes but whose NVR holds the window, and a
camera only the NVR records. Screenshots in /tmp/shots-i13b."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from playwright.sync_api import Browser

from cctv_common.wire.payloads import CameraStatus, NvrChannelCoverage
from hub.storage.sqlite import repository as repo
from tests.support.browser import launched_chromium
from tests.support.hub_kit import CAMERA, SITE, online_status
from tests.support.request_pages import OFFICER, PASSWORDS, LiveHub, live_hub, off_loop
from tests.support.ui_actions import WIDTHS, logged_in, shot

pytestmark = pytest.mark.slow

LONDON = ZoneInfo("Europe/London")
SHOTS = Path("/tmp/shots-i13b")


@pytest.fixture
def hub(tmp_path: Path) -> Iterator[LiveHub]:
    with live_hub(tmp_path) as served:
        now = datetime.now(UTC)
        nvr = NvrChannelCoverage.model_validate(
            {"nvr_id": "nvr-1", "nvr_name": "Control room", "channel": 1,
             "method": "onvif-replay",
             "spans": [{"start": now - timedelta(hours=3), "end": now - timedelta(minutes=25)}]}
        )  # fmt: skip
        status = online_status((CAMERA, "cam-3"), now - timedelta(minutes=20), now)
        cam3 = status.cameras[1].model_copy(update={"nvr": (nvr,)})
        only = CameraStatus(camera_id="cam-nvr", state="nvr_only", nvr=(nvr,))
        status = status.model_copy(update={"cameras": (status.cameras[0], cam3, only)})
        off_loop(
            lambda: served.database.write(lambda d: repo.apply_site_status(d, SITE, status, now))
        )
        yield served


@pytest.fixture
def browser() -> Iterator[Browser]:
    with launched_chromium() as launched:
        yield launched


def test_coverage_bars_show_nvr_spans_as_retrievable(hub: LiveHub, browser: Browser) -> None:
    start = datetime.now(UTC) - timedelta(minutes=40)
    local = start.astimezone(LONDON).strftime("%Y-%m-%dT%H:%M")
    for width in WIDTHS:
        with logged_in(browser, hub.url, OFFICER, PASSWORDS[OFFICER], width) as page:
            page.goto(f"{hub.url}/#new")
            page.wait_for_selector(f".camera-card[data-camera='{SITE}/cam-nvr']")
            card = page.text_content(f".camera-card[data-camera='{SITE}/cam-nvr']") or ""
            assert "recorded by an NVR only" in card and "NVR Control room" in card
            page.fill("#rq-form [name=window_start]", local)
            page.dispatch_event("#rq-form [name=window_start]", "change")
            for camera in ("cam-3", "cam-nvr"):
                page.click(f".camera-card[data-camera='{SITE}/{camera}'] input")
            page.wait_for_selector(f"#rq-bars .covrow[data-camera='{SITE}/cam-nvr'] .covpart-nvr")
            bars = page.text_content("#rq-bars") or ""
            assert "NVR Control room" in bars and "site buffer" in bars
            overflow = page.evaluate("document.scrollingElement.scrollWidth - window.innerWidth")
            assert overflow <= 0, (width, overflow)
            page.locator("#rq-bars").scroll_into_view_if_needed()
            shot(page, SHOTS, f"request-form-nvr-bars-{width}")
