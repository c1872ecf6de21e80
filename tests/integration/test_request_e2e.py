"""A footage request through real parts: a GStreamer test camera, Mosquitto, the hub and the agent
as processes (``devkit.site_stack``) and an aiosmtpd relay (STARTTLS + AUTH).

Police file a request -> the supervisor approves -> the hold is on the broker, retained and
signed by the hub -> the agent cuts and uploads the clip -> the request is ready -> release
(disclosure log row) -> the police user downloads the clip, which is the signed one -> the relay
received the requester's mail at each step -> the requester records the outcome (holds lifted)
-> the supervisor deletes the item with a reason -> the custody chain verifies.
"""

from __future__ import annotations

import hashlib
import subprocess
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any, Final

import httpx
import pytest

from cctv_common.clock import iso_utc
from cctv_common.evidence.signing import load_public_key
from cctv_common.evidence.verify import verify_signed_manifest
from cctv_common.wire.hub_signing import HubVerifier
from cctv_common.wire.payloads import HoldOrder
from cctv_common.wire.topics import hold_topic
from devkit.local_broker import HUB_USER, MosquittoBroker
from devkit.site_stack import PASSWORD, SiteStack
from devkit.testcam import TestCamera
from tests.support.site_rig import running_camera, site_broker
from tests.support.smtp_server import (  # noqa: F401 (fixtures)
    SMTP_USER,
    TestSmtpServer,
    smtp_password_file,
    smtp_server,
)

pytestmark = pytest.mark.slow

SITE_ID: Final = "req-site"
WINDOW_SECONDS: Final = 8
WAIT: Final = 120.0


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[MosquittoBroker]:
    with site_broker(MosquittoBroker, tmp_path / "broker", SITE_ID) as broker:
        yield broker


@pytest.fixture
def camera() -> Iterator[TestCamera]:
    with running_camera(width=640, height=360, fps=25, gop_seconds=1.0) as camera:
        yield camera


class Api:
    def __init__(self, base: str) -> None:
        self.client = httpx.Client(base_url=base, timeout=30)

    def call(self, user: str, method: str, path: str, ok: int = 200, **kw: Any) -> Any:
        response = self.client.request(method, path, auth=(user, PASSWORD), **kw)
        assert response.status_code == ok, (method, path, response.status_code, response.text)
        return response


def wait_state(api: Api, reference: str, state: str) -> dict[str, Any]:
    deadline = time.monotonic() + WAIT
    while time.monotonic() < deadline:
        detail: dict[str, Any] = api.call("police", "GET", f"/api/requests/{reference}").json()
        if detail["state"] == state:
            return detail
        time.sleep(0.5)
    raise AssertionError(f"{reference} did not become {state}: {detail}")


def retained_hold(broker: MosquittoBroker, site: str, hold_id: str) -> bytes:
    out = subprocess.run(
        [
            "mosquitto_sub",
            "-h",
            broker.host,
            "-p",
            str(broker.port),
            "-u",
            HUB_USER,
            "-P",
            broker.password(HUB_USER),
            "-t",
            hold_topic(site, hold_id),
            "-C",
            "1",
            "-W",
            "10",
            "--retained-only",
        ],
        capture_output=True,
        check=True,
        timeout=30,
    )
    return out.stdout.rstrip(b"\n")


def test_a_request_from_police_to_deletion_through_real_parts(
    tmp_path: Path,
    broker: MosquittoBroker,
    camera: TestCamera,
    smtp_server: TestSmtpServer,  # noqa: F811
    smtp_password_file: Path,  # noqa: F811
) -> None:
    stack = SiteStack(tmp_path / "site", broker, camera.url, site_id=SITE_ID)
    with stack.hub_config.open("a", encoding="utf-8") as config:
        config.write(
            "\n[requests]\nsweep_seconds = 1.0\n"
            f'\n[smtp]\nhost = "127.0.0.1"\nport = {smtp_server.port}\n'
            f'from_address = "cctv-hub@council.example.gov.uk"\nusername = "{SMTP_USER}"\n'
            f'password_file = "{smtp_password_file}"\nca_file = "{smtp_server.ca_file}"\n'
        )
    api = Api(stack.api.base)
    try:
        stack.start()
        _, end = stack.wait_for_footage(WINDOW_SECONDS + 3)
        end -= timedelta(seconds=1)
        body = {
            "force": "Cleveland Police",
            "officer_name": "Jane Smith",
            "rank": "DC",
            "collar_number": "4521",
            "contact": "jane.smith@cleveland.police.uk",
            "crime_reference": "CR/012345/26",
            "offence": "Assault",
            "lawful_basis": "dpa2018-part3-s35",
            "urgency": "threat_to_life",
            "window_start": iso_utc(end - timedelta(seconds=WINDOW_SECONDS)),
            "window_end": iso_utc(end),
            "cameras": [{"site_id": SITE_ID, "camera_id": "cam-1"}],
        }
        reference = api.call("police", "POST", "/api/requests", 201, json=body).json()["id"]
        approved = api.call(
            "supervisor", "POST", f"/api/requests/{reference}/decision", json={"outcome": "approve"}
        ).json()
        assert approved["jobs"][0]["priority"] == 9  # threat to life goes first at the agent
        [hold] = approved["holds"]
        # The hold is on the broker, retained, and signed by the hub's key for its topic.
        sealed = retained_hold(broker, SITE_ID, hold["id"])
        hub_public = api.call("auditor", "GET", "/api/audit/checkpoint", ok=200).json()
        verifier = HubVerifier(load_public_key(hub_public["public_key_pem"]))
        order = verifier.open(hold_topic(SITE_ID, hold["id"]), sealed, HoldOrder)
        assert order.reason_ref == reference and order.camera_id == "cam-1" and not order.lifted
        # The agent cuts and uploads; the hub verifies and the request becomes ready.
        ready = wait_state(api, reference, "ready")
        [item] = ready["items"]
        assert item["legal_hold"] is True
        api.call("police", "GET", f"/api/clips/{item['clip_id']}/video", ok=404)
        api.call(
            "supervisor",
            "POST",
            f"/api/requests/{reference}/release",
            json={
                "recipients": [{"name": "DC Jane Smith", "organisation": "Cleveland Police"}],
                "purpose": "Investigation of assault CR/012345/26",
            },
        )
        log = api.call("auditor", "GET", "/api/disclosures").json()["entries"]
        assert log[0]["request_id"] == reference and log[0]["items"][0]["sha256"] == item["sha256"]
        # The requester plays the released clip: the bytes are the signed ones.
        detail = api.call("police", "GET", f"/api/clips/{item['clip_id']}").json()
        video = api.call("police", "GET", f"/api/clips/{item['clip_id']}/video").content
        manifest = api.call("police", "GET", f"/api/clips/{item['clip_id']}/manifest.json").content
        signed = verify_signed_manifest(
            manifest, detail["signature"], load_public_key(stack.public_key_pem)
        )
        assert hashlib.sha256(video).hexdigest() == signed.sha256 == item["sha256"]
        # The relay received the requester's mail: received, approved, ready, released.
        mails = smtp_server.wait_for(4, timeout=60)
        subjects = [mail.message["Subject"] for mail in mails]
        for step in ("received", "approved", "ready", "released"):
            assert any(f"{reference} {step}" in subject for subject in subjects), subjects
        assert all("jane.smith@cleveland.police.uk" in mail.message["To"] for mail in mails)
        # Outcome closes the request and lifts the hold; then the item may be deleted.
        api.call("police", "POST", f"/api/requests/{reference}/outcome", json={"outcome": "nfa"})
        deadline = time.monotonic() + 20
        while True:  # the lifted order replaces the retained one once the hub has published it
            sealed = retained_hold(broker, SITE_ID, hold["id"])
            if verifier.open(hold_topic(SITE_ID, hold["id"]), sealed, HoldOrder).lifted:
                break
            assert time.monotonic() < deadline, "the lifted hold never reached the broker"
            time.sleep(0.5)
        api.call(
            "supervisor",
            "DELETE",
            f"/api/requests/{reference}/items/{item['clip_id']}",
            json={"reason": "no further action; retention period over"},
        )
        assert api.call("auditor", "GET", "/api/audit/verify").json()["ok"] is True
    finally:
        api.client.close()
        stack.close()
