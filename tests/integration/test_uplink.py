"""The agent's uplink and job runner through a real Mosquitto, with the agent in its own process.

A small hub stand-in, written with paho, follows docs/upload-protocol.md: it answers an offer
with what it holds and wants, checks every chunk's SHA-256, acks every 16 chunks and 0.5 s after
the last one, and acks ``stored`` once the whole clip's SHA-256 matches. It can drop chosen chunks
the first time they arrive (to force resends) and can stop taking chunks half-way (so the agent
can be killed mid-upload). The agent runs as ``python -m edge_agent.cli run`` so that SIGKILL is a
real crash and a restart is a new process on the same data_dir. The stand-in
(``tests/support/hub_stand_in.py``) signs its jobs and acks with ``HUB_KEY``, whose public half
every agent config here trusts.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from cctv_common import __version__
from cctv_common.evidence.manifest import CameraIdentity, Manifest, Software, Window
from cctv_common.evidence.signing import (
    key_id,
    load_or_create_private_key,
    sign,
)
from cctv_common.wire.hub_signing import HubSigner, HubVerifier
from cctv_common.wire.job_state import JobState
from cctv_common.wire.payloads import (
    ClipAck,
    Job,
    JobProgress,
    SiteStatus,
)
from cctv_common.wire.topics import (
    ack_topic,
    job_topic,
    manifest_topic,
    parse_topic,
    status_topic,
)
from devkit.local_broker import MosquittoBroker
from devkit.testcam import TestCamera
from devkit.waiting import until, wait_until
from edge_agent.config import AgentConfig
from edge_agent.jobs.runner import JobRunner
from edge_agent.recording.segments import Pin
from edge_agent.store.outbox import NewClip, Outbox
from edge_agent.store.segment_index import SegmentIndex
from edge_agent.uplink.upload import chunk_hashes
from tests.support.agent_process import CHUNK, HUB_KEY, WAIT, AgentProcess, write_config
from tests.support.clip_window import check_clip_window
from tests.support.hub_stand_in import HUB, HubStandIn, sealed
from tests.support.mosquitto_fixtures import OBSERVER, SITE_A, MqttClientFactory, MqttTestClient
from tests.support.recording_site import recording_site

START = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)


# A clip placed in the outbox, as the cutter would leave it.


@dataclass(frozen=True)
class SeededClip:
    clip_id: str
    job_id: str
    directory: Path
    data: bytes
    public_key: Ed25519PublicKey


def seed_clip(data_dir: Path, key_file: Path, size: int) -> SeededClip:
    key = load_or_create_private_key(key_file)
    clip_id = secrets.token_hex(16)
    job_id = "job-" + secrets.token_hex(4)
    data = secrets.token_bytes(size)
    outbox = Outbox(data_dir)
    try:
        directory = outbox.clip_dir(clip_id)
        directory.mkdir(parents=True)
        (directory / "clip.mp4").write_bytes(data)
        manifest = Manifest(
            clip_id=clip_id,
            job_id=job_id,
            site_id=SITE_A,
            camera=CameraIdentity(id="cam-1", name="test"),
            requested=Window(start=START, end=START + timedelta(seconds=20)),
            delivered=Window(start=START, end=START + timedelta(seconds=20)),
            codec="h264",
            width=640,
            height=360,
            bytes=len(data),
            sha256=hashlib.sha256(data).hexdigest(),
            software=Software(name="test", version=__version__),
            created_at=datetime.now(UTC),
            key_id=key_id(key),
        )
        manifest_bytes = manifest.canonical_bytes()
        signature = sign(key, manifest_bytes)
        (directory / "manifest.json").write_bytes(manifest_bytes)
        (directory / "manifest.sig").write_text(signature + "\n", encoding="ascii")
        hashes = chunk_hashes(directory / "clip.mp4", CHUNK)
        outbox.add_job(
            Job(
                job_id=job_id,
                camera_id="cam-1",
                start=START,
                end=START + timedelta(seconds=20),
                reason="test",
            )
        )
        outbox.add_clip(
            NewClip(
                clip_id=clip_id,
                job_id=job_id,
                directory=directory,
                manifest=manifest_bytes,
                signature=signature,
                key_id=key_id(key),
                clip_bytes=hashes.size,
                sha256=hashes.sha256,
                chunk_size=CHUNK,
                chunk_sha256=hashes.chunk_sha256,
            )
        )
    finally:
        outbox.close()
    return SeededClip(clip_id, job_id, directory, data, key.public_key())


def outbox_state(data_dir: Path, clip_id: str) -> str | None:
    outbox = Outbox(data_dir)
    try:
        clip = outbox.clip(clip_id)
        return None if clip is None else clip.state
    finally:
        outbox.close()


# Tests.


def test_status_is_retained_online_and_the_last_will_marks_a_killed_agent_offline(
    tmp_path: Path,
    mosquitto_broker: MosquittoBroker,
    hub_client: MqttTestClient,
    mqtt_client: MqttClientFactory,
    agents: Callable[[Path, Path], AgentProcess],
) -> None:
    hub = HubStandIn(hub_client)
    config = write_config(tmp_path / "agent.toml", mosquitto_broker, tmp_path / "data")
    agent = agents(config, tmp_path / "agent.log")

    wait_until(lambda: len(hub.statuses) >= 2, "two online heartbeats")
    first = hub.statuses[0]
    assert first.state == "online"
    assert first.version == __version__
    assert first.sent_at is not None
    assert first.disk_free_bytes is not None and first.disk_free_bytes > 0

    # A late subscriber gets the retained status.
    late = mqtt_client(OBSERVER)  # not "hub": one login per username, the stand-in has it
    late.subscribe(status_topic(SITE_A))
    retained = late.next_message()
    assert retained.retain
    assert SiteStatus.parse(retained.payload).state == "online"
    late.disconnect()

    agent.kill()
    wait_until(lambda: hub.statuses[-1].state == "offline", "the last will")
    assert hub.statuses[-1].sent_at is None  # the will, not a graceful goodbye

    fresh = mqtt_client(OBSERVER)
    fresh.subscribe(status_topic(SITE_A))
    assert SiteStatus.parse(fresh.next_message().payload).state == "offline"


def test_sigterm_marks_the_site_offline_and_exits_zero(
    tmp_path: Path,
    mosquitto_broker: MosquittoBroker,
    hub_client: MqttTestClient,
    agents: Callable[[Path, Path], AgentProcess],
) -> None:
    hub = HubStandIn(hub_client)
    config = write_config(tmp_path / "agent.toml", mosquitto_broker, tmp_path / "data")
    agent = agents(config, tmp_path / "agent.log")
    wait_until(lambda: bool(hub.statuses), "an online heartbeat")
    assert agent.terminate() == 0
    wait_until(lambda: hub.statuses[-1].state == "offline", "the offline status")
    assert hub.statuses[-1].sent_at is not None  # published by the agent itself
    assert "agent stopped" in agent.log()


@pytest.mark.slow
def test_clip_in_outbox_is_uploaded_identically_and_dropped_chunks_are_resent(
    tmp_path: Path,
    mosquitto_broker: MosquittoBroker,
    hub_client: MqttTestClient,
    agents: Callable[[Path, Path], AgentProcess],
) -> None:
    data_dir = tmp_path / "data"
    config = write_config(tmp_path / "agent.toml", mosquitto_broker, data_dir)
    size = 100 * CHUNK + 1234  # 101 chunks, the last one short
    clip = seed_clip(data_dir, data_dir / "agent_key.pem", size)
    # Drop a few in the middle (caught by later chunks arriving) and the last one (caught by
    # silence and a re-offer).
    hub = HubStandIn(hub_client, public_key=clip.public_key, drop_first={3, 17, 40, 100})
    agents(config, tmp_path / "agent.log")

    assert hub.stored.wait(WAIT), "clip not stored"
    upload = hub.upload()
    assert bytes(upload.data) == clip.data
    assert sorted(hub.dropped) == [3, 17, 40, 100]
    for index in (3, 17, 40, 100):
        assert index in hub.received  # sent again after it was dropped
    assert hub.offers.count(clip.clip_id) >= 2  # the tail loss needed a re-offer
    assert hub.errors == []

    wait_until(lambda: not clip.directory.exists(), "the outbox copy to be deleted")
    assert outbox_state(data_dir, clip.clip_id) == "stored"
    # The clip was resumed from the outbox: the hub works out the upload percent from the chunks
    # it holds, and "stored" is its own decision, so the agent reports neither.
    assert hub.progress_states() == []


@pytest.mark.slow
def test_agent_killed_mid_upload_resumes_in_a_new_process_and_deletes_only_after_stored(
    tmp_path: Path,
    mosquitto_broker: MosquittoBroker,
    hub_client: MqttTestClient,
    agents: Callable[[Path, Path], AgentProcess],
) -> None:
    data_dir = tmp_path / "data"
    config = write_config(tmp_path / "agent.toml", mosquitto_broker, data_dir)
    count = 160
    clip = seed_clip(data_dir, data_dir / "agent_key.pem", count * CHUNK)
    pause_at = 40
    hub = HubStandIn(hub_client, public_key=clip.public_key, pause_after=pause_at)

    first = agents(config, tmp_path / "agent-1.log")
    assert hub.paused.wait(WAIT), "the upload never got half-way"
    first.kill()

    # Killed mid-upload: nothing deleted, nothing marked stored.
    assert (clip.directory / "clip.mp4").read_bytes() == clip.data
    assert outbox_state(data_dir, clip.clip_id) in ("offered", "uploading")
    held_before = set(hub.upload().held)
    assert held_before == set(range(pause_at))
    received_before = len(hub.received)

    hub.resume()
    agents(config, tmp_path / "agent-2.log")
    assert hub.stored.wait(WAIT), "clip not stored after the restart"
    assert bytes(hub.upload().data) == clip.data
    # Resumed from what the hub held, not restarted. Acks the first process never read are
    # still queued in its persistent session and reach the second one first, so up to a window
    # of chunks the hub already had may be sent again (the hub ignores them); never all of them.
    after = hub.received[received_before:]
    assert 0 not in after
    assert len(after) <= count - pause_at + 64
    assert hub.errors == []
    wait_until(lambda: not clip.directory.exists(), "the outbox copy to be deleted")
    assert outbox_state(data_dir, clip.clip_id) == "stored"
    assert "resuming upload" in (tmp_path / "agent-2.log").read_text()


def test_malformed_unsigned_and_forged_jobs_are_refused_and_never_recorded(
    tmp_path: Path,
    mosquitto_broker: MosquittoBroker,
    hub_client: MqttTestClient,
    agents: Callable[[Path, Path], AgentProcess],
) -> None:
    # hub_client has the hub's broker rights (as a stolen hub password, or a broker that lets
    # anyone write jobs, would): only the signature separates the hub's jobs from the rest.
    hub = HubStandIn(hub_client)
    data_dir = tmp_path / "data"
    config = write_config(tmp_path / "agent.toml", mosquitto_broker, data_dir)
    agent = agents(config, tmp_path / "agent.log")
    wait_until(lambda: bool(hub.statuses), "an online heartbeat")

    def job(job_id: str, camera: str = "cam-1") -> Job:
        return Job(
            job_id=job_id,
            camera_id=camera,
            start=START,
            end=START + timedelta(seconds=10),
            reason="test",
        )

    forger = HubSigner(Ed25519PrivateKey.generate())
    refused = {
        "junk": b"{not json",
        "deep": b'{"body":' + b"[" * 50_000 + b"]" * 50_000 + b"}",
        "digits": b'{"v":1,"body":' + b"9" * 5000 + b"}",
        "unsigned": job("unsigned").to_bytes(),  # the old, unsigned format
        "forged": sealed(job_topic(SITE_A, "forged"), job("forged"), forger),
        # A genuine job for another job's topic: the signature is bound to the topic.
        "moved": sealed(job_topic(SITE_A, "elsewhere"), job("moved")),
    }
    for job_id, payload in refused.items():
        hub_client.publish(job_topic(SITE_A, job_id), payload, retain=True)
    hub_client.publish("cctv/v1/sites/site-a/jobs/-bad", sealed(job_topic(SITE_A, "x"), job("x")))
    hub_client.publish(
        job_topic(SITE_A, "mismatch"), sealed(job_topic(SITE_A, "mismatch"), job("other"))
    )
    hub_client.publish(job_topic(SITE_A, "cleared"), b"", retain=True)
    hub_client.publish(
        "cctv/v1/sites/site-a/clips/c1/ack", json.dumps({"clip_id": 5}).encode("utf-8")
    )
    # Then a genuine job for a camera this site does not have: refused, not crashed.
    no_camera = sealed(job_topic(SITE_A, "no-camera"), job("no-camera", camera="nope"))
    hub_client.publish(job_topic(SITE_A, "no-camera"), no_camera, retain=True)

    wait_until(
        lambda: any(p.state == "failed" and p.job_id == "no-camera" for p in hub.progress),
        "the refusal of job no-camera",
    )
    failed = [p for p in hub.progress if p.state == "failed"]
    assert [p.job_id for p in failed] == ["no-camera"]
    assert failed[0].error is not None and "unknown camera 'nope'" in failed[0].error
    assert {p.job_id for p in hub.progress} == {"no-camera"}
    assert agent.alive

    log = agent.log()
    # The first refusal of each kind is logged; the rest are counted into the next line.
    assert "job junk: job refused, not acted on: not a hub-signed message" in log
    assert log.count("job refused") == 1
    assert "message ignored" in log and "-bad" in log
    assert "job mismatch: job ignored: its payload names job other" in log
    assert "clip c1: ack refused, not acted on" in log
    assert "Traceback" not in log

    # The refused job was recorded once; sending it again only re-publishes its progress.
    before = len(hub.progress)
    hub_client.publish(job_topic(SITE_A, "no-camera"), no_camera, retain=True)
    wait_until(lambda: len(hub.progress) > before, "progress published again")
    assert hub.progress[-1].state == "failed"
    assert agent.terminate() == 0
    # Nothing unsigned or forged was recorded, pinned or cut.
    outbox = Outbox(data_dir)
    try:
        assert [r.job_id for r in outbox.jobs()] == ["no-camera"]
    finally:
        outbox.close()
    index = SegmentIndex(data_dir / "index.db")
    try:
        assert index.pins() == []
    finally:
        index.close()
    assert not (data_dir / "outbox").exists() or list((data_dir / "outbox").iterdir()) == []


def test_a_job_dispatched_while_the_agent_is_offline_arrives_when_it_starts(
    tmp_path: Path,
    mosquitto_broker: MosquittoBroker,
    hub_client: MqttTestClient,
    agents: Callable[[Path, Path], AgentProcess],
) -> None:
    hub = HubStandIn(hub_client)
    job = Job(
        job_id="while-away",
        camera_id="gone",
        start=START,
        end=START + timedelta(seconds=10),
        reason="test",
    )
    topic = job_topic(SITE_A, job.job_id)
    hub_client.publish(topic, sealed(topic, job), retain=True)
    config = write_config(tmp_path / "agent.toml", mosquitto_broker, tmp_path / "data")
    agents(config, tmp_path / "agent.log")
    wait_until(lambda: "failed" in hub.progress_states(), "the job to be received and refused")
    assert hub.progress_states()[0] == "queued"
    assert hub.progress[-1].job_id == "while-away"


@pytest.mark.slow
def test_end_to_end_job_is_cut_from_recorded_footage_uploaded_and_stored(
    tmp_path: Path,
    mosquitto_broker: MosquittoBroker,
    hub_client: MqttTestClient,
    rtsp_camera: TestCamera,
    agents: Callable[[Path, Path], AgentProcess],
) -> None:
    site = recording_site(tmp_path, mosquitto_broker, hub_client, rtsp_camera)
    hub, data_dir = site.hub, site.data_dir
    agents(site.config, site.log_path)
    extent = site.wait_for_footage(7)
    job = Job(
        job_id="e2e-1",
        camera_id="cam-1",
        start=extent[1] - timedelta(seconds=5),
        end=extent[1] - timedelta(seconds=1),
        priority=7,
        reason="CR/42/26 test",
    )
    topic = job_topic(SITE_A, job.job_id)
    hub_client.publish(topic, sealed(topic, job), retain=True)

    clip = site.stored_clip(tmp_path / "received.mp4")
    offer, manifest, clip_bytes = clip.offer, clip.manifest, clip.data
    assert manifest.clip_id == offer.clip_id and manifest.job_id == "e2e-1"
    assert manifest.site_id == SITE_A and manifest.camera.id == "cam-1"
    assert manifest.sha256 == offer.clip_sha256 and manifest.bytes == len(clip_bytes)
    check_clip_window(
        manifest, job.start, job.end, index_db=data_dir / "index.db", camera_id="cam-1"
    )

    wait_until(
        lambda: not (data_dir / "outbox" / offer.clip_id).exists(), "the outbox copy deleted"
    )
    states = [p.state for p in hub.progress if p.job_id == "e2e-1"]
    order = ["queued", "cutting", "uploading"]
    assert [s for s in dict.fromkeys(states) if s in order] == order
    assert "stored" not in states  # the hub's own decision, never reported back
    index = SegmentIndex(data_dir / "index.db")
    try:
        wait_until(
            lambda: all(pin.owner != "job-e2e-1" for pin in index.pins()), "the job's pin removed"
        )
    finally:
        index.close()


# The job runner in-process, with a publisher that records what it is asked to send.


class RecordingPublisher:
    def __init__(self) -> None:
        self.messages: list[tuple[str, bytes]] = []
        self.connects = 0
        self._connected = asyncio.Event()

    @property
    def connected(self) -> bool:
        return self._connected.is_set()

    async def wait_connected(self) -> None:
        await self._connected.wait()

    def connect(self) -> None:
        self.connects += 1
        self._connected.set()

    def publish_nowait(
        self, topic: str, payload: bytes, *, retain: bool = False
    ) -> asyncio.Future[None]:
        self.messages.append((topic, payload))
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        future.set_result(None)
        return future

    async def publish(self, topic: str, payload: bytes, *, retain: bool = False) -> None:
        await self.publish_nowait(topic, payload, retain=retain)

    def progress(self) -> list[JobProgress]:
        return [JobProgress.parse(p) for t, p in self.messages if t.endswith("/progress")]


def clip_state(outbox: Outbox, clip_id: str) -> str | None:
    clip = outbox.clip(clip_id)
    return None if clip is None else clip.state


def agent_config(data_dir: Path) -> AgentConfig:
    return AgentConfig(site_id=SITE_A, data_dir=data_dir)


def test_resume_removes_a_half_written_cut_and_cuts_again(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    outbox = Outbox(data_dir)
    job = Job(
        job_id="half-cut",
        camera_id="cam-9",
        start=START,
        end=START + timedelta(seconds=10),
        reason="test",
    )
    outbox.add_job(job)
    outbox.start_cut("half-cut", "old-clip")
    half = outbox.clip_dir("old-clip")
    half.mkdir()
    (half / "clip.mp4.part").write_bytes(b"half a clip")
    index = SegmentIndex(data_dir / "index.db")
    key = load_or_create_private_key(data_dir / "agent_key.pem")

    async def scenario() -> RecordingPublisher:
        publisher = RecordingPublisher()
        runner = JobRunner(
            config=agent_config(data_dir),
            outbox=outbox,
            index=index,
            key=key,
            publisher=publisher,
            hub=HubVerifier(HUB_KEY.public_key()),
        )
        await runner.start()
        # Until the final state is published, not only written: the runner writes the outbox,
        # unpins the window and then publishes, and a stop in between (on a busy machine) cut
        # the "failed" progress off. A safety limit, not a measure.
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            record = await asyncio.to_thread(outbox.job, "half-cut")
            published = [p.state for p in publisher.progress()]
            if record is not None and record.final and JobState.FAILED in published:
                break
            await asyncio.sleep(0.02)
        await runner.stop()
        return publisher

    try:
        publisher = asyncio.run(scenario())
        assert not half.exists()
        record = outbox.job("half-cut")
        assert record is not None and record.state == "failed"  # cut again: camera not here
        assert record.clip_id != "old-clip"
        states = [p.state for p in publisher.progress()]
        assert states == ["cutting", "failed"]
        assert index.pins() == []
    finally:
        index.close()
        outbox.close()


def ack(clip_id: str, offer: bytes, state: str, **fields: object) -> ClipAck:
    return ClipAck.model_validate(
        {
            "clip_id": clip_id,
            "offer_sha256": hashlib.sha256(offer).hexdigest(),
            "state": state,
            **fields,
        }
    )


def send_ack(
    runner: JobRunner, ack: ClipAck, *, topic_clip: str | None = None, **seal: object
) -> None:
    """Hand the runner a sealed ack as the uplink would (on the clip's topic unless told)."""
    topic = ack_topic(SITE_A, topic_clip or ack.clip_id)
    signer = seal.get("signer", HUB)
    assert isinstance(signer, HubSigner)
    runner.handle_message(parse_topic(topic), signer.seal(topic, ack))


def offered(publisher: RecordingPublisher, clip_id: str) -> bytes:
    """The offer payload the runner published for a clip (what the hub's acks must name)."""
    [payload, *_] = [p for t, p in publisher.messages if t == manifest_topic(SITE_A, clip_id)]
    return payload


def make_runner(
    data_dir: Path, outbox: Outbox, index: SegmentIndex
) -> tuple[JobRunner, RecordingPublisher]:
    publisher = RecordingPublisher()
    runner = JobRunner(
        config=agent_config(data_dir),
        outbox=outbox,
        index=index,
        key=load_or_create_private_key(data_dir / "agent_key.pem"),
        publisher=publisher,
        hub=HubVerifier(HUB_KEY.public_key()),
    )
    return runner, publisher


def test_stored_ack_deletes_files_only_then_and_rejected_keeps_them(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    stored = seed_clip(data_dir, data_dir / "agent_key.pem", 3 * CHUNK)
    rejected = seed_clip(data_dir, data_dir / "agent_key.pem", 2 * CHUNK)
    outbox = Outbox(data_dir)
    index = SegmentIndex(data_dir / "index.db")

    async def scenario() -> RecordingPublisher:
        runner, publisher = make_runner(data_dir, outbox, index)
        await runner.start()
        publisher.connect()
        await runner.on_connected(False)
        await until(
            lambda: sum(t.endswith("/manifest") for t, _ in publisher.messages) == 2, "2 offers"
        )
        # Both clips offered; nothing sent before an answer; nothing deleted yet.
        assert not any("/chunk/" in t for t, _ in publisher.messages)
        assert stored.directory.exists() and rejected.directory.exists()
        offer = offered(publisher, stored.clip_id)
        # A receiving ack with bad ranges is ignored; then the hub answers properly.
        send_ack(runner, ack(stored.clip_id, offer, "receiving", held=((0, 99),)))
        send_ack(runner, ack(stored.clip_id, offer, "receiving", held=(), missing=((0, 2),)))
        await until(lambda: sum("/chunk/" in t for t, _ in publisher.messages) == 3, "3 chunks")
        assert stored.directory.exists()
        done = ack(
            stored.clip_id,
            offer,
            "stored",
            held=((0, 2),),
            evidence_sha256=hashlib.sha256(stored.data).hexdigest(),
        )
        send_ack(runner, done)
        no = ack(
            rejected.clip_id,
            offered(publisher, rejected.clip_id),
            "rejected",
            reason="signature is wrong",
        )
        send_ack(runner, no)
        await until(
            lambda: (
                not stored.directory.exists() and clip_state(outbox, rejected.clip_id) == "rejected"
            ),
            "stored deleted, rejected recorded",
        )
        # A replayed stored ack for a finished clip changes nothing.
        send_ack(runner, done)
        await asyncio.sleep(0.05)
        await runner.stop()
        return publisher

    try:
        publisher = asyncio.run(scenario())
        chunks = {t.rsplit("/", 1)[1]: p for t, p in publisher.messages if "/chunk/" in t}
        assert b"".join(chunks[str(n)] for n in range(3)) == stored.data
        assert not stored.directory.exists()
        assert clip_state(outbox, stored.clip_id) == "stored"
        assert (rejected.directory / "clip.mp4").read_bytes() == rejected.data
        rejected_job = outbox.job(rejected.job_id)
        assert rejected_job is not None and rejected_job.state == "failed"
        assert rejected_job.error is not None and "signature is wrong" in rejected_job.error
        final = {p.job_id: p for p in publisher.progress()}
        # "stored" is the hub's own decision: the agent never reports it back; nor does it
        # turn the hub's acks into an upload percent.
        assert stored.job_id not in final
        assert final[rejected.job_id].state == "failed"
        assert [p.state for p in publisher.progress() if p.job_id == stored.job_id].count(
            JobState.STORED
        ) == 0
    finally:
        index.close()
        outbox.close()


def test_forged_stored_and_rejected_acks_change_nothing(tmp_path: Path) -> None:
    """Issue 9, defect 1: only the hub's own "stored", for this clip and this offer, deletes."""
    data_dir = tmp_path / "data"
    clip = seed_clip(data_dir, data_dir / "agent_key.pem", 3 * CHUNK)
    other = seed_clip(data_dir, data_dir / "agent_key.pem", 2 * CHUNK)
    outbox = Outbox(data_dir)
    index = SegmentIndex(data_dir / "index.db")
    sha = hashlib.sha256(clip.data).hexdigest()  # anyone who read the offer knows it

    async def scenario() -> JobRunner:
        runner, publisher = make_runner(data_dir, outbox, index)
        await runner.start()
        publisher.connect()
        await runner.on_connected(False)
        await until(
            lambda: sum(t.endswith("/manifest") for t, _ in publisher.messages) == 2, "offers"
        )
        offer = offered(publisher, clip.clip_id)
        other_offer = offered(publisher, other.clip_id)
        stored = ack(clip.clip_id, offer, "stored", held=((0, 2),), evidence_sha256=sha)
        forger = HubSigner(Ed25519PrivateKey.generate())
        topic = ack_topic(SITE_A, clip.clip_id)
        # Unsigned (the old format), as a site credential could once publish it.
        runner.handle_message(parse_topic(topic), stored.to_bytes())
        # Signed by another key.
        send_ack(runner, stored, signer=forger)
        # The hub's genuine "stored" for the other clip, moved onto this clip's topic.
        genuine_other = ack(
            other.clip_id,
            other_offer,
            "stored",
            held=((0, 1),),
            evidence_sha256=hashlib.sha256(other.data).hexdigest(),
        )
        runner.handle_message(
            parse_topic(topic), HUB.seal(ack_topic(SITE_A, other.clip_id), genuine_other)
        )
        # Signed by the hub for this clip, but answering an offer this agent never sent.
        send_ack(runner, ack(clip.clip_id, b"another offer", "stored", evidence_sha256=sha))
        # Forged rejections: none may fail the job.
        no = ack(clip.clip_id, offer, "rejected", reason="forged")
        runner.handle_message(parse_topic(topic), no.to_bytes())
        send_ack(runner, no, signer=forger)
        send_ack(runner, ack(clip.clip_id, b"another offer", "rejected", reason="replayed"))
        await asyncio.sleep(0.2)
        assert clip.directory.exists() and outbox_state(data_dir, clip.clip_id) == "offered"
        assert (outbox.job(clip.job_id) or pytest.fail("job gone")).state != "failed"
        # The hub's own "stored" for this clip and offer, naming the clip's SHA-256: now it goes.
        send_ack(runner, stored)
        await until(lambda: not clip.directory.exists(), "the genuine stored ack")
        await runner.stop()
        return runner

    try:
        runner = asyncio.run(scenario())
        assert clip_state(outbox, clip.clip_id) == "stored"
        assert (other.directory / "clip.mp4").read_bytes() == other.data
        assert clip_state(outbox, other.clip_id) == "offered"
        assert runner.refusals.counts["ack"] == 7
    finally:
        index.close()
        outbox.close()


def test_resume_finishes_a_stop_between_stored_and_clean_up(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    clip = seed_clip(data_dir, data_dir / "agent_key.pem", CHUNK)
    outbox = Outbox(data_dir)
    index = SegmentIndex(data_dir / "index.db")
    # The last run committed "stored" and was stopped before deleting the files and unpinning.
    outbox.clip_stored(clip.clip_id)
    index.pin(Pin(f"job-{clip.job_id}", "cam-1", START, START + timedelta(seconds=20)))
    index.pin(Pin("legal-hold-7", None, START, START + timedelta(hours=1)))
    key = load_or_create_private_key(data_dir / "agent_key.pem")

    async def scenario() -> None:
        runner = JobRunner(
            config=agent_config(data_dir),
            outbox=outbox,
            index=index,
            key=key,
            publisher=RecordingPublisher(),
            hub=HubVerifier(HUB_KEY.public_key()),
        )
        await runner.start()
        await runner.stop()

    try:
        asyncio.run(scenario())
        assert not clip.directory.exists()
        assert [pin.owner for pin in index.pins()] == ["legal-hold-7"]
    finally:
        index.close()
        outbox.close()


@pytest.mark.slow
def test_broker_restart_mid_upload_reconnects_reoffers_and_completes(
    tmp_path: Path,
    mosquitto_broker: MosquittoBroker,
    mqtt_client: MqttClientFactory,
    agents: Callable[[Path, Path], AgentProcess],
) -> None:
    data_dir = tmp_path / "data"
    config = write_config(tmp_path / "agent.toml", mosquitto_broker, data_dir)
    count = 160
    clip = seed_clip(data_dir, data_dir / "agent_key.pem", count * CHUNK)
    # The stand-in keeps its session across the restart, as the real hub does.
    client = mqtt_client(
        "hub", client_id="hub-persistent", clean_start=False, session_expiry_seconds=3600
    )
    hub = HubStandIn(client, public_key=clip.public_key, pause_after=40)
    agent = agents(config, tmp_path / "agent.log")
    assert hub.paused.wait(WAIT), "the upload never got half-way"

    mosquitto_broker.restart()
    hub.resume()

    assert hub.stored.wait(WAIT), "clip not stored after the broker restart"
    assert bytes(hub.upload().data) == clip.data
    assert hub.errors == []
    wait_until(lambda: not clip.directory.exists(), "the outbox copy to be deleted")
    log = agent.log()
    assert "uplink disconnected" in log
    assert "offered again" in log
    assert agent.alive
