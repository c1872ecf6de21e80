"""NVR retrieval inside the workflow, through real parts: the devkit test NVR (SOAP search and
ONVIF replay), a real Mosquitto, a GStreamer test camera, and the hub and the agent as processes.

The agent searches the NVR at start and reports each channel's spans in its status; the hub
shows them and lists the camera only the NVR records. A job for a time before the agent's own
buffer is fulfilled from the NVR (verified, stored, its source shown), and a footage request
for the NVR-only camera goes from filing to ready with the clip replayed from the NVR.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any, Final

import httpx
import pytest

from cctv_common.clock import iso_utc
from devkit.local_broker import HUB_USER, MosquittoBroker
from devkit.nvr import TestNvr
from devkit.site_stack import PASSWORD, SiteStack
from devkit.testcam import TestCamera
from tests.support.nvr_fixtures import T0

pytestmark = pytest.mark.slow

SITE_ID: Final = "nvr-site"
WAIT: Final = 120.0


def nvr_section(nvr: TestNvr, password_file: Path) -> str:
    return f"""
[[nvrs]]
id = "nvr-1"
name = "Control room NVR"
host = "{nvr.host}"
port = {nvr.onvif_port}
user = "{nvr.user}"
password_file = "{password_file}"
search_interval_seconds = 2.0

[[nvrs.channels]]
camera = "cam-1"
channel = 1
name = "High St north"

[[nvrs.channels]]
camera = "cam-nvr"
channel = 2
name = "Bus station (NVR only)"
"""


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory, nvr_recordings: Path) -> Iterator[SiteStack]:
    root = tmp_path_factory.mktemp("nvr-workflow")
    users = {name: secrets.token_urlsafe(18) for name in (HUB_USER, SITE_ID)}
    broker = MosquittoBroker(root / "broker", users)
    camera = TestCamera(width=320, height=240, fps=25, gop_seconds=1.0)
    nvr = TestNvr(nvr_recordings)
    broker.start()
    camera.start()
    nvr.start()
    stack = SiteStack(root / "site", broker, camera.url, site_id=SITE_ID)
    password_file = root / "nvr.password"
    password_file.write_text(nvr.password + "\n")
    password_file.chmod(0o600)
    with stack.agent_config.open("a", encoding="utf-8") as config:
        config.write(nvr_section(nvr, password_file))
    with stack.hub_config.open("a", encoding="utf-8") as config:
        config.write("\n[requests]\nsweep_seconds = 1.0\n")
    try:
        stack.start()
        yield stack
    finally:
        stack.close()
        nvr.stop()
        camera.stop()
        broker.stop()


def call(stack: SiteStack, user: str, method: str, path: str, ok: int = 200, **kw: Any) -> Any:
    with httpx.Client(base_url=stack.api.base, timeout=30) as client:
        response = client.request(method, path, auth=(user, PASSWORD), **kw)
    assert response.status_code == ok, (method, path, response.status_code, response.text)
    return response.json()


def wait_for(what: str, check: Any, timeout: float = WAIT) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        found = check()
        if found:
            return found
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.5)


def test_status_spans_reach_the_hub_and_nvr_only_cameras_are_listed(stack: SiteStack) -> None:
    cam1 = wait_for(
        "cam-1's NVR spans", lambda: (stack.api.camera(SITE_ID, "cam-1") or {}).get("nvr")
    )
    [channel] = cam1
    assert (channel["nvr_id"], channel["channel"], channel["method"]) == (
        "nvr-1",
        1,
        "onvif-replay",
    )
    assert channel["spans"][0]["start"].startswith(iso_utc(T0)[:19])
    only = wait_for("cam-nvr", lambda: stack.api.camera(SITE_ID, "cam-nvr"))
    assert only["state"] == "nvr_only" and only["nvr"][0]["channel"] == 2


def test_a_job_before_the_agents_buffer_is_fulfilled_from_the_nvr(stack: SiteStack) -> None:
    wait_for("cam-1's NVR spans", lambda: (stack.api.camera(SITE_ID, "cam-1") or {}).get("nvr"))
    start, end = T0 + timedelta(seconds=2), T0 + timedelta(seconds=6)
    job = stack.api.dispatch(SITE_ID, "cam-1", start, end, "CR/1/26 before the buffer")
    stored = stack.wait_job(job["job_id"])
    source = stored["delivery"]["source"]
    assert source.startswith("NVR nvr-1") and source.endswith("channel 1 (ONVIF replay)")
    [clip] = stack.api.clips_for_job(job["job_id"])
    item = stack.api.stored_clip(clip["clip_id"], stack.public_key_pem)
    assert item.manifest.nvr is not None and item.manifest.nvr.method == "onvif-replay"
    assert item.manifest.nvr.first_frame <= start + timedelta(seconds=1)
    assert item.manifest.requested.start == start and (item.manifest.frames or 0) > 50


def test_a_request_for_a_camera_only_the_nvr_records_is_fulfilled(stack: SiteStack) -> None:
    wait_for("cam-nvr", lambda: (stack.api.camera(SITE_ID, "cam-nvr") or {}).get("nvr"))
    body = {
        "force": "Cleveland Police",
        "officer_name": "Jane Smith",
        "rank": "DC",
        "collar_number": "4521",
        "contact": "jane.smith@cleveland.police.uk",
        "crime_reference": "CR/012346/26",
        "offence": "Theft",
        "lawful_basis": "dpa2018-part3-s35",
        "urgency": "routine",
        "window_start": iso_utc(T0 + timedelta(seconds=1)),
        "window_end": iso_utc(T0 + timedelta(seconds=5)),
        "cameras": [{"site_id": SITE_ID, "camera_id": "cam-nvr"}],
    }
    preview = call(stack, "police", "POST", "/api/requests/preview-coverage", json=body)
    [covered] = preview["cameras"]
    assert covered["warning"] is None and covered["spans"][0]["source"].startswith("NVR")
    reference = call(stack, "police", "POST", "/api/requests", 201, json=body)["id"]
    decision = {"outcome": "approve"}
    call(stack, "supervisor", "POST", f"/api/requests/{reference}/decision", json=decision)

    def ready() -> Any:
        detail = call(stack, "police", "GET", f"/api/requests/{reference}")
        return detail if detail["state"] == "ready" else None

    [item] = wait_for(f"{reference} ready", ready)["items"]
    assert item["delivery"]["source"].startswith("NVR nvr-1")
    assert item["delivery"]["source"].endswith("channel 2 (ONVIF replay)")
