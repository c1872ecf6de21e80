"""Headless Chromium for the browser tests: Debian's binary and the flags every test launches it
with (as COMMON.md prescribes: headless, no sandbox, no GPU, no first run, no background
networking)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Final

from playwright.sync_api import Browser, sync_playwright

CHROMIUM: Final = "/usr/bin/chromium"
CHROMIUM_ARGS: Final = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--autoplay-policy=no-user-gesture-required",
]


def chromium_installed() -> bool:
    return Path(CHROMIUM).exists()


@contextmanager
def launched_chromium() -> Iterator[Browser]:
    """Headless Chromium with the flags above, closed afterwards (a test's ``browser`` fixture)."""
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield launched
        finally:
            launched.close()
