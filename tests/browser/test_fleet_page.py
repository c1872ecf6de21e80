"""The engineers' fleet page in a real headless Chromium on the real hub: the engineer logs in,
lands on the fleet, sees a camera that stopped (its site's status says so, as its agent would
send it) marked as needing attention with its alert, first in its site; and no footage route
(clip detail, video, manifest, live view, snapshot) answers for the engineer: each is a 403 and
a FORBIDDEN custody row. Screenshots at 1366 and 390 px go to /tmp/shots-i14b/."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from playwright.sync_api import Browser

from hub.storage.sqlite import repository as repo
from tests.support.browser import launched_chromium
from tests.support.hub_kit import SITE, online_status
from tests.support.request_pages import CAMERAS, PASSWORDS, LiveHub, live_hub, off_loop
from tests.support.ui_actions import logged_in, shot

pytestmark = pytest.mark.slow

SHOTS = Path("/tmp/shots-i14b")
FOOTAGE_ROUTES = (
    ("GET", "/api/clips"),
    ("GET", "/api/clips/clip-anything"),
    ("GET", "/api/clips/clip-anything/video"),
    ("GET", "/api/clips/clip-anything/manifest.json"),
    ("POST", f"/api/live/{SITE}/cam-2/offer"),
    ("GET", f"/api/sites/{SITE}/cameras/cam-2/snapshot"),
)


@pytest.fixture
def hub(tmp_path: Path) -> Iterator[LiveHub]:
    with live_hub(tmp_path) as served:
        yield served


@pytest.fixture
def browser() -> Iterator[Browser]:
    with launched_chromium() as launched:
        yield launched


def stop_camera(hub: LiveHub, camera: str, minutes: int) -> None:
    """The site reports ``camera`` down since ``minutes`` ago (its newest footage then)."""
    now = datetime.now(UTC)
    status = online_status(CAMERAS, now - timedelta(days=2), now)
    cameras = tuple(
        c.model_copy(
            update={
                "state": "error",
                "buffer_end": now - timedelta(minutes=minutes),
                "last_error": "cannot connect: Connection refused",
                "frames_lost_24h": minutes * 60 * 25,
            }
        )
        if c.camera_id == camera
        else c.model_copy(update={"frames_lost_24h": 0, "clock_offset_seconds": 0.3})
        for c in status.cameras
    )
    status = status.model_copy(
        update={"cameras": cameras, "buffer_days_forecast": 44.0, "time_sync": "synchronised"}
    )
    off_loop(lambda: hub.database.write(lambda d: repo.apply_site_status(d, SITE, status, now)))


def test_engineer_sees_the_fleet_a_stopped_camera_first_and_no_footage(
    hub: LiveHub, browser: Browser
) -> None:
    stop_camera(hub, "cam-2", minutes=25)
    for width in ("desktop", "phone"):
        with logged_in(browser, hub.url, "engineer", PASSWORDS["engineer"], width) as page:
            assert page.evaluate("location.hash") == "#fleet"
            page.wait_for_selector(f"article.fleet-site[data-site='{SITE}'] tr[data-camera]")
            menu = page.locator("#nav a").all_text_contents()
            assert menu == ["Fleet health", "Site health", "Enrollment"], menu
            rows = page.locator(f"article[data-site='{SITE}'] tbody tr")
            assert rows.first.get_attribute("data-camera") == "cam-2"
            assert rows.first.get_attribute("data-attention") == "yes"
            assert "error" in rows.first.inner_text()
            down = page.locator(".fleet-alert[data-kind='camera_down'][data-camera='cam-2']")
            assert "not recording for 25 min" in down.inner_text()
            ok = page.locator(f"article[data-site='{SITE}'] tr[data-camera='cam-1']")
            assert ok.get_attribute("data-attention") == "no"
            assert "1 alert" in page.inner_text("#fleet-summary")
            assert page.locator("video[src], img[src*='snapshot']").count() == 0
            shot(page, SHOTS, f"fleet-engineer-{width}")

    for method, path in FOOTAGE_ROUTES:
        response = hub.client.request(method, path, auth=("engineer", PASSWORDS["engineer"]))
        assert response.status_code == 403, (method, path, response.status_code)
    rows = hub.call("supervisor", "GET", "/api/audit")
    refused = [
        r["detail"]["path"] for r in rows if r["action"] == "forbidden" and r["actor"] == "engineer"
    ]
    assert set(refused) >= {path for _method, path in FOOTAGE_ROUTES}, refused
