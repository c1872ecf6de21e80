"""verify.html, opened from file:// in headless Chromium with no hub and no network, checks a
fresh unzipped export package of two real clips (WebCrypto SHA-256 and Ed25519) and shows every
exhibit verified beside its player; one flipped byte in a clip, a manifest or a custody row makes
it fail and name the exhibit and file."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, sync_playwright

from tests.support.browser import CHROMIUM, CHROMIUM_ARGS
from tests.support.exhibit_kit import (
    copy_package,
    edit_custody_row,
    export,
    flip_byte,
    hub_with_clips,
    unzip_fresh,
)

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def package_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("export")
    files, items, _ = hub_with_clips(folder)
    out = folder / "package.zip"
    assert export(files, items, out) == 0
    return unzip_fresh(out, folder / "fresh")


@pytest.fixture(scope="module")
def browser(package_folder: Path) -> Iterator[Browser]:
    """After the package (the hub's database refuses blocking calls once Playwright's loop runs)."""
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield launched
        finally:
            launched.close()


def _check(browser: Browser, folder: Path) -> tuple[Page, str, str]:
    page = browser.new_page()
    page.route("http*://**", lambda route: route.abort())  # offline: nothing may be fetched
    page.goto((folder / "verify.html").as_uri())
    page.set_input_files("#folder", str(folder))
    page.wait_for_selector(
        "#result[data-status=verified], #result[data-status=failed]", timeout=60_000
    )
    status = page.get_attribute("#result", "data-status") or ""
    return page, status, page.inner_text("#result")


def test_verify_html_shows_every_item_verified(package_folder: Path, browser: Browser) -> None:
    page, status, text = _check(browser, package_folder)
    assert status == "verified", text
    assert text.startswith("VERIFIED: all")
    cards = page.locator(".exhibit")
    assert cards.count() == 2
    for n in range(2):
        card = cards.nth(n)
        assert card.locator(".status").get_attribute("data-status") == "verified"
        assert card.locator("video").count() == 1
        body = card.inner_text()
        assert "cam-1" in body and "Window (UTC)" in body and "Camera clock offset" in body
    assert page.locator("td.fail").count() == 0
    page.close()


@pytest.mark.parametrize("damage", ["clip", "manifest", "custody"])
def test_verify_html_names_one_flipped_byte(
    package_folder: Path, browser: Browser, tmp_path: Path, damage: str
) -> None:
    folder = copy_package(package_folder, tmp_path / "copy")
    exhibit = folder / "exhibits" / "AB-1"
    if damage == "clip":
        flip_byte(exhibit / "clip.mp4", 7000)
        expected = "file exhibits/AB-1/clip.mp4: SHA-256"
    elif damage == "manifest":
        flip_byte(exhibit / "manifest.json", 40)
        expected = "exhibit AB/1: exhibits/AB-1/manifest.json: signature does not match"
    else:
        seq = edit_custody_row(exhibit / "custody.jsonl", 0)
        expected = f"exhibits/AB-1/custody.jsonl row seq {seq}"
    page, status, text = _check(browser, folder)
    assert status == "failed"
    assert expected in text
    statuses = {
        page.locator(".exhibit").nth(n).get_attribute("data-reference"): page.locator(
            ".exhibit .status"
        )
        .nth(n)
        .get_attribute("data-status")
        for n in range(2)
    }
    assert statuses == {"AB/1": "failed", "AB/2": "verified"}
    page.close()
