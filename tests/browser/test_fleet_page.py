"""The engineers' fleet page in a real headless Chromium on the real hub: the engineer logs in,
lands on the fleet, sees a camera that stopped (its site's status says so, as its agent would
send it) marked as needing attention with its alert, first in its site; and no footage route
(clip detail, video, manifest, live view, snapshot) answers for the engineer: each is a 403 and
a FORBIDDEN custody row. The site's upload queue (most urgent first) and upload cap are on its
card; a supervisor sets and clears the cap there. Screenshots at 1366 and 390 px go to
/tmp/shots-i14b/ and /tmp/shots-i15b/."""

from __future__ import annotations

import functools
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from playwright.sync_api import Browser

from hub.storage.sqlite import repository as repo
from tests.support.browser import launched_chromium
from tests.support.hub_kit import SITE, insert_job, online_status
from tests.support.request_pages import CAMERAS, PASSWORDS, LiveHub, live_hub, off_loop
from tests.support.ui_actions import logged_in, shot

pytestmark = pytest.mark.slow

SHOTS = Path("/tmp/shots-i14b")
SHOTS_I15B = Path("/tmp/shots-i15b")
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
    # The site's upload queue: a routine clip uploading, a threat-to-life one being cut after it.
    for state, priority in (("uploading", 5), ("cutting", 9), ("queued", 7)):
        off_loop(
            functools.partial(
                insert_job,
                hub.database,
                requested_by="supervisor",
                camera_id="cam-1",
                state=state,
                priority=priority,
            )
        )
    for width in ("desktop", "phone"):
        with logged_in(browser, hub.url, "engineer", PASSWORDS["engineer"], width) as page:
            assert page.evaluate("location.hash") == "#fleet"
            page.wait_for_selector(f"article.fleet-site[data-site='{SITE}'] tr[data-camera]")
            menu = page.locator("#nav a").all_text_contents()
            assert menu == ["Fleet health", "Site health", "Enrollment"], menu
            rows = page.locator(f"article[data-site='{SITE}'] tbody tr[data-camera]")
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
            # The queue in the agent's sending order: threat to life first, routine last.
            queue = page.locator(f".fleet-queue[data-site='{SITE}'] tr[data-job]")
            queue.first.wait_for()
            priorities = [queue.nth(i).get_attribute("data-priority") for i in range(3)]
            assert priorities == ["9", "7", "5"], priorities
            assert "threat to life" in queue.first.inner_text()
            assert "Upload queue: 3 clips" in page.inner_text(".fleet-queue h4")
            cap = page.locator(f"article[data-site='{SITE}'] .fleet-cap")
            assert "as the site's own config says" in cap.inner_text()
            assert page.locator("#fleet-cap-form").is_hidden()  # engineers read, not set
            page.locator(".fleet-queue").scroll_into_view_if_needed()
            shot(page, SHOTS_I15B, f"fleet-upload-queue-{width}")
        # A supervisor sets the site's upload cap from the same page.
        with logged_in(browser, hub.url, "supervisor", PASSWORDS["supervisor"], width) as page:
            page.goto(hub.url + "/#fleet")
            page.locator("#fleet-cap-form").wait_for()
            page.fill("#fleet-cap-windows", "mon 8:00-18:00 5")
            page.click("#fleet-cap-save")
            assert "mon 8:00-18:00 5" in page.inner_text("#fleet-cap-error")
            page.fill("#fleet-cap-max", "20")
            page.fill("#fleet-cap-windows", "mon-fri 08:00-18:00 5")
            page.click("#fleet-cap-save")
            cap = page.locator(f"article[data-site='{SITE}'] .fleet-cap[data-source='hub']")
            cap.wait_for()
            assert "20 Mbit/s, 5 Mbit/s mon-fri 08:00-18:00" in cap.inner_text()
            assert "set at the hub by supervisor" in cap.inner_text()
            shot(page, SHOTS_I15B, f"fleet-upload-cap-{width}")
            page.click("#fleet-cap-clear")
            page.locator(f"article[data-site='{SITE}'] .fleet-cap[data-source='site']").wait_for()

    for method, path in FOOTAGE_ROUTES:
        response = hub.client.request(method, path, auth=("engineer", PASSWORDS["engineer"]))
        assert response.status_code == 403, (method, path, response.status_code)
    rows = hub.call("supervisor", "GET", "/api/audit")
    refused = [
        r["detail"]["path"] for r in rows if r["action"] == "forbidden" and r["actor"] == "engineer"
    ]
    assert set(refused) >= {path for _method, path in FOOTAGE_ROUTES}, refused
