"""End to end, issue 9: what the independent probe did to the running system, done again.

The hub and the agent run as real processes (``devkit.site_stack``) with a real camera,
on a Mosquitto started from the PRODUCTION files in ``deploy/mosquitto`` (TLS; only ports, paths
and certificates moved). Forgeries come from the site's own broker password and from the hub's
(stolen) broker password without the hub's signing key; other logins ask for the hub's and the
agent's client ids. The upload is paused (hub stopped) while the forgeries arrive, so the agent
holds an unsent clip when it is told "stored" and "rejected".
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Final

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from cctv_common.clock import parse_iso
from cctv_common.wire.hub_signing import HubSigner
from cctv_common.wire.payloads import ClipAck, Job
from cctv_common.wire.topics import ack_topic, job_topic
from devkit.deploy_broker import DeployConfigBroker
from devkit.local_broker import HUB_USER
from devkit.site_stack import SiteStack, StackError
from devkit.testcam import TestCamera
from devkit.waiting import WaitTimedOut, wait_until
from tests.support.mosquitto_fixtures import tls_client
from tests.support.site_rig import running_camera, running_stack, site_broker

pytestmark = pytest.mark.slow

SITE_ID: Final = "trust-site"
OTHER_SITE: Final = "other-site"
HUB_ID: Final = "e2e"
WINDOW_SECONDS: Final = 8
WAIT_SECONDS: Final = 60.0
NOT_AUTHORIZED: Final = 135


@pytest.fixture(scope="module")
def broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DeployConfigBroker]:
    folder = tmp_path_factory.mktemp("trust-broker")
    with site_broker(DeployConfigBroker, folder, SITE_ID, OTHER_SITE) as broker:
        yield broker


@pytest.fixture(scope="module")
def camera() -> Iterator[TestCamera]:
    with running_camera(
        width=640, height=360, fps=25, gop_seconds=1.0, bitrate_kbps=4000
    ) as camera:
        yield camera


@pytest.fixture(scope="module")
def stack(
    tmp_path_factory: pytest.TempPathFactory, broker: DeployConfigBroker, camera: TestCamera
) -> Iterator[SiteStack]:
    stack = SiteStack(
        tmp_path_factory.mktemp("trust-site"),
        broker,
        camera.url,
        site_id=SITE_ID,
        hub_id=HUB_ID,
        chunk_bytes=64 * 1024,
        ca_file=broker.certs / "ca.crt",
    )
    with running_stack(stack):
        stack.wait_for_footage(WINDOW_SECONDS + 2)
        yield stack


def wait_for(predicate: Callable[[], bool], what: str, stack: SiteStack) -> None:
    try:
        wait_until(predicate, what, WAIT_SECONDS, poll=0.1, check=stack.agent.check_alive)
    except WaitTimedOut as exc:
        raise StackError(f"{exc}; see {stack.agent.log_path}") from exc


def agent_log(stack: SiteStack, since: int = 0) -> str:
    return stack.agent.log_path.read_text(encoding="utf-8", errors="replace")[since:]


def test_forged_acks_and_jobs_neither_delete_fail_nor_cut(
    stack: SiteStack, broker: DeployConfigBroker
) -> None:
    stack.ensure_running()
    # The job waits (retained) while the agent is away; the hub goes away before the agent comes
    # back, so the agent cuts the clip and holds the only copy, with nobody to take it.
    stack.agent.stop()
    job = stack.dispatch_last(WINDOW_SECONDS, "E2E: forgeries while the hub is away")
    job_id = job["job_id"]
    stack.hub.stop()
    stack.start_agent()
    row = stack.wait_outbox_clip(job_id)
    clip_id, sha = row["clip_id"], row["sha256"]  # what an attacker reads off the manifest
    clip_file = Path(row["directory"]) / "clip.mp4"
    since = len(agent_log(stack))
    stored = ClipAck.model_validate(
        {
            "clip_id": clip_id,
            "offer_sha256": "0" * 64,
            "state": "stored",
            "held": [[0, 0]],
            "evidence_sha256": sha,
        }
    )
    rejected = ClipAck(clip_id=clip_id, offer_sha256="0" * 64, state="rejected", reason="forged")
    window = parse_iso(job["end"])
    forged_job = Job(
        job_id="job-forged",
        camera_id=stack.camera_id,
        start=window - timedelta(seconds=4),
        end=window,
        reason="forged",
    )
    ack = ack_topic(SITE_ID, clip_id)
    forged_topic = job_topic(SITE_ID, forged_job.job_id)
    forger = HubSigner(Ed25519PrivateKey.generate())

    # 1. The site's own broker password: the broker refuses every one of them. (The login itself
    # replaces the agent's connection, since the client id is the username: the holder of a
    # site's password can always disconnect that site, but no longer speak for the hub.)
    connects = agent_log(stack).count("uplink connected")
    site = tls_client(broker, SITE_ID)
    assert not site.connect().is_failure
    try:
        for payload in (stored.to_bytes(), rejected.to_bytes(), forger.seal(ack, stored)):
            assert site.publish(ack, payload).value == NOT_AUTHORIZED
        assert site.publish(forged_topic, forged_job.to_bytes(), retain=True).value == (
            NOT_AUTHORIZED
        )
    finally:
        site.disconnect()
    wait_for(lambda: agent_log(stack).count("uplink connected") > connects, "the agent back", stack)

    # 2. The hub's broker password, without the hub's key: delivered, and refused by the agent.
    intruder = tls_client(broker, HUB_USER)
    assert not intruder.connect().is_failure
    try:
        for payload in (
            stored.to_bytes(),
            forger.seal(ack, stored),
            rejected.to_bytes(),
            forger.seal(ack, rejected),
        ):
            assert not intruder.publish(ack, payload).is_failure
        for payload in (forged_job.to_bytes(), forger.seal(forged_topic, forged_job)):
            assert not intruder.publish(forged_topic, payload, retain=True).is_failure
    finally:
        intruder.disconnect()

    wait_for(lambda: "ack refused" in agent_log(stack, since), "the agent to refuse acks", stack)
    wait_for(lambda: "job refused" in agent_log(stack, since), "the agent to refuse jobs", stack)
    # Nothing deleted, nothing failed, nothing recorded for the forged job.
    now = stack.outbox_clip(job_id)
    assert now is not None and now["state"] not in ("stored", "rejected")
    assert hashlib.sha256(clip_file.read_bytes()).hexdigest() == sha
    assert stack.outbox_clip("job-forged") is None
    assert "job-forged: received" not in agent_log(stack, since)

    # The hub comes back: the job never failed, and the clip is stored once, identical, and only
    # then deleted by the agent.
    stack.start_hub()
    assert stack.api.job(job_id)["state"] != "failed"
    done = stack.wait_job(job_id)
    [item] = stack.api.clips_for_job(job_id)
    assert item["sha256"] == sha and done["clip_id"] == clip_id
    assert stack.api.stored_clip(clip_id, stack.public_key_pem).sha256 == sha
    wait_for(lambda: not clip_file.exists(), "the agent to delete its copy", stack)
    assert "Traceback" not in agent_log(stack, since)


def test_other_logins_cannot_knock_the_hub_or_the_agent_off(
    stack: SiteStack, broker: DeployConfigBroker
) -> None:
    stack.ensure_running()
    wait_for(lambda: stack.api.site_state(SITE_ID) == "online", "the site online", stack)
    agent_since = len(agent_log(stack))
    hub_since = len(stack.hub.log_tail(10**9))
    broker_since = len(broker.log_text())
    for _ in range(10):
        for client_id in (f"hub-{HUB_ID}", HUB_USER, f"agent-{SITE_ID}", SITE_ID):
            other = tls_client(broker, OTHER_SITE, client_id=client_id)
            assert not other.connect().is_failure
            other.disconnect()
    broker_log = broker.log_text()[broker_since:]
    assert f"Client {HUB_USER} already connected" not in broker_log
    assert f"Client {SITE_ID} already connected" not in broker_log
    assert "uplink disconnected" not in agent_log(stack, agent_since)
    assert "MQTT disconnected" not in stack.hub.log_tail(10**9)[hub_since:]
    assert stack.api.site_state(SITE_ID) == "online"
    # And the site still works end to end.
    job = stack.dispatch_last(4, "E2E: after the takeover attempts")
    assert stack.wait_job(job["job_id"])["state"] == "stored"
