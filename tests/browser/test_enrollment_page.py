"""The sites and enrollment page in a real headless Chromium on the real hub: the supervisor adds
a site and sees its one-time token once, with the exact command and its expiry; the real
``cctv-provision enroll`` uses that command's token; the site shows as enrolled; the supervisor
revokes it with a confirmation and a reason, and the site shows as revoked (in the API too, and
the reason in the custody log). The engineer sees the same list read only: no form, no token, no
revoke. Screenshots at 1366 and 390 px go to /tmp/shots-i14c/."""

from __future__ import annotations

import io
import shlex
from collections.abc import Iterator
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page

from devkit.waiting import wait_until
from provisioning.cli import main as provision_main
from tests.support.browser import launched_chromium
from tests.support.request_pages import PASSWORDS, LiveHub, live_hub
from tests.support.ui_actions import logged_in, shot

pytestmark = pytest.mark.slow

SHOTS = Path("/tmp/shots-i14c")
NEW_SITE = "high-street"
UNLABELLED = """Array.from(document.querySelectorAll('main input, dialog input'))
  .filter((f) => f.offsetParent !== null && !f.labels.length).map((f) => f.id)"""
OVERFLOW = "document.scrollingElement.scrollWidth - window.innerWidth"


@pytest.fixture(scope="module")
def hub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveHub]:
    with live_hub(tmp_path_factory.mktemp("enrollment-page"), enrollment=True) as served:
        yield served


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with launched_chromium() as launched:
        yield launched


def enroll_box(command: str, folder: Path) -> tuple[int, str]:
    """What the engineer does on the box: the page's command, with the config put in ``folder``."""
    argv = shlex.split(command)
    assert argv[:2] == ["cctv-provision", "enroll"], argv
    config = argv.index("--config")
    folder.mkdir(parents=True, exist_ok=True)
    argv[config + 1] = str(folder / "agent.toml")
    said = io.StringIO()
    with redirect_stdout(said), redirect_stderr(said):
        code = provision_main([*argv[1:], "--data-dir", str(folder / "data")])
    return code, said.getvalue()


def site_row(page: Page, site: str) -> str:
    return f"#enrollment-sites tr[data-site='{site}']"


def test_supervisor_adds_a_site_sees_the_token_once_and_revokes_it(
    hub: LiveHub, browser: Browser, tmp_path: Path
) -> None:
    with logged_in(browser, hub.url, "supervisor", PASSWORDS["supervisor"]) as page:
        page.goto(hub.url + "/#enrollment")
        page.fill("#enrollment-site", NEW_SITE)
        page.fill("#enrollment-name", "High Street")
        page.click("#enrollment-issue")
        page.wait_for_selector("#enrollment-token:not([hidden])")
        command = page.inner_text("#enrollment-command")
        assert command.startswith(f"cctv-provision enroll --hub {hub.url} --token {NEW_SITE}.")
        assert command.endswith("--config /etc/cctv/agent.toml")
        assert "High Street (high-street)" in page.inner_text("#enrollment-token-title")
        assert "(in 24 h)" in page.inner_text("#enrollment-token-expiry")
        pending = f"#enrollment-pending tr[data-site='{NEW_SITE}']"
        assert page.locator(pending).get_attribute("data-state") == "waiting"
        shot(page, SHOTS, "enrollment-supervisor-token-desktop")

        page.click("#nav a[data-page='sites']")  # leaving the page: the token is gone for good
        page.click("#nav a[data-page='enrollment']")
        page.wait_for_selector(pending)
        assert page.locator("#enrollment-token").is_hidden()
        assert page.inner_text("#enrollment-command") == ""

        code, said = enroll_box(command, tmp_path / "box")
        assert code == 0, said
        page.wait_for_selector(f"{site_row(page, NEW_SITE)} button[data-action='revoke']")
        assert page.locator(pending).count() == 0

        page.click(f"{site_row(page, NEW_SITE)} button[data-action='revoke']")
        page.wait_for_selector("#revoke-dialog[open]")
        assert "broker login is removed" in page.inner_text("#revoke-what")
        page.click("#revoke-confirm")  # no reason: refused in the page
        assert "Give a reason" in page.inner_text("#revoke-error")
        page.fill("#revoke-reason", "box stolen from the cabinet")
        page.click("#revoke-confirm")
        page.wait_for_selector(f"{site_row(page, NEW_SITE)}[data-state='revoked']")
        assert page.locator(f"{site_row(page, NEW_SITE)} button").count() == 0

    sites = {s["site_id"]: s["state"] for s in hub.call("supervisor", "GET", "/api/sites")}
    assert sites[NEW_SITE] == "revoked"
    rows = hub.call("supervisor", "GET", "/api/audit")
    revoked = [r for r in rows if r["action"] == "revoke_site"]
    assert revoked[-1]["detail"]["reason"] == "box stolen from the cabinet"
    assert revoked[-1]["actor"] == "supervisor"


def test_pages_at_both_widths_for_supervisor_and_engineer(hub: LiveHub, browser: Browser) -> None:
    hub.call(
        "supervisor",
        "POST",
        "/api/sites/enrollments",
        201,
        json={"site_id": "bus-station", "name": "Bus Station"},
    )
    for width in ("desktop", "phone"):
        with logged_in(browser, hub.url, "supervisor", PASSWORDS["supervisor"], width) as page:
            page.goto(hub.url + "/#enrollment")
            page.wait_for_selector("#enrollment-pending tr[data-site='bus-station']")
            page.fill("#enrollment-site", f"market-{width}")
            page.fill("#enrollment-name", "Market Place")
            page.click("#enrollment-issue")
            page.wait_for_selector("#enrollment-token:not([hidden])")
            assert page.evaluate(UNLABELLED) == [] and page.evaluate(OVERFLOW) <= 0
            shot(page, SHOTS, f"enrollment-supervisor-{width}")
            page.click("#enrollment-pending tr[data-site='bus-station'] button")
            page.wait_for_selector("#revoke-dialog[open]")
            assert page.evaluate(UNLABELLED) == []
            shot(page, SHOTS, f"enrollment-revoke-dialog-{width}")
            page.click("#revoke-cancel")
        with logged_in(browser, hub.url, "engineer", PASSWORDS["engineer"], width) as page:
            page.goto(hub.url + "/#enrollment")
            wait_until(
                lambda: page.locator("#enrollment-sites tr[data-site]").count() >= 2, "sites"
            )
            assert page.locator(f"{site_row(page, NEW_SITE)}").get_attribute("data-state") == (
                "revoked"
            )
            assert page.locator("#enrollment-add").is_hidden()
            assert page.locator("#enrollment-section button[data-action='revoke']").count() == 0
            assert page.locator("#enrollment-pending-box").is_hidden()  # supervisors' only
            assert page.locator("video[src], img[src*='snapshot']").count() == 0
            assert page.evaluate(OVERFLOW) <= 0
            shot(page, SHOTS, f"enrollment-engineer-{width}")
    refused = hub.client.post(
        "/api/sites/enrollments",
        json={"site_id": "x-1", "name": "X"},
        auth=("engineer", PASSWORDS["engineer"]),
    )
    assert refused.status_code == 403
