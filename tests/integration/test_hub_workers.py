"""Two hub workers (real ``cctv-hub run`` processes) on one PostgreSQL, one S3 store (SeaweedFS)
and one real Mosquitto, sharing the ingest by MQTT 5 shared subscriptions. One is killed with
SIGKILL in the middle of an upload; the site carries on with the other, and the clip is stored
once, verified, in the bucket."""

from __future__ import annotations

import hashlib
import secrets
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import psycopg
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from cctv_common.evidence.signing import public_key_pem
from cctv_common.wire.chunk_ranges import from_ranges
from cctv_common.wire.payloads import ClipAck, Job
from cctv_common.wire.topics import ack_topic, chunk_topic, manifest_topic, status_topic
from devkit.configs import BrokerAccount, hub_toml, write_toml
from devkit.local_broker import MosquittoBroker
from devkit.site_stack import ManagedProcess
from tests.support.hub_kit import (
    CAMERA,
    HUB_USER,
    SITE,
    SignedClip,
    auth,
    online_status,
    signed_clip,
    unsealed,
    user_settings,
    video_bytes,
)
from tests.support.mosquitto_fixtures import MqttClientFactory, MqttTestClient, MqttTestError
from tests.support.seaweedfs import PLAIN_BUCKET, SeaweedS3
from tests.support.smtp_server import free_port
from tests.support.storage_engines import PostgresSchema

pytestmark = pytest.mark.slow

CHUNK = 64 * 1024
CHUNKS = 40
WAIT = 60.0
QUIET = 0.5  # no ack for this long: the agent offers again (the hub answers with what it holds)


@dataclass
class Worker:
    name: str
    process: ManagedProcess
    url: str

    def healthy(self) -> bool:
        try:
            health = httpx.get(f"{self.url}/api/health", timeout=2).json()
        except (httpx.HTTPError, ValueError):
            return False
        return bool(health.get("mqtt") == "connected")


def wait_until(condition: object, what: str, seconds: float = WAIT) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if callable(condition) and condition():
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.fixture
def workers(
    tmp_path: Path,
    mosquitto_broker: MosquittoBroker,
    seaweed: SeaweedS3,
    postgres_schema: PostgresSchema,
) -> Iterator[tuple[list[Worker], Ed25519PrivateKey, PostgresSchema, str]]:
    site_key = Ed25519PrivateKey.generate()
    second_user = f"hub-w2-{uuid.uuid4().hex[:6]}"
    mosquitto_broker.add_user(second_user, secrets.token_urlsafe(18), hub=True)
    prefix = f"workers-{uuid.uuid4().hex[:12]}/"
    made: list[Worker] = []
    for worker_id, user in (("w1", HUB_USER), ("w2", second_user)):
        port = free_port()
        data = hub_toml(
            hub_id="regional",
            data_dir=tmp_path / "shared-data",
            sites=[{"site_id": SITE, "name": "Site A", "public_key_pem": public_key_pem(site_key)}],
            users=[user.model_dump(mode="json") for user in user_settings()],
            http_port=port,
            broker=BrokerAccount(
                mosquitto_broker.host, mosquitto_broker.port, user, mosquitto_broker.password(user)
            ),
            database={"url": postgres_schema.url, "pool_size": 4, "lease_seconds": 3},
            evidence_store={
                "backend": "s3",
                "endpoint_url": seaweed.endpoint,
                "bucket": PLAIN_BUCKET,
                "prefix": prefix,
                "credentials_file": str(seaweed.credentials_file),
            },
            ingest={"ack_delay_seconds": 0.05, "min_free_bytes": 0},
            evidence={"scrub": True},  # on one worker at a time: a lease
        )
        data["broker"].update(
            shared_group="hub",
            worker_id=worker_id,
            reconnect_min_seconds=1,
            reconnect_max_seconds=2,
            session_expiry_seconds=60,
        )
        config = write_toml(tmp_path / f"{worker_id}.toml", data)
        process = ManagedProcess(
            worker_id,
            [sys.executable, "-m", "hub.cli", "run", "--config", str(config)],
            tmp_path / f"{worker_id}.log",
        )
        made.append(Worker(worker_id, process, f"http://127.0.0.1:{port}"))
    try:
        for worker in made:  # together: the advisory lock lets one of them migrate the schema
            worker.process.start()
        for worker in made:
            try:
                # Two hub processes importing their libraries on a loaded 2-core box: once
                # over 60 s in a full suite run (PostgreSQL busy with the other test worker).
                wait_until(worker.healthy, f"hub worker {worker.name}", seconds=2 * WAIT)
            except AssertionError as exc:  # say why: the worker's own log
                log_tail = worker.process.log_path.read_text(errors="replace")[-4000:]
                raise AssertionError(f"{exc}; its log ends:\n{log_tail}") from None
        yield made, site_key, postgres_schema, prefix
    finally:
        for worker in made:
            worker.process.stop()


def send_until_stored(
    site: MqttTestClient, clip: SignedClip, *, kill_after: int, kill: object
) -> ClipAck:
    """The agent's side: offer, send what the hub asks for (again after a quiet spell), and
    call ``kill`` once ``kill_after`` chunks are held."""
    site.publish(manifest_topic(SITE, clip.clip_id), clip.offer.to_bytes())
    last_sent: dict[int, float] = {}
    killed = False
    deadline = time.monotonic() + 3 * WAIT
    while time.monotonic() < deadline:
        try:
            message = site.next_message(QUIET)
        except MqttTestError:  # nothing for a while (a message went to the dead worker)
            site.publish(manifest_topic(SITE, clip.clip_id), clip.offer.to_bytes())
            continue
        if message.topic != ack_topic(SITE, clip.clip_id):
            continue
        ack = ClipAck.parse(unsealed(message.payload))
        if ack.state != "receiving":
            return ack
        held = from_ranges(ack.held)
        if not killed and len(held) >= kill_after:
            assert callable(kill)
            kill()
            killed = True
        now = time.monotonic()
        for index in sorted(from_ranges(ack.missing or ())):
            if now - last_sent.get(index, 0.0) > 2.0:
                site.publish(chunk_topic(SITE, clip.clip_id, index), clip.chunks[index])
                last_sent[index] = now
            if not killed and len(last_sent) >= kill_after + 10:
                break  # the rest after the kill
    raise AssertionError("the clip was never stored")


def test_a_worker_killed_mid_upload_loses_nothing(
    workers: tuple[list[Worker], Ed25519PrivateKey, PostgresSchema, str],
    mqtt_client: MqttClientFactory,
    seaweed: SeaweedS3,
) -> None:
    (first, second), site_key, schema, prefix = workers
    site = mqtt_client(SITE)
    site.subscribe(f"cctv/v1/sites/{SITE}/clips/+/ack")
    site.subscribe(f"cctv/v1/sites/{SITE}/jobs/+")
    now = datetime.now(UTC)
    status = online_status([CAMERA], now - timedelta(hours=1), now)
    site.publish(status_topic(SITE), status.to_bytes(), retain=True)
    api = httpx.Client(base_url=second.url, auth=auth("supervisor"), timeout=10)

    def camera_known() -> bool:
        sites = api.get("/api/sites").json()
        return bool(sites and sites[0]["cameras"])

    wait_until(camera_known, "the site's status, taken by one worker")
    response = api.post(
        "/api/jobs",
        json={
            "site_id": SITE,
            "camera_id": CAMERA,
            "start": (now - timedelta(minutes=5)).isoformat(),
            "end": now.isoformat(),
            "reason": "crime ref 42/1234",
        },
    )
    assert response.status_code == 201, response.text
    job_id = response.json()["job_id"]
    message = site.next_message(WAIT)
    assert Job.parse(unsealed(message.payload)).camera_id == CAMERA

    data = video_bytes(CHUNKS * CHUNK - 1234)
    clip = signed_clip(site_key, data, job_id=job_id)
    ack = send_until_stored(site, clip, kill_after=15, kill=first.process.kill)
    assert not first.process.running  # SIGKILLed mid-upload
    assert ack.state == "stored" and ack.evidence_sha256 == clip.sha256

    with psycopg.connect(schema.url) as conn:
        rows = conn.execute(
            "SELECT clip_id, sha256, store_key FROM evidence_items WHERE job_id = %s", [job_id]
        ).fetchall()
        state = conn.execute("SELECT state FROM jobs WHERE id = %s", [job_id]).fetchone()
    assert len(rows) == 1 and rows[0][1] == clip.sha256  # stored once
    assert state == ("stored",)
    objects = seaweed.client().list_objects_v2(Bucket=PLAIN_BUCKET, Prefix=prefix)
    keys = [item["Key"] for item in objects.get("Contents", [])]
    assert len(keys) == 1 and clip.sha256 in keys[0]
    body = seaweed.client().get_object(Bucket=PLAIN_BUCKET, Key=keys[0])["Body"].read()
    assert hashlib.sha256(body).hexdigest() == clip.sha256 and body == data
    # The survivor serves it, re-hashed from the bucket.
    video = api.get(f"/api/clips/{rows[0][0]}/video")
    assert video.status_code == 200 and video.content == data
    # Each background job ran on one worker; w1's leases went to w2 once they expired (all
    # but w1's own presence, which lapses: w1 is no longer running).
    jobs = {"custody-checkpoints", "request-sweep", "retention", "fleet-alerts", "upload-sweep"}
    jobs |= {"scrub", "live-sweep", "derived-sweep", "worker:w1", "worker:w2"}

    def leases() -> dict[str, str]:
        with psycopg.connect(schema.url) as conn:
            return dict(conn.execute("SELECT name, holder FROM leases").fetchall())

    def moved() -> bool:
        return all(h.startswith("w2@") for n, h in leases().items() if n != "worker:w1")

    wait_until(moved, "w2 holds every lease")
    assert set(leases()) == jobs and leases()["worker:w1"].startswith("w1@")
    audit = api.get("/api/audit", auth=auth("auditor")).json()
    assert [row["action"] for row in audit if row["subject"] == f"clip:{rows[0][0]}"].count(
        "stored"
    ) == 1
