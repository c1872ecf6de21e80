"""The "Export for court" button on a released request's page, in a real headless Chromium on
the real hub: the officer clicks it, the zip arrives as a Playwright download, and the package's
own verify.html, opened from file:// with no network, shows every exhibit verified. Screenshots
of the request page with the button and the exhibit references at 1366 and 390 px go to
/tmp/shots-i12-export/."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from playwright.sync_api import Browser

from tests.support.browser import launched_chromium
from tests.support.exhibit_kit import unzip_fresh
from tests.support.hub_kit import CAMERA
from tests.support.request_pages import OFFICER, PASSWORDS, LiveHub, live_hub, request_body
from tests.support.ui_actions import logged_in, shot

pytestmark = pytest.mark.slow

SHOTS = Path("/tmp/shots-i12-export")


@pytest.fixture(scope="module")
def released(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[LiveHub, str]]:
    with live_hub(tmp_path_factory.mktemp("export-ui")) as hub:
        start = datetime.now(UTC) - timedelta(hours=1)
        body = request_body([CAMERA, "cam-2"], start, minutes=10)
        reference = hub.call(OFFICER, "POST", "/api/requests", 201, json=body)["id"]
        hub.call(
            "supervisor", "POST", f"/api/requests/{reference}/decision", json={"outcome": "approve"}
        )
        hub.confirm_holds()
        hub.fulfil(reference)
        hub.wait_state(reference, "ready")
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
        refs = sorted(text.strip() for text in page.locator(".exhibit-ref").all_inner_texts())
        assert refs == ["· exhibit S/1", "· exhibit S/2"]
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
    assert cards.count() == 2
    assert {cards.nth(n).get_attribute("data-reference") for n in range(2)} == {"S/1", "S/2"}
    check.close()


@pytest.mark.parametrize(("user", "width"), [("supervisor", "desktop"), (OFFICER, "phone")])
def test_the_request_page_with_the_button_at_each_width(
    released: tuple[LiveHub, str], browser: Browser, user: str, width: str
) -> None:
    hub, reference = released
    with logged_in(browser, hub.url, user, PASSWORDS[user], width) as page:
        page.goto(f"{hub.url}/#request/{reference}")
        page.wait_for_selector("#rs-export")
        assert page.locator(".exhibit-ref").count() == 2
        shot(page, SHOTS, f"request-export-{user}-{'1366' if width == 'desktop' else '390'}")
    with logged_in(browser, hub.url, "operator", PASSWORDS["operator"]) as page:
        page.goto(f"{hub.url}/#request/{reference}")
        page.wait_for_selector(".exhibit-ref")
        assert page.locator("#rs-export").count() == 0
