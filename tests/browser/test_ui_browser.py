"""The hub's page in a real headless Chromium: log in, request a clip, watch progress, play a clip.

The hub is served by uvicorn on a free loopback port; the clip is a real H.264 MP4 made by ffmpeg,
put into the store and database the way ingest leaves it. "Plays" means the browser decoded
frames (``videoWidth > 0``) and the playhead moved on.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TypeVar

import pytest
import uvicorn
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from playwright.sync_api import Browser, Page, sync_playwright

from cctv_common.wire.job_state import JobState
from devkit.local_broker import free_loopback_port
from devkit.waiting import wait_until
from hub.app import create_app
from hub.domain.records import EvidenceItem
from hub.storage.sqlite import repository as repo
from hub.storage.sqlite.database import HubDatabase
from hub.storage.sqlite.session import SqliteSession
from tests.support.browser import CHROMIUM, CHROMIUM_ARGS
from tests.support.hub_kit import (
    USERS,
    WAIT_SECONDS,
    insert_evidence,
    make_h264_mp4,
    make_settings,
    report_status,
)

pytestmark = pytest.mark.slow

TIMEOUT_MS = int(WAIT_SECONDS * 1000)
T = TypeVar("T")


def off_loop(
    call: Callable[[Callable[[SqliteSession], T]], T], fn: Callable[[SqliteSession], T]
) -> T:
    """Run a blocking database call on a worker thread: Playwright's sync API runs an event
    loop in the test's thread, and the hub's database refuses to block a running loop."""
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(call, fn).result()


def wait_js(page: Page, function: str, what: str) -> None:
    """Poll a JavaScript function until it is true. (``wait_for_function`` would need eval,
    which the page's Content-Security-Policy rightly forbids.)"""
    wait_until(lambda: bool(page.evaluate(function)), what)


@dataclass
class ServedHub:
    url: str
    database: HubDatabase
    clip: EvidenceItem


@pytest.fixture
def served_hub(tmp_path: Path) -> Iterator[ServedHub]:
    key = Ed25519PrivateKey.generate()
    settings = make_settings(tmp_path / "hub", site_key=key)
    database = HubDatabase(settings.db_path)
    app = create_app(settings, database)
    port = free_loopback_port()
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on")
    )
    thread = threading.Thread(target=server.run, name="uvicorn", daemon=True)
    thread.start()
    try:
        wait_until(lambda: server.started, "uvicorn started")
        report_status(database)
        data = make_h264_mp4(tmp_path / "clip.mp4")
        clip = insert_evidence(settings, database, key, data, requested_by="pc-one")
        yield ServedHub(f"http://127.0.0.1:{port}", database, clip)
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


@contextmanager
def logged_in(browser: Browser, hub: ServedHub, user: str) -> Iterator[tuple[Page, list[str]]]:
    """A page logged in as ``user``, and every URL it requested (to prove there is no CDN)."""
    context = browser.new_context()
    page = context.new_page()
    page.set_default_timeout(TIMEOUT_MS)
    requested: list[str] = []
    page.on("request", lambda request: requested.append(request.url))
    try:
        page.goto(hub.url + "/")
        assert page.url == hub.url + "/login"
        page.fill("#username", user)
        page.fill("#password", USERS[user][1])
        page.click("button[type=submit]")
        page.wait_for_selector("body[data-ready=true]")
        yield page, requested
    finally:
        context.close()


def test_a_stored_clip_plays_in_the_page(served_hub: ServedHub, browser: Browser) -> None:
    clip = served_hub.clip
    with logged_in(browser, served_hub, "pc-one") as (page, requested):
        assert page.text_content("#who") == "pc-one · police"
        # Police land on their requests; their own jobs and clips are on #evidence.
        page.goto(served_hub.url + "/#evidence")
        # The job that produced the clip is in the jobs list, stored.
        page.wait_for_selector(f"#jobs-body tr[data-job-id='{clip.job_id}'][data-state=stored]")
        page.click(f"#clips-body button[data-clip-id='{clip.clip_id}']")
        wait_js(
            page,
            "() => { const v = document.querySelector('#player-video');"
            " return v.videoWidth > 0 && v.currentTime > 0.2; }",
            "the video plays",
        )
        size = page.evaluate(
            "() => { const v = document.querySelector('#player-video');"
            " return [v.videoWidth, v.videoHeight]; }"
        )
        assert size == [320, 240]
        first = page.evaluate("document.querySelector('#player-video').currentTime")
        wait_js(
            page,
            f"() => document.querySelector('#player-video').currentTime > {first} + 0.3",
            "the playhead moves on",
        )
        facts = page.text_content("#player-facts") or ""
        assert clip.sha256 in facts
        assert clip.delivered_start.strftime("%Y-%m-%d %H:%M:%S") in facts
        assert all(url.startswith(served_hub.url) for url in requested), requested
    rows = off_loop(
        served_hub.database.read,
        lambda db: list(db.query("SELECT actor, action, subject FROM audit WHERE action = 'view'")),
    )
    assert rows == [{"actor": "pc-one", "action": "view", "subject": f"clip:{clip.clip_id}"}]


def test_an_operator_requests_a_clip_and_watches_its_progress(
    served_hub: ServedHub, browser: Browser
) -> None:
    with logged_in(browser, served_hub, "operator") as (page, requested):
        page.wait_for_selector("#job-camera option[value='cam-1']", state="attached")
        # A request without a reason is refused with the server's own message.
        page.click("#job-submit")
        page.wait_for_selector("#job-error:not([hidden])")
        assert "reason" in (page.text_content("#job-error") or "")
        page.click("button[data-last='60']")
        page.fill("#job-reason", "crime ref 42/9999")
        page.click("#job-submit")
        row = page.wait_for_selector("#jobs-body tr[data-state=dispatched]")
        assert row is not None
        job_id = row.get_attribute("data-job-id")
        assert job_id is not None
        # The agent reports progress; the list follows without a reload.
        now = datetime.now(UTC)
        off_loop(
            served_hub.database.write,
            lambda db: repo.update_job(
                db, job_id, state=JobState.UPLOADING, percent=42, error=None, clip_id=None, now=now
            ),
        )
        page.wait_for_selector(f"#jobs-body tr[data-job-id='{job_id}'][data-state=uploading]")
        assert "42%" in (page.text_content(f"#jobs-body tr[data-job-id='{job_id}']") or "")
        assert all(url.startswith(served_hub.url) for url in requested)
    job = off_loop(served_hub.database.read, lambda db: repo.get_job(db, job_id))
    assert job is not None and job.requested_by == "operator" and job.reason == "crime ref 42/9999"


def test_an_engineer_sees_sites_but_no_footage(served_hub: ServedHub, browser: Browser) -> None:
    with logged_in(browser, served_hub, "engineer") as (page, _):
        page.wait_for_selector("body[data-shown=fleet]")  # the engineer's landing page
        page.goto(f"{served_hub.url}/#sites")
        page.wait_for_selector("#sites-body tr[data-site-id='site-a']")
        assert page.is_hidden("#clips-section")
        assert page.is_hidden("#jobs-section")
        assert page.is_hidden("#request-section")


def test_a_clip_link_opens_that_clip_in_the_player(served_hub: ServedHub, browser: Browser) -> None:
    clip = served_hub.clip
    with logged_in(browser, served_hub, "pc-one") as (page, _):
        page.goto(f"{served_hub.url}/#clip-{clip.clip_id}")
        page.reload()
        page.wait_for_selector("body[data-ready=true]")
        wait_js(
            page,
            "() => { const v = document.querySelector('#player-video');"
            f" return v.dataset.clipId === '{clip.clip_id}' && v.videoWidth > 0; }}",
            "the linked clip plays",
        )
