"""The "Export for court" button on a released request's page, in a real headless Chromium on
the real hub: the officer clicks it, the zip arrives as a Playwright download, and the package's
own verify.html, opened from file:// with no network, shows every exhibit verified (two clips and
a business's upload, "not from a site agent"); a package that cannot be made (a master damaged
in the store) shows the hub's reason in the page and saves no file. Screenshots
of the request page with the button and the exhibit references at 1366 and 390 px go to
/tmp/shots-i12-finish/."""

from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser

from hub.storage.evidence.store import FilesystemEvidenceStore
from tests.support.browser import launched_chromium
from tests.support.exhibit_kit import flip_byte, unzip_fresh
from tests.support.hub_kit import CAMERA, make_h264_mp4
from tests.support.request_pages import OFFICER, PASSWORDS, LiveHub, live_hub, request_body
from tests.support.ui_actions import logged_in, shot
from tests.support.upload_kit import create, make_link, patch, token_of

pytestmark = pytest.mark.slow

SHOTS = Path("/tmp/shots-i12-finish")


def _upload_from_outside(hub: LiveHub, reference: str, folder: Path) -> None:
    token = token_of(make_link(hub, reference))
    data = make_h264_mp4(folder / "shop-door.mp4", seconds=1)
    made = create(hub.client, token, len(data), "shop-door.mp4")
    assert made.status_code == 201, made.text
    assert patch(hub.client, made.headers["Location"], token, 0, data).status_code == 204


def _ready_request(hub: LiveHub, minutes_ago: int) -> str:
    start = datetime.now(UTC) - timedelta(minutes=minutes_ago)
    body = request_body([CAMERA, "cam-2"], start, minutes=10)
    reference: str = hub.call(OFFICER, "POST", "/api/requests", 201, json=body)["id"]
    hub.call(
        "supervisor", "POST", f"/api/requests/{reference}/decision", json={"outcome": "approve"}
    )
    hub.confirm_holds()
    hub.fulfil(reference)
    hub.wait_state(reference, "ready")
    return reference


@pytest.fixture(scope="module")
def released(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[LiveHub, str]]:
    with live_hub(tmp_path_factory.mktemp("export-ui")) as hub:
        reference = _ready_request(hub, 60)
        _upload_from_outside(hub, reference, tmp_path_factory.mktemp("outside"))
        hub.call(
            "supervisor",
            "POST",
            f"/api/requests/{reference}/release",
            json={
                "recipients": [{"name": "DC Jane Smith 4521", "organisation": "Cleveland Police"}],
                "purpose": f"Investigation ({reference})",
            },
        )
        yield hub, reference


@pytest.fixture(scope="module")
def browser(released: tuple[LiveHub, str]) -> Iterator[Browser]:
    with launched_chromium() as launched:
        yield launched


def test_the_export_button_downloads_a_package_that_verifies_offline(
    released: tuple[LiveHub, str], browser: Browser, tmp_path: Path
) -> None:
    hub, reference = released
    with logged_in(browser, hub.url, OFFICER, PASSWORDS[OFFICER]) as page:
        page.goto(f"{hub.url}/#request/{reference}")
        page.wait_for_selector("#rs-export")
        page.wait_for_selector(".outside-ref")
        texts = page.locator(".exhibit-ref").all_inner_texts()
        refs = sorted(text.strip().removeprefix("· ") for text in texts)
        assert refs == ["exhibit S/1", "exhibit S/2", "exhibit S/3"]
        shot(page, SHOTS, "request-export-officer-1366")
        with page.expect_download(timeout=120_000) as caught:
            page.click("#rs-export")
        saved = tmp_path / "package.zip"
        caught.value.save_as(saved)
    folder = unzip_fresh(saved, tmp_path / "fresh")
    check = browser.new_page()
    check.route("http*://**", lambda route: route.abort())  # offline: nothing may be fetched
    check.goto((folder / "verify.html").as_uri())
    check.set_input_files("#folder", str(folder))
    check.wait_for_selector(
        "#result[data-status=verified], #result[data-status=failed]", timeout=60_000
    )
    assert check.get_attribute("#result", "data-status") == "verified", check.inner_text("#result")
    cards = check.locator(".exhibit")
    assert cards.count() == 3
    assert {cards.nth(n).get_attribute("data-reference") for n in range(3)} == {"S/1", "S/2", "S/3"}
    outside = check.locator('.exhibit[data-reference="S/3"]')
    assert "not from a site agent" in outside.inner_text()
    assert "Sam Patel" in outside.inner_text()
    check.set_viewport_size({"width": 1366, "height": 900})
    shot(check, SHOTS, "verify-html-with-outside-1366")
    check.close()


def test_a_package_that_cannot_be_made_shows_the_hubs_reason(
    released: tuple[LiveHub, str], browser: Browser
) -> None:
    hub, reference = released
    item = hub.request(reference)["items"][1]
    path = FilesystemEvidenceStore(hub.settings.evidence_dir).path_for(item["sha256"])
    original = path.read_bytes()
    os.chmod(path, 0o640)
    downloads: list[Any] = []
    try:
        flip_byte(path, 2000)
        for width in ("desktop", "phone"):
            with logged_in(browser, hub.url, OFFICER, PASSWORDS[OFFICER], width) as page:
                page.on("download", lambda caught: downloads.append(caught))
                page.goto(f"{hub.url}/#request/{reference}")
                page.click("#rs-export")
                page.wait_for_selector("#rs-export-error:not([hidden])", timeout=120_000)
                message = page.inner_text("#rs-export-error")
                assert "could not be made" in message and "Not exported" in message, message
                assert "exhibit S/" in message  # both clips are the same bytes here
                shot(page, SHOTS, f"request-export-error-{'1366' if width == 'desktop' else '390'}")
    finally:
        path.write_bytes(original)
    assert downloads == []


@pytest.mark.parametrize(("user", "width"), [("supervisor", "desktop"), (OFFICER, "phone")])
def test_the_request_page_with_the_button_at_each_width(
    released: tuple[LiveHub, str], browser: Browser, user: str, width: str
) -> None:
    hub, reference = released
    with logged_in(browser, hub.url, user, PASSWORDS[user], width) as page:
        page.goto(f"{hub.url}/#request/{reference}")
        page.wait_for_selector("#rs-export")
        page.wait_for_selector(".outside-ref")
        assert page.locator(".exhibit-ref").count() == 3
        shot(page, SHOTS, f"request-export-{user}-{'1366' if width == 'desktop' else '390'}")
    with logged_in(browser, hub.url, "operator", PASSWORDS["operator"]) as page:
        page.goto(f"{hub.url}/#request/{reference}")
        page.wait_for_selector(".exhibit-ref")
        assert page.locator("#rs-export").count() == 0


def test_the_release_dialog_lists_footage_from_elsewhere(
    released: tuple[LiveHub, str], browser: Browser, tmp_path: Path
) -> None:
    hub, _ = released
    reference = _ready_request(hub, 40)
    _upload_from_outside(hub, reference, tmp_path)
    for width in ("desktop", "phone"):
        with logged_in(browser, hub.url, "supervisor", PASSWORDS["supervisor"], width) as page:
            page.goto(f"{hub.url}/#request/{reference}")
            page.click("#rs-release")
            page.wait_for_selector("#release-outside:not([hidden]) .release-outside-item")
            listed = page.inner_text("#release-outside")
            assert "shop-door.mp4 from Sam Patel" in listed and "not from a site agent" in listed
            assert "1 file(s) of footage from elsewhere" in page.inner_text("#release-items")
            shot(page, SHOTS, f"release-dialog-outside-{'1366' if width == 'desktop' else '390'}")
