"""Driving the hub's pages as people do, for the browser tests: a logged-in page per user (the
browser in New York time: the pages must show and take UK time regardless), screenshots, and a
count of what each person does.

Two counts, per role:
- *steps*: what a person decides to do (file a request, approve, release, play a clip, record
  the outcome, delete an item); the issue's "human actions" and ``bench/request.py``'s count;
- *interactions*: every click, field typed in and link followed on the way.
Logins are counted apart and left out of both (a browser fills in a saved password).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Final

from playwright.sync_api import Browser, Page

from tests.support.hub_kit import WAIT_SECONDS

TIMEOUT_MS: Final = int(WAIT_SECONDS * 1000)
BROWSER_ZONE: Final = "America/New_York"
WIDTHS: Final = {"desktop": (1366, 900), "phone": (390, 844)}


class Actions:
    """What each role did: steps, interactions, logins."""

    def __init__(self) -> None:
        self.steps: Counter[str] = Counter()
        self.interactions: Counter[str] = Counter()
        self.logins: Counter[str] = Counter()
        self.log: list[tuple[str, str]] = []

    def login(self, who: str) -> None:
        self.logins[who] += 1

    def click(self, page: Page, who: str, selector: str, step: str | None = None) -> None:
        self.interactions[who] += 1
        page.click(selector)
        if step:
            self.step(who, step)

    def fill(self, page: Page, who: str, selector: str, value: str) -> None:
        self.interactions[who] += 1
        page.fill(selector, value)

    def follow(self, page: Page, who: str, url: str) -> None:
        self.interactions[who] += 1
        page.goto(url)

    def step(self, who: str, what: str) -> None:
        self.steps[who] += 1
        self.log.append((who, what))

    def report(self) -> str:
        return (
            f"steps {dict(self.steps)} = {sum(self.steps.values())} "
            f"({', '.join(f'{who}: {what}' for who, what in self.log)}); "
            f"interactions {dict(self.interactions)} = {sum(self.interactions.values())}; "
            f"logins (not counted) {dict(self.logins)}"
        )


@contextmanager
def logged_in(
    browser: Browser, url: str, user: str, password: str, width: str = "desktop"
) -> Iterator[Page]:
    """``user`` logged in through the login page, on their landing page."""
    w, h = WIDTHS[width]
    context = browser.new_context(
        viewport={"width": w, "height": h}, timezone_id=BROWSER_ZONE, locale="en-GB"
    )
    page = context.new_page()
    page.set_default_timeout(TIMEOUT_MS)
    try:
        page.goto(url + "/login")
        page.fill("#username", user)
        page.fill("#password", password)
        page.click("button[type=submit]")
        page.wait_for_selector("body[data-ready=true]")
        yield page
    finally:
        context.close()


def shot(page: Page, folder: Path, name: str) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    page.wait_for_timeout(150)
    page.screenshot(path=str(folder / f"{name}.png"), full_page=True)
