"""The public upload page in a real headless Chromium on the real hub: an uploader fills in the
statement, chooses a video, and tus-js-client sends it in chunks to /api/tus/; one PATCH's
connection is cut (Playwright aborts it), the client asks the hub for its offset and carries on,
and the page shows the hub's signed receipt with the file's SHA-256. An expired link's page is
refused. The supervisor makes a link in the request's page and sees the file listed as "not
from a site agent". Screenshots at 1366 and 390 px go to /tmp/shots-i12-upload/."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, Route

from devkit.waiting import wait_until
from hub.settings_uploads import UploadSettings
from tests.support.browser import launched_chromium
from tests.support.request_pages import PASSWORDS, LiveHub, live_hub
from tests.support.ui_actions import TIMEOUT_MS, WIDTHS, logged_in, shot
from tests.support.upload_kit import STATEMENT, file_request, make_link, make_noisy_mp4

pytestmark = pytest.mark.slow

SHOTS = Path("/tmp/shots-i12-upload")
CHUNK = 64 * 1024


@pytest.fixture(scope="module")
def hub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveHub]:
    settings = UploadSettings(chunk_bytes=CHUNK, sweep_seconds=0.5, requests_per_minute=100_000)
    with live_hub(tmp_path_factory.mktemp("upload-page"), settings) as served:
        yield served


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with launched_chromium() as launched:
        yield launched


def _fill_statement(page: Page) -> None:
    page.fill("#st-name", str(STATEMENT["name"]))
    page.fill("#st-organisation", str(STATEMENT["organisation"]))
    page.fill("#st-from", str(STATEMENT["footage_from"]))
    page.fill("#st-obtained", str(STATEMENT["obtained"]))
    page.check("#st-declaration")


def test_an_upload_cut_mid_way_resumes_and_completes(
    hub: LiveHub, browser: Browser, tmp_path: Path
) -> None:
    reference = file_request(hub)
    link = make_link(hub, reference)
    video_path = tmp_path / "shop door 2 March.mp4"
    video = make_noisy_mp4(video_path)
    assert len(video) > 3 * CHUNK, len(video)
    patches: list[str] = []

    def cut_the_second_patch(route: Route) -> None:
        if route.request.method == "PATCH":
            patches.append(route.request.headers.get("upload-offset", ""))
            if len(patches) == 2:
                route.abort("connectionreset")
                return
        route.continue_()

    for width, (w, h) in WIDTHS.items():
        context = browser.new_context(viewport={"width": w, "height": h}, locale="en-GB")
        page = context.new_page()
        page.set_default_timeout(TIMEOUT_MS)
        try:
            page.goto(hub.url + link["path"])
            page.wait_for_selector("#purpose:has-text('assault')")
            if width == "desktop":
                _fill_statement(page)
                page.route("**/api/tus/*", cut_the_second_patch)
                page.set_input_files("#files", str(video_path))
                shot(page, SHOTS, f"upload-page-filled-{width}")
                page.click("#start")
                done = page.wait_for_selector("li[data-state=done]")
                assert done is not None and done.get_attribute(
                    "data-retried"
                )  # the cut was seen and retried
                sha256 = hashlib.sha256(video).hexdigest()
                page.wait_for_selector(f"[data-sha256='{sha256}']")
            shot(page, SHOTS, f"upload-page-{width}")
        finally:
            context.close()
    # The resumed PATCH started at the hub's offset, past the bytes it already held.
    assert len(patches) >= 3 and int(patches[2]) >= CHUNK, patches
    items = hub.call("supervisor", "GET", f"/api/requests/{reference}/outside-items")["items"]
    assert [item["sha256"] for item in items] == [hashlib.sha256(video).hexdigest()]
    assert items[0]["filename"] == "shop door 2 March.mp4"

    # The supervisor's section of the request page: the link, the file, a new link made.
    for width in WIDTHS:
        with logged_in(browser, hub.url, "supervisor", PASSWORDS["supervisor"], width) as page:
            page.goto(f"{hub.url}/#request/{reference}")
            page.wait_for_selector(f"[data-outside-id='{items[0]['id']}']")
            pill = page.inner_text(f"[data-outside-id='{items[0]['id']}'] .pill")
            assert pill == "not from a site agent"
            page.click("[data-outside-id] [data-action=view-outside]")
            page.wait_for_selector("video.outside-media")
            if width == "desktop":
                page.click("[data-action=new-upload-link]")
                page.fill("[data-field=recipient_name]", "Licensing team")
                page.fill("[data-field=recipient_organisation]", "Stockton Council Licensing")
                page.fill("[data-field=purpose]", "Door camera of the licensed premises")
                page.click("form[data-form=upload-link] button[type=submit]")
                url = page.input_value("[data-field=upload-url]", timeout=TIMEOUT_MS)
                assert "/upload/" in url
            page.locator("#rs-outside").scroll_into_view_if_needed()
            shot(page, SHOTS, f"request-outside-{width}")


def test_an_expired_link_page_is_refused(hub: LiveHub, browser: Browser) -> None:
    reference = file_request(hub)
    link = make_link(hub, reference, valid_days=1 / 86400)
    wait_until(lambda: hub.client.get(link["path"]).status_code == 410, "the link expired")
    for width, (w, h) in WIDTHS.items():
        context = browser.new_context(viewport={"width": w, "height": h}, locale="en-GB")
        page = context.new_page()
        try:
            response = page.goto(hub.url + link["path"])
            assert response is not None and response.status == 410
            assert "expired" in page.inner_text("[data-link-state='410']")
            assert page.locator("#files").count() == 0
            shot(page, SHOTS, f"upload-expired-{width}")
        finally:
            context.close()
