"""The footage request pages in a real headless Chromium on the real hub (its request routes,
services, sweep and SQLite, served by uvicorn in this process): each role lands on its own page,
an officer files a request with a camera picker and live coverage warnings, the data controller
approves, the operator watches progress and re-runs a camera the site could not serve, the
controller releases, the officer plays the released clip and records the outcome, the controller
deletes an item with a reason, and the auditor finds it all in the custody log.

The site agent is stood in for (tests/support/request_pages.py): its status reports and holds,
and clips stored for the request's jobs as ingest stores them. The whole path with a real agent
is tests/browser/test_request_path.py. Screenshots of every page for every role at 1366 and
390 px go to /tmp/shots-i11e/.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from playwright.sync_api import Browser

from cctv_common.clock import iso_utc
from cctv_common.wire.job_state import JobState
from devkit.waiting import wait_until
from hub.storage.sqlite import repository as repo
from tests.support.browser import launched_chromium
from tests.support.hub_kit import CAMERA, SITE
from tests.support.request_pages import (
    OFFICER,
    PASSWORDS,
    LiveHub,
    live_hub,
    off_loop,
    request_body,
)
from tests.support.ui_actions import TIMEOUT_MS, WIDTHS, Actions, logged_in, shot

pytestmark = pytest.mark.slow

LONDON = ZoneInfo("Europe/London")
SHOTS = Path("/tmp/shots-i11e")
SHOTS_PLACE = Path("/tmp/shots-i11f")
LANDINGS = {
    OFFICER: "requests",
    "supervisor": "decisions",
    "operator": "fulfil",
    "engineer": "fleet",
    "auditor": "custody",
}
POWER_CUT = "the camera was offline (power cut) and recorded nothing in the window"


@pytest.fixture
def hub(tmp_path: Path) -> Iterator[LiveHub]:
    with live_hub(tmp_path) as served:
        yield served


@pytest.fixture
def browser() -> Iterator[Browser]:
    with launched_chromium() as launched:
        yield launched


def test_each_role_lands_on_its_own_page(hub: LiveHub, browser: Browser) -> None:
    for user, landing in LANDINGS.items():
        with logged_in(browser, hub.url, user, PASSWORDS[user]) as page:
            assert page.evaluate("location.hash") == "#" + landing, user
            assert page.get_attribute("body", "data-page") == landing
            assert page.get_attribute(f"#nav a[data-page='{landing}']", "aria-current") == "page"
    # A mail's link to a request, followed while logged out, opens that request after login.
    start = datetime.now(UTC) - timedelta(hours=1)
    made = hub.call(OFFICER, "POST", "/api/requests", 201, json=request_body([CAMERA], start))
    context = browser.new_context()
    try:
        page = context.new_page()
        page.set_default_timeout(TIMEOUT_MS)
        page.goto(f"{hub.url}/#request/{made['id']}")
        assert page.url == f"{hub.url}/login#request/{made['id']}"
        page.fill("#username", OFFICER)
        page.fill("#password", PASSWORDS[OFFICER])
        page.click("button[type=submit]")
        page.wait_for_selector(f"#rs-title:has-text('{made['id']}')")
    finally:
        context.close()
    with logged_in(browser, hub.url, "engineer", PASSWORDS["engineer"]) as page:
        menu = page.locator("#nav a").all_text_contents()
        # Never footage, requests or custody.
        assert menu == ["Fleet health", "Site health", "Enrollment"], menu
        page.goto(hub.url + "/#custody")
        wait_until(lambda: page.evaluate("location.hash") == "#fleet", "sent back to #fleet")


def test_the_whole_path_through_the_pages(hub: LiveHub, browser: Browser) -> None:
    acts = Actions()
    start = datetime.now(UTC) - timedelta(minutes=40)
    local = start.astimezone(LONDON).strftime("%Y-%m-%dT%H:%M")

    # The officer files a request for two cameras; one no longer holds all of the window. Their
    # force, name, collar number and e-mail come from their user (the supervisor added them).
    with logged_in(browser, hub.url, OFFICER, PASSWORDS[OFFICER]) as page:
        acts.login("police")
        acts.click(page, "police", "#requests-new")
        page.wait_for_selector("#rq-cameras .camera-card")
        # The hub keeps no rank: the officer types it once; this browser remembers it.
        assert page.is_visible("#rq-officer") and page.is_hidden("#rq-officer-summary")
        assert page.input_value("#rq-form [name=force]") == "Cleveland Police"
        assert page.input_value("#rq-form [name=collar_number]") == "4521"
        assert page.input_value("#rq-form [name=officer_name]") == "Jane Smith"
        assert page.input_value("#rq-form [name=contact]") == "jane.smith@cleveland.police.uk"
        acts.fill(page, "police", "#rq-form [name=rank]", "DC")
        acts.fill(page, "police", "#rq-form [name=crime_reference]", "CR/012345/26")
        acts.fill(page, "police", "#rq-form [name=offence]", "Assault outside the bank")
        acts.fill(page, "police", "#rq-form [name=window_start]", local)
        # the end is filled in as the start plus 30 min
        acts.click(page, "police", f".camera-card[data-camera='{SITE}/{CAMERA}'] input")
        acts.click(page, "police", f".camera-card[data-camera='{SITE}/cam-3'] input")
        page.wait_for_selector(f"#rq-coverage li[data-camera='{SITE}/cam-3']")
        warning = page.text_content("#rq-coverage") or ""
        assert "cam-3 holds footage from" in warning and "of the window are gone" in warning
        acts.click(page, "police", "#rq-submit", step="file the request")
        page.wait_for_selector("#rs-title:has-text('Request R-'), #rq-error:not([hidden])")
        assert page.is_hidden("#rq-error"), page.text_content("#rq-error")
        request_id = (page.text_content("#rs-title") or "").removeprefix("Request ")
        assert "awaiting a decision" in (page.text_content("#request-body") or "")
    filed = hub.request(request_id)
    assert filed["crime_reference"] == "CR/012345/26" and filed["requested_by"] == OFFICER
    assert filed["force"] == "Cleveland Police" and filed["collar_number"] == "4521"
    assert filed["contact"] == "jane.smith@cleveland.police.uk"
    assert filed["window_start"] == start.strftime("%Y-%m-%dT%H:%M:00Z")
    end = start.replace(second=0, microsecond=0) + timedelta(minutes=30)
    assert filed["window_end"] == iso_utc(end)
    assert [c["camera_id"] for c in filed["cameras"]] == [CAMERA, "cam-3"]

    # The data controller approves it from the page they land on: one click.
    with logged_in(browser, hub.url, "supervisor", PASSWORDS["supervisor"]) as page:
        acts.login("supervisor")
        card = f"#decisions-list .card[data-request-id='{request_id}']"
        page.wait_for_selector(card)
        acts.click(page, "supervisor", f"{card} button[data-action=approve]", step="approve")
        page.wait_for_selector(card, state="detached")
    approved = hub.request(request_id)
    assert approved["state"] in ("approved", "fulfilling"), approved["state"]
    assert len(approved["holds"]) == 2 and len(approved["jobs"]) == 2

    # The site pins the held footage; the operator sees each camera's hold and progress, then
    # why one camera could not be served, and re-runs it.
    hub.confirm_holds()
    with logged_in(browser, hub.url, "operator", PASSWORDS["operator"]) as page:
        acts.login("operator")
        card = f"#fulfil-list .card[data-request-id='{request_id}']"
        page.wait_for_selector(f"{card} progress")
        page.wait_for_selector(f"{card} li:has-text('held at the site')")
        hub.fulfil(request_id, failed="cam-3", why=POWER_CUT)
        page.wait_for_selector(f"{card} .why")
        assert "power cut" in (page.text_content(f"{card} .why") or "")
        rerun = f"{card} li[data-camera='{SITE}/cam-3'] [data-action=rerun]"
        acts.click(page, "operator", rerun, step="re-run cam-3")
        page.wait_for_selector(f"{card} li[data-camera='{SITE}/cam-3'] progress")
    hub.fulfil(request_id)
    hub.wait_state(request_id, "ready")

    # The controller releases it: the requester and the purpose are filled in.
    with logged_in(browser, hub.url, "supervisor", PASSWORDS["supervisor"]) as page:
        acts.login("supervisor")
        release = f"#ready-list tr[data-request-id='{request_id}'] [data-action=release]"
        acts.click(page, "supervisor", release)
        page.wait_for_selector("#release-dialog[open]")
        organisation = "#release-recipients [data-field=organisation]"
        assert page.input_value(organisation) == "Cleveland Police"
        acts.click(page, "supervisor", "#release-confirm", step="release")
        page.wait_for_selector("#release-dialog:not([open])", state="attached")
    released = hub.request(request_id)
    assert released["state"] == "released" and released["releases"][0]["disclosure_number"] == 1
    clip = next(i for i in released["items"] if i["camera_id"] == CAMERA)

    # The officer follows the mail's link, plays the clip, records the outcome.
    with logged_in(browser, hub.url, OFFICER, PASSWORDS[OFFICER]) as page:
        acts.login("police")
        acts.follow(page, "police", f"{hub.url}/#request/{request_id}")  # the link in the mail
        play = f"#request-body button.play[data-clip-id='{clip['clip_id']}']"
        page.wait_for_selector(play)
        acts.click(page, "police", play, step="play the clip")
        wait_until(
            lambda: page.evaluate(
                "(() => { const v = document.querySelector('#rs-video');"
                " return v.videoWidth > 0 && v.currentTime > 0.2; })()"
            ),
            "the released clip plays",
        )
        assert clip["sha256"] in (page.text_content("#rs-player-facts") or "")
        acts.click(page, "police", "#rs-outcome-form button[type=submit]", step="outcome")
        wait_until(lambda: hub.request(request_id)["outcome"] is not None, "outcome saved")
    assert all(h["lifted_at"] for h in hub.request(request_id)["holds"])  # the outcome lifts them

    # The controller deletes an item on the request's page, with a reason.
    with logged_in(browser, hub.url, "supervisor", PASSWORDS["supervisor"]) as page:
        acts.login("supervisor")
        page.goto(f"{hub.url}/#request/{request_id}")
        item = f"#request-body .item[data-clip-id='{clip['clip_id']}']"
        acts.click(page, "supervisor", f"{item} [data-action=delete]")
        reason = "No further action: the footage is no longer needed"
        acts.fill(page, "supervisor", f"{item} form[data-form=delete] input", reason)
        acts.click(page, "supervisor", f"{item} form[data-form=delete] button", step="delete")
        wait_until(
            lambda: any(i["deleted_at"] for i in hub.request(request_id)["items"] if i is not None),
            "the item deleted",
        )
        page.click("#nav a[data-page=disclosures]")
        page.wait_for_selector(f"#disclosures-list a[href='#request/{request_id}']")

    # The auditor finds every step in the custody log by the request's id, and the chain holds.
    with logged_in(browser, hub.url, "auditor", PASSWORDS["auditor"]) as page:
        acts.login("auditor")
        acts.fill(page, "auditor", "#custody-form [name=item]", request_id)
        acts.click(page, "auditor", "#custody-form button[type=submit]", step="search")
        page.wait_for_selector("#custody-count:has-text('rows')")
        actions = page.locator("#audit-body tr td:nth-child(4)").all_text_contents()
        for step in ("request_filed", "decide", "hold", "hold_confirmed", "disclose", "outcome"):
            assert step in actions, (step, actions)
        csv = page.get_attribute("#custody-csv", "href") or ""
        assert csv.startswith("/api/custody.csv?") and request_id in csv
        # The deletion is a row on the item itself (its reason names the request).
        acts.fill(page, "auditor", "#custody-form [name=item]", clip["clip_id"])
        acts.click(page, "auditor", "#custody-form button[type=submit]", step="search")
        page.wait_for_selector("#audit-body tr td:nth-child(4):text-is('delete')")
        actions = page.locator("#audit-body tr td:nth-child(4)").all_text_contents()
        for step in ("stored", "hold", "release", "view", "delete"):
            assert step in actions, (step, actions)
        acts.click(page, "auditor", "#audit-verify", step="verify the chain")
        page.wait_for_selector("#audit-result:has-text('The chain is intact')")

    print("actions:", acts.report())
    # The request's path (file, approve, re-run, release, play, outcome, delete) in under 10
    # steps; the auditor's searches are not part of it.
    path = sum(acts.steps[role] for role in ("police", "supervisor", "operator"))
    assert path < 10, acts.report()
    # Filing took 8 interactions (New request, rank once, reference, offence, start, two
    # cameras, File); the rest of the police's: the mail's link, Play, Save outcome.
    assert acts.interactions["police"] <= 11, acts.report()


# Every page each role may open, and which seeded request to show as a status page.
PAGES = {
    OFFICER: ["requests", "new", "request/{released}", "evidence"],
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


def seed_examples(hub: LiveHub) -> dict[str, str]:
    """Requests in every state a page shows, through the hub's API (and the stand-in agent)."""
    now = datetime.now(UTC)

    def file(user: str, hours_ago: float, cameras: list[str], **changes: Any) -> str:
        body = request_body(
            cameras,
            now - timedelta(hours=hours_ago),
            crime_reference=f"CR/0{int(hours_ago * 1000):05d}/26",
            notes="Male in a red jacket, outside the bank.",
            **changes,
        )
        if user == "operator":
            body["on_behalf_of"] = OFFICER
        made = hub.call(user, "POST", "/api/requests", 201, json=body)
        reference: str = made["id"]
        return reference

    def approve(reference: str) -> None:
        hub.call(
            "supervisor", "POST", f"/api/requests/{reference}/decision", json={"outcome": "approve"}
        )

    def release(reference: str) -> None:
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

    declined = file(OFFICER, 50, ["cam-2"], offence="Parking dispute")
    hub.call(
        "supervisor",
        "POST",
        f"/api/requests/{declined}/decision",
        json={"outcome": "decline", "reason": "A civil matter: no lawful basis for disclosure"},
    )
    closed = file(OFFICER, 44, [CAMERA], offence="Robbery", urgency="priority", ripa=True)
    approve(closed)
    hub.fulfil(closed)
    release(closed)
    hub.call(OFFICER, "POST", f"/api/requests/{closed}/outcome", json={"outcome": "charge"})
    case_closed = iso_utc(now - timedelta(days=3))
    hub.call(
        "supervisor",
        "POST",
        f"/api/requests/{closed}/retention",
        json={"category": "charged", "case_closed_at": case_closed},
    )
    due = hub.call("supervisor", "GET", "/api/retention/due")["due_for_deletion"]
    assert {(d["kind"], d["request_id"]) for d in due} == {
        ("request", closed),
        ("evidence item", closed),
    }, due
    assert [d["clip_id"] for d in due if d["kind"] == "evidence item"] == [
        hub.request(closed)["items"][0]["clip_id"]
    ]
    released = file(OFFICER, 40, [CAMERA], offence="Assault occasioning ABH")
    approve(released)
    hub.fulfil(released)
    release(released)
    ready = file(OFFICER, 36, ["cam-2"], offence="Theft of a bicycle", colleagues=["pc-two"])
    approve(ready)
    hub.fulfil(ready)
    going = file("operator", 20, [CAMERA, "cam-2"], offence="Criminal damage to a bus shelter")
    approve(going)
    first_job, second_job = hub.open_jobs(going)
    hub.fail_job(second_job, "the site no longer holds this window: overwritten at 04:10")
    moment = datetime.now(UTC)
    off_loop(
        lambda: hub.database.write(
            lambda d: repo.update_job(
                d,
                first_job.id,
                state=JobState.UPLOADING,
                percent=64,
                error=None,
                clip_id=None,
                now=moment,
            )
        )
    )
    file(OFFICER, 30, ["cam-2"], offence="Theft from a shop")
    first = file(
        OFFICER,
        3,
        [CAMERA, "cam-3"],
        offence="Missing person, last seen at the bus station",
        urgency="threat_to_life",
    )
    hub.confirm_holds()
    former = {"username": "old-op", "role": "operator", "display_name": "Former operator"}
    hub.call("supervisor", "POST", "/api/users", 201, json=former | {"password": "x" * 16})
    hub.call("supervisor", "POST", "/api/users/old-op/disable")
    return {"released": released, "first": first, "going": going}


def test_every_page_for_every_role_at_desktop_and_phone_width(
    hub: LiveHub, browser: Browser
) -> None:
    names = seed_examples(hub)
    too_wide: list[tuple[str, str, str, int]] = []
    for user, pages in PAGES.items():
        for width in WIDTHS:
            with logged_in(browser, hub.url, user, PASSWORDS[user], width) as page:
                for target in pages:
                    hash_ = target.format(**names)
                    page.goto(f"{hub.url}/#{hash_}")
                    page.wait_for_selector(f"body[data-page='{hash_.split('/')[0]}']")
                    assert page.evaluate("location.hash") == "#" + hash_, (user, hash_)
                    # the page's first fetches are done
                    page.wait_for_selector(f"body[data-shown='{hash_.split('/')[0]}']")
                    if hash_ == "dashboard":
                        page.wait_for_selector("#dash-months canvas")
                    unlabelled = page.evaluate(LABELLED)
                    assert unlabelled == [], (user, hash_, unlabelled)
                    overflow = page.evaluate(
                        "document.scrollingElement.scrollWidth - window.innerWidth"
                    )
                    if overflow > 0:
                        too_wide.append((user, hash_, width, overflow))
                    shot(page, SHOTS, f"{user}-{hash_.split('/')[0]}-{width}")
                if user == "supervisor":
                    page.goto(f"{hub.url}/#decisions")
                    page.wait_for_selector("#retention-list a")
                    page.click("#decisions-list .card [data-action=part]")
                    shot(page, SHOTS, f"supervisor-approve-part-{width}")
                    page.click("#ready-list [data-action=release]")
                    page.wait_for_selector("#release-dialog[open]")
                    assert page.evaluate(LABELLED) == []
                    shot(page, SHOTS, f"supervisor-release-dialog-{width}")
    assert too_wide == [], too_wide


def test_role_boundaries_in_the_pages(hub: LiveHub, browser: Browser) -> None:
    """The engineer never sees footage or requests; police never see others' requests."""
    start = datetime.now(UTC) - timedelta(hours=2)
    mine = hub.call(OFFICER, "POST", "/api/requests", 201, json=request_body([CAMERA], start))
    theirs = hub.call(
        "pc-two",
        "POST",
        "/api/requests",
        201,
        json=request_body(["cam-2"], start, crime_reference="CR/999999/26", colleagues=[]),
    )
    named = hub.call(
        "pc-two",
        "POST",
        "/api/requests",
        201,
        json=request_body(["cam-2"], start, crime_reference="CR/888888/26", colleagues=[OFFICER]),
    )
    for reference in (mine["id"], theirs["id"], named["id"]):
        hub.call(
            "supervisor", "POST", f"/api/requests/{reference}/decision", json={"outcome": "approve"}
        )
        hub.fulfil(reference)
    hub.wait_state(theirs["id"], "ready")
    hub.call(
        "supervisor",
        "POST",
        f"/api/requests/{theirs['id']}/release",
        json={
            "recipients": [{"name": "PC Two", "organisation": "Cleveland Police"}],
            "purpose": "Investigation",
        },
    )
    their_clip = hub.request(theirs["id"])["items"][0]["clip_id"]

    # Police: their own request and the one naming them; not another officer's, by any road.
    with logged_in(browser, hub.url, OFFICER, PASSWORDS[OFFICER]) as page:
        page.select_option("#requests-filter", "all")
        page.wait_for_selector(f"#requests-list tr[data-request-id='{named['id']}']")
        listed = page.locator("#requests-list tr[data-request-id]").evaluate_all(
            "(rows) => rows.map((r) => r.dataset.requestId)"
        )
        assert sorted(listed) == sorted([mine["id"], named["id"]]), listed
        page.goto(f"{hub.url}/#request/{theirs['id']}")
        page.wait_for_selector(f"#notice:has-text('no request {theirs['id']}')")
        assert theirs["id"] not in (page.text_content("#rs-title") or "")
        assert "CR/999999/26" not in (page.text_content("main") or "")
        page.goto(f"{hub.url}/#clip-{their_clip}")
        page.wait_for_timeout(500)
        assert page.evaluate("document.querySelector('#player-video').currentSrc") == ""
        assert their_clip not in (page.text_content("#clips-section") or "")
        for other in ("decisions", "fulfil", "custody", "users", "dashboard", "disclosures"):
            page.goto(f"{hub.url}/#{other}")
            wait_until(lambda: page.evaluate("location.hash") == "#requests", f"not #{other}")

    # Engineer: site health only; every other page sends them back, and no footage, snapshot,
    # request or custody row is even fetched.
    with logged_in(browser, hub.url, "engineer", PASSWORDS["engineer"]) as page:
        fetched: list[str] = []
        page.on("request", lambda r: fetched.append(r.url))
        targets = [
            "requests",
            f"request/{mine['id']}",
            "new",
            "fulfil",
            "evidence",
            f"clip-{their_clip}",
            "decisions",
            "custody",
            "disclosures",
            "dashboard",
        ]
        for target in targets:
            page.goto(f"{hub.url}/#{target}")
            wait_until(lambda: page.evaluate("location.hash") == "#fleet", f"not #{target}")
        page.wait_for_timeout(500)
        menu = page.locator("#nav a").all_text_contents()
        assert menu == ["Fleet health", "Site health", "Enrollment"]
        assert page.locator("video[src], img[src*='snapshot']").count() == 0
        refused = ("/api/clips", "/api/requests", "/snapshot", "/api/custody", "/video")
        assert not [url for url in fetched if any(part in url for part in refused)], fetched


def test_a_place_ticks_every_camera_of_its_site_with_their_warnings(
    hub: LiveHub, browser: Browser
) -> None:
    """The request form's "place" choice ticks every camera of the site in one action; their
    coverage is checked as for one camera (cam-3 holds only the last 20 minutes)."""
    start = datetime.now(UTC) - timedelta(minutes=40)
    local = start.astimezone(LONDON).strftime("%Y-%m-%dT%H:%M")
    for width in WIDTHS:
        with logged_in(browser, hub.url, OFFICER, PASSWORDS[OFFICER], width) as page:
            page.goto(f"{hub.url}/#new")
            page.wait_for_selector("#rq-cameras .camera-card")
            page.fill("#rq-form [name=window_start]", local)
            page.dispatch_event("#rq-form [name=window_start]", "change")
            options = page.eval_on_selector_all("#rq-place option", "os => os.map(o => o.value)")
            assert options == ["", SITE]
            page.select_option("#rq-place", SITE)
            page.wait_for_selector(f"#rq-coverage li[data-camera='{SITE}/cam-3']")
            ticked = page.eval_on_selector_all(
                "#rq-cameras input[name=camera]:checked", "bs => bs.map(b => b.value)"
            )
            assert sorted(ticked) == sorted(f"{SITE}/{c}" for c in (CAMERA, "cam-2", "cam-3"))
            picked = page.text_content("#rq-picked") or ""
            assert "3 cameras chosen" in picked and "Every camera of" in picked
            assert page.is_visible(f".camera-card[data-camera='{SITE}/cam-3'] .warn")
            assert "of the window are gone" in (page.text_content("#rq-coverage") or "")
            assert page.input_value("#rq-place") == ""  # ready to pick another place
            overflow = page.evaluate("document.scrollingElement.scrollWidth - window.innerWidth")
            assert overflow <= 0, (width, overflow)
            shot(page, SHOTS_PLACE, f"request-form-place-{width}")
