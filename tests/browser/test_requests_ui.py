"""The footage request pages in a real headless Chromium: each role lands on its own page, a
police officer files a request with a camera picker and live coverage warnings, the data
controller approves, the operator watches progress, the controller releases, the officer plays
the released clip and records the outcome, the controller deletes at expiry with a reason, and
the auditor finds it all in the custody log. Human actions are counted per role.

The hub is the real one (login, sessions, sites, clips, video); the request routes are served by
tests/support/requests_stub.py until the backend's own land (then ``mount_stub`` goes).
Screenshots of every page for every role at 1366 and 390 px go to /tmp/shots-i11d/.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import uvicorn
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from playwright.sync_api import Browser, Page, sync_playwright

from devkit.local_broker import free_loopback_port
from devkit.waiting import wait_until
from hub.app import create_app
from hub.domain.records import EvidenceItem
from hub.storage.sqlite import repository as repo
from hub.storage.sqlite.database import HubDatabase
from tests.support.browser import CHROMIUM, CHROMIUM_ARGS
from tests.support.hub_kit import (
    CAMERA,
    SITE,
    USERS,
    WAIT_SECONDS,
    insert_evidence,
    make_h264_mp4,
    make_settings,
    online_status,
)
from tests.support.requests_stub import RequestsStub, mount_stub, seed_examples

pytestmark = pytest.mark.slow

TIMEOUT_MS = int(WAIT_SECONDS * 1000)
LONDON = ZoneInfo("Europe/London")
# The browser's own zone is not London's: the pages must show and take UK time regardless.
BROWSER_ZONE = "America/New_York"
SHOTS = Path("/tmp/shots-i11d")
WIDTHS = {"desktop": (1366, 900), "phone": (390, 844)}
LANDINGS = {
    "pc-one": "requests",
    "supervisor": "decisions",
    "operator": "fulfil",
    "engineer": "sites",
    "auditor": "custody",
}


@dataclass
class StubbedHub:
    url: str
    database: HubDatabase
    stub: RequestsStub
    clip: EvidenceItem


@pytest.fixture
def hub(tmp_path: Path) -> Iterator[StubbedHub]:
    key = Ed25519PrivateKey.generate()
    settings = make_settings(tmp_path / "hub", site_key=key)
    database = HubDatabase(settings.db_path)
    app = create_app(settings, database)
    stub = RequestsStub()
    mount_stub(app, stub)
    port = free_loopback_port()
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on")
    )
    thread = threading.Thread(target=server.run, name="uvicorn", daemon=True)
    thread.start()
    try:
        wait_until(lambda: server.started, "uvicorn started")
        now = datetime.now(UTC)
        status = online_status((CAMERA, "cam-2", "cam-3"), now - timedelta(days=2), now)
        # cam-3's ring buffer starts 20 minutes ago: a window of the last hour is flagged.
        cam3 = status.cameras[2].model_copy(update={"buffer_start": now - timedelta(minutes=20)})
        status = status.model_copy(update={"cameras": (*status.cameras[:2], cam3)})
        database.write(lambda d: repo.apply_site_status(d, SITE, status, now))
        clip = insert_evidence(
            settings, database, key, make_h264_mp4(tmp_path / "clip.mp4"), requested_by="pc-one"
        )
        stub.clip_for[f"{SITE}/{CAMERA}"] = clip.clip_id
        yield StubbedHub(f"http://127.0.0.1:{port}", database, stub, clip)
    finally:
        server.should_exit = True
        thread.join(WAIT_SECONDS)
        database.close()


@pytest.fixture
def browser() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield launched
        finally:
            launched.close()


class Actions:
    """Counts what a person does (a click, a field typed in, a link followed), per role."""

    def __init__(self) -> None:
        self.count: Counter[str] = Counter()
        self.logins: Counter[str] = Counter()

    def login(self, who: str) -> None:
        self.logins[who] += 1

    def click(self, page: Page, who: str, selector: str) -> None:
        self.count[who] += 1
        page.click(selector)

    def fill(self, page: Page, who: str, selector: str, value: str) -> None:
        self.count[who] += 1
        page.fill(selector, value)


@contextmanager
def logged_in(
    browser: Browser, hub: StubbedHub, user: str, width: str = "desktop"
) -> Iterator[Page]:
    """``user`` logged in (one action: the browser fills in a saved password), on their page."""
    w, h = WIDTHS[width]
    context = browser.new_context(
        viewport={"width": w, "height": h}, timezone_id=BROWSER_ZONE, locale="en-GB"
    )
    page = context.new_page()
    page.set_default_timeout(TIMEOUT_MS)
    try:
        page.goto(hub.url + "/login")
        page.fill("#username", user)
        page.fill("#password", USERS[user][1])
        page.click("button[type=submit]")
        page.wait_for_selector("body[data-ready=true]")
        yield page
    finally:
        context.close()


def shot(page: Page, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.wait_for_timeout(150)
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


def test_each_role_lands_on_its_own_page(hub: StubbedHub, browser: Browser) -> None:
    for user, landing in LANDINGS.items():
        with logged_in(browser, hub, user) as page:
            assert page.evaluate("location.hash") == "#" + landing, user
            assert page.get_attribute("body", "data-page") == landing
            assert page.get_attribute(f"#nav a[data-page='{landing}']", "aria-current") == "page"
    # A mail's link to a request, followed while logged out, opens that request after login.
    made = hub.stub.file(
        {
            "crime_reference": "CR/1",
            "offence": "Theft",
            "window_start": "2026-01-02T10:00:00Z",
            "window_end": "2026-01-02T10:30:00Z",
            "cameras": [{"site_id": SITE, "camera_id": CAMERA}],
        },
        "pc-one",
        "pc-one",
    )
    context = browser.new_context()
    try:
        page = context.new_page()
        page.set_default_timeout(TIMEOUT_MS)
        page.goto(f"{hub.url}/#request/{made['id']}")
        assert page.url == f"{hub.url}/login#request/{made['id']}"
        page.fill("#username", "pc-one")
        page.fill("#password", USERS["pc-one"][1])
        page.click("button[type=submit]")
        page.wait_for_selector(f"#rs-title:has-text('{made['id']}')")
    finally:
        context.close()
    with logged_in(browser, hub, "engineer") as page:
        menu = page.locator("#nav a").all_text_contents()
        assert menu == ["Site health"], menu  # never footage, requests or custody
        page.goto(hub.url + "/#custody")
        wait_until(lambda: page.evaluate("location.hash") == "#sites", "sent back to #sites")


def test_the_whole_path_through_the_pages(hub: StubbedHub, browser: Browser) -> None:
    acts = Actions()
    start = datetime.now(UTC) - timedelta(minutes=50)
    local = (start.astimezone(LONDON)).strftime("%Y-%m-%dT%H:%M")

    # The officer files a request for two cameras; one no longer holds all of the window.
    with logged_in(browser, hub, "pc-one") as page:
        acts.login("police")
        acts.click(page, "police", "#requests-new")
        page.wait_for_selector("#rq-cameras .camera-card")
        assert page.is_visible("#rq-officer-summary")  # the officer's details are pre-filled
        acts.fill(page, "police", "#rq-form [name=crime_reference]", "CR/012345/26")
        acts.fill(page, "police", "#rq-form [name=offence]", "Assault outside the bank")
        acts.fill(page, "police", "#rq-form [name=window_start]", local)
        # the end is filled in as the start plus 30 min
        acts.click(page, "police", f".camera-card[data-camera='{SITE}/{CAMERA}'] input")
        acts.click(page, "police", ".camera-card[data-camera='site-a/cam-3'] input")
        page.wait_for_selector("#rq-coverage li[data-camera='site-a/cam-3']")
        warning = page.text_content("#rq-coverage") or ""
        assert "cam-3 holds footage from" in warning and "of the window are gone" in warning
        acts.click(page, "police", "#rq-submit")
        page.wait_for_selector("#rs-title:has-text('Request R-')")
        request_id = (page.text_content("#rs-title") or "").removeprefix("Request ")
        assert "awaiting a decision" in (page.text_content("#request-body") or "")
    filed = hub.stub.requests[request_id]
    assert filed["crime_reference"] == "CR/012345/26"
    assert filed["force"] == "Cleveland Police" and filed["collar_number"] == "4521"
    assert filed["window_start"] == start.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:00Z")
    end = start.astimezone(UTC) + timedelta(minutes=30)
    assert filed["window_end"] == end.strftime("%Y-%m-%dT%H:%M:00Z")
    assert [c["camera_id"] for c in filed["cameras"]] == [CAMERA, "cam-3"]

    # The data controller approves it from the page they land on: one click.
    with logged_in(browser, hub, "supervisor") as page:
        acts.login("supervisor")
        card = f"#decisions-list .card[data-request-id='{request_id}']"
        page.wait_for_selector(card)
        acts.click(page, "supervisor", f"{card} button[data-action=approve]")
        page.wait_for_selector(card, state="detached")
    assert hub.stub.requests[request_id]["state"] == "fulfilling"

    # The operator sees each camera's progress, then why one camera could not be served.
    with logged_in(browser, hub, "operator") as page:
        acts.login("operator")
        card = f"#fulfil-list .card[data-request-id='{request_id}']"
        page.wait_for_selector(f"{card} progress")
        hub.stub.finish(request_id, failed="site-a/cam-3")
        page.wait_for_selector(f"{card} .why")
        assert "power cut" in (page.text_content(f"{card} .why") or "")
        acts.click(page, "operator", f"{card} li[data-camera='site-a/cam-3'] [data-action=rerun]")
        page.wait_for_selector(f"{card} li[data-camera='site-a/cam-3'] progress")
    hub.stub.finish(request_id)
    assert hub.stub.requests[request_id]["state"] == "ready"

    # The controller releases it: the requester and the purpose are filled in.
    with logged_in(browser, hub, "supervisor") as page:
        acts.login("supervisor")
        acts.click(
            page,
            "supervisor",
            f"#ready-list tr[data-request-id='{request_id}'] [data-action=release]",
        )
        page.wait_for_selector("#release-dialog[open]")
        assert (
            page.input_value("#release-recipients [data-field=organisation]") == "Cleveland Police"
        )
        acts.click(page, "supervisor", "#release-confirm")
        page.wait_for_selector("#release-dialog:not([open])", state="attached")
    assert hub.stub.requests[request_id]["state"] == "released"

    # The officer follows the mail's link, plays the clip, records the outcome.
    with logged_in(browser, hub, "pc-one") as page:
        acts.login("police")
        page.goto(f"{hub.url}/#request/{request_id}")  # the link in the mail
        page.wait_for_selector(f"#request-body button.play[data-clip-id='{hub.clip.clip_id}']")
        acts.click(page, "police", f"#request-body button.play[data-clip-id='{hub.clip.clip_id}']")
        wait_until(
            lambda: page.evaluate(
                "(() => { const v = document.querySelector('#rs-video');"
                " return v.videoWidth > 0 && v.currentTime > 0.2; })()"
            ),
            "the released clip plays",
        )
        assert hub.clip.sha256 in (page.text_content("#rs-player-facts") or "")
        acts.click(page, "police", "#rs-outcome-form button[type=submit]")  # "further enquiries"
        wait_until(lambda: hub.stub.requests[request_id]["outcome"] is not None, "outcome saved")

    # At expiry the controller deletes the footage from the retention list, with a reason.
    with logged_in(browser, hub, "supervisor") as page:
        acts.login("supervisor")
        due = "#retention-list tr:has(a[href='#request/" + request_id + "'])"
        acts.click(page, "supervisor", f"{due} [data-action=delete]")
        reason = "No further action: 31 days passed"
        acts.fill(page, "supervisor", f"{due} form[data-form=delete] input", reason)
        acts.click(page, "supervisor", f"{due} form[data-form=delete] button")
        wait_until(
            lambda: all(i.get("deleted_at") for i in hub.stub.requests[request_id]["items"]),
            "every item deleted",
        )
        page.click("#nav a[data-page=disclosures]")
        page.wait_for_selector(f"#disclosures-list a[href='#request/{request_id}']")

    # The auditor finds every step in the custody log by the request's id.
    with logged_in(browser, hub, "auditor") as page:
        acts.login("auditor")
        acts.fill(page, "auditor", "#custody-form [name=item]", request_id)
        acts.click(page, "auditor", "#custody-form button[type=submit]")
        page.wait_for_selector("#custody-count:has-text('rows')")
        actions = page.locator("#audit-body tr td:nth-child(4)").all_text_contents()
        for step in ("received", "approved", "released", "outcome", "deleted"):
            assert any(a.startswith(step) for a in actions), (step, actions)
        csv = page.get_attribute("#custody-csv", "href") or ""
        assert csv.startswith("/api/custody.csv?") and request_id in csv

    print("human actions per role:", dict(acts.count), "and logins:", dict(acts.logins))
    assert all(n < 10 for n in acts.count.values()), acts.count


# Every page each role may open, and the one seeded request to show as a status page.
PAGES = {
    "pc-one": ["requests", "new", "request/{released}", "evidence"],
    "supervisor": [
        "decisions",
        "request/{first}",
        "requests",
        "fulfil",
        "disclosures",
        "dashboard",
        "custody",
        "users",
        "sites",
    ],
    "operator": ["fulfil", "new", "request/{going}", "requests", "sites"],
    "engineer": ["sites"],
    "auditor": ["custody", "disclosures", "dashboard"],
}
LABELLED = """(() => Array.from(document.querySelectorAll(
  'main input:not([type=hidden]), main select, main textarea, dialog input'))
  .filter((f) => f.offsetParent !== null)
  .filter((f) => !f.labels.length && !f.getAttribute('aria-label'))
  .map((f) => f.name || f.id || f.outerHTML.slice(0, 60)))()"""


def test_every_page_for_every_role_at_desktop_and_phone_width(
    hub: StubbedHub, browser: Browser
) -> None:
    seed_examples(hub.stub, SITE, (CAMERA, "cam-2", "cam-3"))
    ids = list(hub.stub.requests)
    released = ids[3]
    names = {"released": released, "first": ids[1], "going": ids[2]}
    too_wide: list[tuple[str, str, str, int]] = []
    for user, pages in PAGES.items():
        for width in WIDTHS:
            with logged_in(browser, hub, user, width) as page:
                for target in pages:
                    hash_ = target.format(**names)
                    page.goto(f"{hub.url}/#{hash_}")
                    page.wait_for_selector(f"body[data-page='{hash_.split('/')[0]}']")
                    assert page.evaluate("location.hash") == "#" + hash_, (user, hash_)
                    page.wait_for_timeout(400)  # the page's first fetches
                    if hash_ == "dashboard":
                        page.wait_for_selector("#dash-months canvas")
                    unlabelled = page.evaluate(LABELLED)
                    assert unlabelled == [], (user, hash_, unlabelled)
                    overflow = page.evaluate(
                        "document.scrollingElement.scrollWidth - window.innerWidth"
                    )
                    if overflow > 0:
                        too_wide.append((user, hash_, width, overflow))
                    shot(page, f"{user}-{hash_.split('/')[0]}-{width}")
                if user == "supervisor":
                    page.goto(f"{hub.url}/#decisions")
                    page.click("#decisions-list .card [data-action=part]")
                    shot(page, f"supervisor-approve-part-{width}")
                    page.click("#ready-list [data-action=release]")
                    page.wait_for_selector("#release-dialog[open]")
                    assert page.evaluate(LABELLED) == []
                    shot(page, f"supervisor-release-dialog-{width}")
    assert too_wide == [], too_wide
