"""``cctv-demo``, the README's first command, through its real entry point: a test camera, a broker,
the hub and an agent on loopback; a job for the last 20 s is cut, uploaded, verified and stored; a
SIGTERM (or Ctrl-C) stops the demo and everything it started."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow


def _children(pid: int) -> set[int]:
    """Every process below ``pid`` (from /proc), so none is left running after the demo."""
    found: set[int] = set()
    frontier = {pid}
    while frontier:
        parent = frontier.pop()
        try:
            listed = Path(f"/proc/{parent}/task/{parent}/children").read_text().split()
        except OSError:
            continue
        for child in map(int, listed):
            if child not in found:
                found.add(child)
                frontier.add(child)
    return found


def _alive(pid: int) -> bool:
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return False
    return "State:\tZ" not in status


def test_the_demo_stores_a_verified_clip_and_stops_cleanly_on_sigterm(tmp_path: Path) -> None:
    log = tmp_path / "demo.log"
    with log.open("wb") as out:
        demo = subprocess.Popen(
            [sys.executable, "-m", "devkit.demo", "--workdir", str(tmp_path / "demo-data")],
            stdout=out,
            stderr=subprocess.STDOUT,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
        try:
            deadline = time.monotonic() + 240
            while "running; press Ctrl-C to stop" not in log.read_text(errors="replace"):
                assert demo.poll() is None, log.read_text(errors="replace")
                assert time.monotonic() < deadline, log.read_text(errors="replace")
                time.sleep(0.5)
            text = log.read_text(errors="replace")
            assert "job stored 100%" in text and "verified: signature by key" in text, text
            started = _children(demo.pid)
            assert len(started) >= 4, started  # camera, broker, hub, agent (and their children)
            demo.send_signal(signal.SIGTERM)
            assert demo.wait(timeout=60) == 0, log.read_text(errors="replace")
            deadline = time.monotonic() + 30
            while any(_alive(pid) for pid in started) and time.monotonic() < deadline:
                time.sleep(0.5)
            assert not [pid for pid in started if _alive(pid)], log.read_text(errors="replace")
        finally:
            if demo.poll() is None:
                demo.kill()
                demo.wait()
