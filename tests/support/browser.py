"""Headless Chromium for the browser tests: Debian's binary and the flags every test launches it
with (as COMMON.md prescribes: headless, no sandbox, no GPU, no first run, no background
networking)."""

from __future__ import annotations

from pathlib import Path
from typing import Final

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
