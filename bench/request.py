"""Benchmark: a police footage request -> a playable released clip, through the API on loopback.

A real test camera (GStreamer RTSP), a real Mosquitto, the real hub and agent as processes
(``devkit.site_stack``). The hub has an auto-approval rule for the bench force, so the data
controller's work is none. After the agent has recorded the window (5 minutes by default), the
clock starts when the police user files the request and stops when that user has downloaded the
released clip, checked its SHA-256 against the signed manifest and decoded its frames (PyAV).

Prints the time, the time to each step, and the human actions each role took (an API call a
person would make by clicking: filing, releasing, playing). Target (issue 11): under 2 minutes,
and under 10 human actions in all.

    python -m bench.request [--window-seconds 300]
"""

from __future__ import annotations

import argparse
import hashlib
import io
import secrets
import sys
import tempfile
import time
from collections import Counter
from datetime import timedelta
from pathlib import Path
from typing import Any, Final

import av
import httpx

from cctv_common.clock import iso_utc
from cctv_common.evidence.signing import load_public_key
from cctv_common.evidence.verify import verify_signed_manifest
from devkit.local_broker import HUB_USER, MosquittoBroker
from devkit.site_stack import PASSWORD, SiteStack
from devkit.testcam import TestCamera

SITE_ID: Final = "bench-site"
CAMERA_ID: Final = "cam-1"
FORCE: Final = "Bench Police"
RULE: Final = f"""
[[requests.auto_approval]]
name = "bench-routine"
forces = ["{FORCE}"]
max_window_minutes = 120

[requests]
sweep_seconds = 1.0
"""
TIMEOUT: Final = 600.0


def say(message: str) -> None:
    print(f"bench/request: {message}", flush=True)


class Actions:
    """Counts the calls a person makes (not the page's own polling)."""

    def __init__(self, base: str) -> None:
        self.base = base
        self.count: Counter[str] = Counter()
        self.client = httpx.Client(base_url=base, timeout=60)

    def call(self, role: str, user: str, method: str, path: str, **kwargs: Any) -> httpx.Response:
        self.count[role] += 1
        return self.look(user, method, path, **kwargs)

    def look(self, user: str, method: str, path: str, **kwargs: Any) -> httpx.Response:
        response = self.client.request(method, path, auth=(user, PASSWORD), **kwargs)
        if response.status_code >= 400:
            raise SystemExit(f"{method} {path} answered {response.status_code}: {response.text}")
        return response


def add_rule(config: Path) -> None:
    text = config.read_text(encoding="utf-8")
    config.write_text(text + RULE, encoding="utf-8")


def wait_state(actions: Actions, reference: str, wanted: str, deadline: float) -> dict[str, Any]:
    while time.monotonic() < deadline:
        detail: dict[str, Any] = actions.look("police", "GET", f"/api/requests/{reference}").json()
        if detail["state"] == wanted:
            return detail
        time.sleep(0.25)
    raise SystemExit(f"request {reference} did not become {wanted} in time")


def playable(video: bytes) -> int:
    """Decode every frame; the number of frames."""
    with av.open(io.BytesIO(video), mode="r") as container:
        return sum(1 for _ in container.decode(video=0))


def run(window_seconds: int) -> int:
    with tempfile.TemporaryDirectory(prefix="bench-request-") as folder:
        work = Path(folder)
        camera = TestCamera(width=1280, height=720, fps=25, gop_seconds=1.0)
        camera.start()
        broker = MosquittoBroker(
            work / "broker",
            {HUB_USER: secrets.token_urlsafe(18), SITE_ID: secrets.token_urlsafe(18)},
        )
        broker.start()
        stack = SiteStack(work / "site", broker, camera.url, site_id=SITE_ID, hub_id="bench")
        add_rule(stack.hub_config)
        try:
            stack.start()
            say(f"recording {window_seconds} s of footage first (the request is for the past)")
            _, buffer_end = stack.wait_for_footage(window_seconds + 4, timeout=window_seconds + 120)
            return measure(stack, buffer_end - timedelta(seconds=2), window_seconds)
        finally:
            stack.close()
            broker.stop()
            camera.stop()


def measure(stack: SiteStack, end: Any, window_seconds: int) -> int:
    actions = Actions(stack.api.base)
    start = end - timedelta(seconds=window_seconds)
    t0 = time.monotonic()
    deadline = t0 + TIMEOUT
    body = {
        "force": FORCE,
        "officer_name": "Bench Officer",
        "rank": "DC",
        "collar_number": "1001",
        "contact": "bench.officer@police.example",
        "crime_reference": "BENCH/1/26",
        "offence": "Bench: theft from a shop",
        "lawful_basis": "dpa2018-part3-s35",
        "urgency": "routine",
        "window_start": iso_utc(start),
        "window_end": iso_utc(end),
        "cameras": [{"site_id": SITE_ID, "camera_id": CAMERA_ID}],
    }
    filed = actions.call("police", "police", "POST", "/api/requests", json=body).json()
    reference = filed["id"]
    t_filed = time.monotonic()
    rule = (filed["decision"] or {}).get("rule")
    say(f"{reference} filed; state {filed['state']} (rule {rule})")
    ready = wait_state(actions, reference, "ready", deadline)
    t_ready = time.monotonic()
    release = {
        "recipients": [{"name": "DC Bench Officer", "organisation": FORCE}],
        "purpose": "Bench: investigation BENCH/1/26",
    }
    actions.call(
        "supervisor", "supervisor", "POST", f"/api/requests/{reference}/release", json=release
    )
    t_released = time.monotonic()
    clip_id = ready["items"][0]["clip_id"]
    detail = actions.look("police", "GET", f"/api/clips/{clip_id}").json()
    video = actions.call("police", "police", "GET", f"/api/clips/{clip_id}/video").content
    manifest_bytes = actions.look("police", "GET", f"/api/clips/{clip_id}/manifest.json").content
    manifest = verify_signed_manifest(
        manifest_bytes, detail["signature"], load_public_key(stack.public_key_pem)
    )
    if hashlib.sha256(video).hexdigest() != manifest.sha256:
        raise SystemExit("the released clip is not the signed one")
    frames = playable(video)
    total = time.monotonic() - t0
    say(f"window {window_seconds} s on one camera; clip {len(video) / 1e6:.1f} MB, {frames} frames")
    say(
        f"request -> filed {t_filed - t0:.1f} s, -> ready (auto-approved, held, cut, uploaded,"
        f" verified) {t_ready - t0:.1f} s, -> released {t_released - t0:.1f} s,"
        f" -> played by police {total:.1f} s"
    )
    per_role = ", ".join(f"{role} {n}" for role, n in sorted(actions.count.items()))
    say(f"human actions: {sum(actions.count.values())} ({per_role}; operator 0)")
    say(f"TOTAL {total:.1f} s (target < 120 s)")
    return 0 if total < 120 else 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--window-seconds", type=int, default=300)
    args = parser.parse_args(argv)
    return run(args.window_seconds)


if __name__ == "__main__":
    sys.exit(main())
