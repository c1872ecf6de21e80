"""Clip ingest: the pure bookkeeping, the offer checks, and the hub's I/O through real parts.

Three layers:
- ``ChunkBook`` and ``check_offer`` as plain functions;
- ``HubService`` in-process, messages handed to it as the MQTT link would, publishes recorded
  (idempotency, replays, rejections, resume after a restart, expiry);
- the whole hub app against a real Mosquitto, with a test "site" speaking paho and signing real
  manifests (byte-identical storage, a corrupt chunk asked for again, a wrong signature never
  served, malformed topics and payloads survived, hub and broker restarts mid-upload).
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import os
import stat
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from fastapi.testclient import TestClient

from cctv_common.mqtt.events import inbound
from cctv_common.wire.chunk_ranges import from_ranges
from cctv_common.wire.hub_signing import HubVerifier
from cctv_common.wire.job_state import JobState
from cctv_common.wire.payloads import ClipAck, Job, JobProgress
from cctv_common.wire.topics import (
    ack_topic,
    chunk_topic,
    job_topic,
    manifest_topic,
    progress_topic,
    status_topic,
)
from devkit.local_broker import MosquittoBroker
from devkit.waiting import wait_until
from hub.app import create_app
from hub.domain.ingest_rules import ChunkBook, ChunkVerdict, UploadOfferRefused, check_offer
from hub.domain.records import ClipJob
from hub.service import HubService
from hub.services.ingest.service import IngestService
from hub.settings import HubSettings, IngestSettings
from hub.storage.engine import AnyDatabase, open_database
from hub.storage.evidence.store import FilesystemEvidenceStore
from hub.storage.sqlite import repository as repo
from tests.support.hub_kit import (
    CAMERA,
    SITE,
    WAIT_SECONDS,
    RecordingLink,
    SignedClip,
    auth,
    broker_settings,
    insert_job,
    make_settings,
    online_status,
    row_count,
    signed_clip,
    unsealed,
    video_bytes,
)
from tests.support.mosquitto_fixtures import OBSERVER, MqttClientFactory, MqttTestClient

CHUNK = 64 * 1024


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


# ChunkBook (pure).


def book_for(data: bytes, chunk: int = 4, **kwargs: object) -> tuple[ChunkBook, list[bytes]]:
    chunks = [data[i : i + chunk] for i in range(0, len(data), chunk)]
    book = ChunkBook(
        clip_bytes=len(data),
        chunk_size=chunk,
        chunk_sha256=[sha(c) for c in chunks],
        **kwargs,  # type: ignore[arg-type]
    )
    return book, chunks


def test_chunks_out_of_order_complete_the_book() -> None:
    book, chunks = book_for(b"0123456789abcdefghij")  # 5 chunks of 4
    for index in (4, 0, 2, 1, 3):
        assert not book.is_complete
        assert book.check(index, chunks[index]).ok
        book.mark_held(index)
        if index == 2:
            assert book.held_ranges() == [(0, 0), (2, 2), (4, 4)]
            assert book.missing_ranges() == [(1, 1), (3, 3)]
    assert book.is_complete
    assert book.held_ranges() == [(0, 4)]
    assert book.missing_ranges() == []
    assert book.percent == 100


def test_duplicate_corrupt_wrong_size_and_out_of_range_chunks() -> None:
    book, chunks = book_for(b"0123456789")  # chunks of 4, 4, 2
    book.mark_held(0)
    assert book.check(0, chunks[0]).verdict is ChunkVerdict.DUPLICATE
    corrupt = book.check(1, b"XXXX")
    assert corrupt.verdict is ChunkVerdict.WRONG_HASH and "chunk 1" in (corrupt.reason or "")
    assert book.check(1, b"456").verdict is ChunkVerdict.WRONG_SIZE
    assert book.check(2, b"89").ok and book.check(2, b"89XX").verdict is ChunkVerdict.WRONG_SIZE
    assert book.check(3, b"").verdict is ChunkVerdict.BAD_INDEX
    assert book.check(-1, b"0123").verdict is ChunkVerdict.BAD_INDEX
    assert book.missing_ranges() == [(1, 2)]


def test_resume_from_held_ranges_and_drop_a_chunk_found_bad_on_disk() -> None:
    book, _ = book_for(b"x" * 40, held=[(0, 3), (6, 9)])
    assert book.held_count == 8
    assert book.missing_ranges() == [(4, 5)]
    book.drop(7)
    assert book.held_ranges() == [(0, 3), (6, 6), (8, 9)]


def test_an_ack_is_due_every_n_chunks_received() -> None:
    book, _ = book_for(b"y" * 400, ack_every=16)
    due = [book.note_received() for _ in range(16)]
    assert due == [False] * 15 + [True]
    book.note_acked()
    assert not book.note_received()


def test_a_book_refuses_hashes_that_do_not_fit_the_size() -> None:
    with pytest.raises(ValueError, match="do not fit"):
        ChunkBook(clip_bytes=10, chunk_size=4, chunk_sha256=["0" * 64] * 2)


# check_offer (pure).


def job_record(site: str = SITE, camera: str = CAMERA, job_id: str = "job-1") -> ClipJob:
    now = datetime.now(UTC)
    start = now - timedelta(minutes=5)
    return ClipJob(
        job_id,
        site,
        camera,
        start,
        now,
        "r",
        5,
        "pc-one",
        JobState.DISPATCHED,
        0,
        None,
        None,
        now,
        now,
    )


def test_a_good_offer_yields_its_verified_manifest() -> None:
    key = Ed25519PrivateKey.generate()
    clip = signed_clip(key, b"v" * 100_000, job_id="job-1")
    from cctv_common.evidence.signing import public_key_pem

    manifest = check_offer(
        site_id=SITE,
        clip_id=clip.clip_id,
        offer=clip.offer,
        site_public_key_pem=public_key_pem(key),
        job=job_record(),
        max_clip_bytes=10**9,
    )
    assert manifest.sha256 == clip.sha256 and manifest.camera.id == CAMERA


@pytest.mark.parametrize(
    ("case", "reason"),
    [
        ("topic clip", "came on the topic of clip"),
        ("unknown site", "not registered"),
        ("oversize", "over this hub's limit"),
        ("other key", "does not verify"),
        ("other site in manifest", "site id"),
        ("unknown job", "not a job this hub dispatched"),
        ("job of another site", "was sent to site"),
        ("job of another camera", "asked for camera"),
        ("window of 2001", "outside job job-1's window"),
    ],
)
def test_bad_offers_are_refused_with_a_reason(case: str, reason: str) -> None:
    from cctv_common.evidence.signing import public_key_pem

    key = Ed25519PrivateKey.generate()
    clip = signed_clip(
        key,
        b"w" * 100_000,
        job_id="job-1",
        signing_key=Ed25519PrivateKey.generate() if case == "other key" else None,
        site_id="site-b" if case == "other site in manifest" else SITE,
        start=datetime(2001, 6, 1, tzinfo=UTC) if case == "window of 2001" else None,
    )
    job: ClipJob | None = job_record()
    if case == "unknown job":
        job = None
    elif case == "job of another site":
        job = job_record(site="site-b")
    elif case == "job of another camera":
        job = job_record(camera="cam-9")
    with pytest.raises(UploadOfferRefused, match=reason):
        check_offer(
            site_id=SITE,
            clip_id="clip-other" if case == "topic clip" else clip.clip_id,
            offer=clip.offer,
            site_public_key_pem=None if case == "unknown site" else public_key_pem(key),
            job=job,
            max_clip_bytes=1000 if case == "oversize" else 10**9,
        )


# The hub in-process: messages handed over as the MQTT link would, publishes recorded.


def fast_settings(data_dir: Path, key: Ed25519PrivateKey, **ingest: object) -> HubSettings:
    base = make_settings(data_dir, site_key=key)
    limits = IngestSettings.model_validate(
        {"ack_delay_seconds": 0.01, "min_free_bytes": 0, **ingest}
    )
    return base.model_copy(update={"ingest": limits})


Scenario = Callable[[HubService, RecordingLink, AnyDatabase], Awaitable[None]]


def run_hub(settings: HubSettings, scenario: Scenario) -> None:
    """Run one scenario against a started HubService on the settings' database file."""

    database = open_database(settings)

    async def main() -> None:
        link = RecordingLink()
        service = HubService(
            settings, database, FilesystemEvidenceStore(settings.evidence_dir), link
        )
        await service.start()
        try:
            await scenario(service, link, database)
        finally:
            await service.stop()

    try:
        asyncio.run(main())
    finally:
        database.close()


async def eventually(predicate: Callable[[], bool], what: str) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + WAIT_SECONDS
    while not predicate():
        if loop.time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.01)


async def until_equal(fetch: Callable[[], Awaitable[object]], expected: object, what: str) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + WAIT_SECONDS
    while (got := await fetch()) != expected:
        if loop.time() > deadline:
            raise AssertionError(f"timed out waiting for {what}: {got!r}")
        await asyncio.sleep(0.01)


async def offer(service: HubService, clip: SignedClip) -> None:
    await service.handle(inbound(manifest_topic(SITE, clip.clip_id), clip.offer.to_bytes()))


async def send(service: HubService, clip: SignedClip, indexes: range | list[int]) -> None:
    for index in indexes:
        topic = chunk_topic(SITE, clip.clip_id, index)
        await service.handle(inbound(topic, clip.chunks[index]))


def stored_files(settings: HubSettings) -> list[Path]:
    return sorted(p for p in settings.evidence_dir.rglob("*") if p.is_file())


async def new_job(database: AnyDatabase) -> str:
    job = await asyncio.to_thread(insert_job, database, requested_by="op")
    return job.id


async def evidence_count(database: AnyDatabase) -> int:
    return await asyncio.to_thread(row_count, database, "evidence_items")


@pytest.mark.usefixtures("hub_engine")  # SQLite, then PostgreSQL
def test_replayed_offers_and_chunks_make_exactly_one_evidence_item(tmp_path: Path) -> None:
    key = Ed25519PrivateKey.generate()
    settings = fast_settings(tmp_path, key)
    data = video_bytes(5 * CHUNK + 123)

    async def scenario(service: HubService, link: RecordingLink, database: AnyDatabase) -> None:
        job = await asyncio.to_thread(insert_job, database, requested_by="pc-one")
        clip = signed_clip(key, data, job_id=job.id)
        await offer(service, clip)
        await offer(service, clip)  # replayed before any chunk
        first = link.acks(clip.clip_id)
        assert [a.state for a in first] == ["receiving", "receiving"]
        assert first[0].missing == ((0, 5),) and first[0].held == ()
        await send(service, clip, [3, 3, 0, 1, 2, 4, 0])  # duplicates included
        await send(service, clip, [5])
        await eventually(lambda: link.acks(clip.clip_id)[-1].state == "stored", "stored ack")
        await offer(service, clip)  # replay after it is stored
        await send(service, clip, [1])  # a late duplicate chunk
        await eventually(lambda: len(link.acks(clip.clip_id)) >= 4, "second stored ack")
        acks = link.acks(clip.clip_id)
        assert [a.state for a in acks if a.state == "stored"] == ["stored", "stored"]
        assert all(a.evidence_sha256 == clip.sha256 for a in acks if a.state == "stored")
        assert await evidence_count(database) == 1
        job_after = await database.aread(lambda db: repo.get_job(db, job.id))
        assert job_after is not None and job_after.state == "stored"
        assert job_after.clip_id == clip.clip_id
        # The retained job is cleared once it has ended.
        assert (job_topic(SITE, job.id), b"", True) in link.published
        # Every ack is signed with the hub's key for its topic and names the offer it answers.
        hub = HubVerifier(service.hub_key.public_key())
        for topic, payload, _ in link.published:
            if topic == ack_topic(SITE, clip.clip_id):
                opened = hub.open(topic, payload, ClipAck)
                assert opened.offer_sha256 == sha(clip.offer.to_bytes())

    run_hub(settings, scenario)
    files = stored_files(settings)
    assert len(files) == 1 and files[0].read_bytes() == data
    assert files[0].name == f"{sha(data)}.mp4"
    assert stat.S_IMODE(files[0].stat().st_mode) == 0o440
    assert not any(settings.staging_dir.iterdir())


@pytest.mark.usefixtures("hub_engine")  # SQLite, then PostgreSQL
def test_acks_come_every_16_chunks_and_after_the_last_one(tmp_path: Path) -> None:
    key = Ed25519PrivateKey.generate()
    settings = fast_settings(tmp_path, key)
    data = video_bytes(40 * CHUNK)

    async def scenario(service: HubService, link: RecordingLink, database: AnyDatabase) -> None:
        clip = signed_clip(key, data, job_id=await new_job(database))
        await offer(service, clip)
        await send(service, clip, range(0, 16))
        await eventually(lambda: link.acks(clip.clip_id)[-1].held == ((0, 15),), "16th chunk ack")
        await send(service, clip, range(16, 20))
        # Chunks 20..39 are "lost": the timer acks what is still missing.
        await eventually(lambda: link.acks(clip.clip_id)[-1].held == ((0, 19),), "timer ack")
        assert link.acks(clip.clip_id)[-1].missing == ((20, 39),)

        # The held ranges are recorded too (just after the ack), for a restart to resume from.
        async def recorded() -> object:
            upload = await database.aread(lambda db: repo.get_upload(db, clip.clip_id))
            return None if upload is None else upload.held

        await until_equal(recorded, ((0, 19),), "held ranges recorded")

    run_hub(settings, scenario)


@pytest.mark.usefixtures("hub_engine")  # SQLite, then PostgreSQL
def test_a_hub_restart_resumes_from_the_persisted_ranges(tmp_path: Path) -> None:
    key = Ed25519PrivateKey.generate()
    settings = fast_settings(tmp_path, key)
    data = video_bytes(20 * CHUNK + 5)
    made: list[SignedClip] = []

    async def first_half(service: HubService, link: RecordingLink, database: AnyDatabase) -> None:
        clip = signed_clip(key, data, job_id=await new_job(database))
        made.append(clip)
        await offer(service, clip)
        await send(service, clip, range(0, 12))

    async def second_half(service: HubService, link: RecordingLink, database: AnyDatabase) -> None:
        clip = made[0]
        await offer(service, clip)
        ack = link.acks(clip.clip_id)[-1]
        assert ack.state == "receiving" and ack.held == ((0, 11),) and ack.missing == ((12, 20),)
        await send(service, clip, range(12, 21))
        await eventually(lambda: link.acks(clip.clip_id)[-1].state == "stored", "stored")

    run_hub(settings, first_half)
    run_hub(settings, second_half)
    assert stored_files(settings)[0].read_bytes() == data


@pytest.mark.usefixtures("hub_engine")  # SQLite, then PostgreSQL
def test_two_hub_processes_on_one_database_share_an_upload(tmp_path: Path) -> None:
    """Any hub process takes any chunk: the upload's state is in the database, not in memory.

    Two HubServices, each with its own connection to one database file (as two processes would
    be), share the staging folder. One takes the offer and the first chunks; the other takes a
    replayed offer and middle chunks from the database record; the first takes the last chunks
    and completes the clip from what both hold. It is stored once and verifies, and the acks and
    the job's percent count the chunks held by both.
    """
    key = Ed25519PrivateKey.generate()
    settings = fast_settings(tmp_path, key, ack_every_chunks=4)
    data = video_bytes(12 * CHUNK + 77)

    db_a, db_b = open_database(settings), open_database(settings)

    async def main() -> None:
        link_a, link_b = RecordingLink(), RecordingLink()
        store = FilesystemEvidenceStore(settings.evidence_dir)
        hub_a = HubService(settings, db_a, store, link_a)
        hub_b = HubService(settings, db_b, store, link_b)
        await hub_a.start()
        await hub_b.start()
        try:
            job = await asyncio.to_thread(insert_job, db_a, requested_by="op")
            clip = signed_clip(key, data, job_id=job.id)
            await offer(hub_a, clip)
            await send(hub_a, clip, range(0, 8))
            await eventually(lambda: link_a.acks(clip.clip_id)[-1].held == ((0, 7),), "A's ack")

            async def held() -> object:
                upload = await db_a.aread(lambda db: repo.get_upload(db, clip.clip_id))
                return None if upload is None else upload.held

            # An ack goes out before its record is written: wait for the record.
            await until_equal(held, ((0, 7),), "A's chunks recorded")

            # The other process has never seen the offer: it takes the upload from the database.
            await offer(hub_b, clip)
            ack = link_b.acks(clip.clip_id)[-1]
            assert ack.state == "receiving" and ack.held == ((0, 7),) and ack.missing == ((8, 12),)

            async def percent() -> object:
                found = await db_a.aread(lambda db: repo.get_job(db, job.id))
                return None if found is None else (found.state, found.percent)

            # The hub's own count: 8 of 13 chunks held.
            await until_equal(percent, (JobState.UPLOADING, 8 * 100 // 13), "percent from chunks")
            await send(hub_b, clip, range(8, 11))

            await until_equal(held, ((0, 10),), "B's chunks recorded with A's")
            # The last chunks go to the first hub, which never saw 8..10 itself: it completes
            # the clip from the chunks both hold.
            await send(hub_a, clip, range(11, 13))
            await eventually(
                lambda: any(a.state == "stored" for a in link_a.acks(clip.clip_id)),
                "stored ack from the first hub",
            )
            await until_equal(percent, (JobState.STORED, 100), "job stored")
            assert await evidence_count(db_a) == 1
            # A late chunk to the first hub finds nothing left to do.
            await send(hub_a, clip, [3])
            stored_acks = [
                a
                for a in link_a.acks(clip.clip_id) + link_b.acks(clip.clip_id)
                if a.state == "stored"
            ]
            assert stored_acks and all(a.evidence_sha256 == clip.sha256 for a in stored_acks)
            # The second hub still holds its session (and a file descriptor on what is now the
            # stored file) until its next sweep, every 30 s, not only the 10-minute pass: the
            # sessions of a worker that stores none of the clips it took chunks of stay bounded.
            assert list(hub_b.ingest.active_uploads()) == [clip.clip_id]
            assert await hub_b.ingest.forget_ended() == 1
            assert hub_b.ingest.active_uploads() == {}
            assert await hub_b.ingest.forget_ended() == 0
        finally:
            await hub_b.stop()
            await hub_a.stop()

    try:
        asyncio.run(main())
    finally:
        db_b.close()
        db_a.close()
    files = stored_files(settings)
    assert len(files) == 1 and files[0].read_bytes() == data
    assert not any(settings.staging_dir.iterdir())


@pytest.mark.usefixtures("hub_engine")  # SQLite, then PostgreSQL
def test_an_agents_upload_percent_is_not_taken(tmp_path: Path) -> None:
    """The hub's percent comes from the chunks it holds; a progress report saying otherwise, or
    saying "stored", changes nothing."""
    key = Ed25519PrivateKey.generate()
    settings = fast_settings(tmp_path, key, ack_every_chunks=2)
    data = video_bytes(4 * CHUNK)

    async def scenario(service: HubService, link: RecordingLink, database: AnyDatabase) -> None:
        job = await asyncio.to_thread(insert_job, database, requested_by="op")
        clip = signed_clip(key, data, job_id=job.id)
        await offer(service, clip)
        await send(service, clip, [0, 1])

        async def percent() -> object:
            found = await database.aread(lambda db: repo.get_job(db, job.id))
            return None if found is None else (found.state, found.percent)

        await until_equal(percent, (JobState.UPLOADING, 50), "percent from chunks held")
        for state, value in ((JobState.UPLOADING, 90), (JobState.STORED, 100)):
            report = JobProgress(
                job_id=job.id,
                state=state,
                percent=value,
                clip_id=clip.clip_id,
                sent_at=datetime.now(UTC),
            )
            await service.handle(inbound(progress_topic(SITE, job.id), report.to_bytes()))
        assert await percent() == (JobState.UPLOADING, 50)

    run_hub(settings, scenario)


@pytest.mark.usefixtures("hub_engine")  # SQLite, then PostgreSQL
def test_a_corrupt_chunk_on_disk_is_found_at_the_end_and_asked_for_again(tmp_path: Path) -> None:
    key = Ed25519PrivateKey.generate()
    settings = fast_settings(tmp_path, key)
    data = video_bytes(6 * CHUNK)
    made: list[SignedClip] = []

    async def first(service: HubService, link: RecordingLink, database: AnyDatabase) -> None:
        clip = signed_clip(key, data, job_id=await new_job(database))
        made.append(clip)
        await offer(service, clip)
        await send(service, clip, range(0, 5))

    run_hub(settings, first)
    # Damage a held chunk in the staging file while the hub is down (a disk that lied).
    staging = settings.staging_dir / f"{made[0].clip_id}.part"
    with staging.open("r+b") as handle:
        handle.seek(2 * CHUNK + 10)
        handle.write(b"\xff\xfe")

    async def second(service: HubService, link: RecordingLink, database: AnyDatabase) -> None:
        clip = made[0]
        await offer(service, clip)
        await send(service, clip, [5])
        await eventually(lambda: link.acks(clip.clip_id)[-1].missing == ((2, 2),), "ask for 2")
        await send(service, clip, [2])
        await eventually(lambda: link.acks(clip.clip_id)[-1].state == "stored", "stored")

    run_hub(settings, second)
    assert stored_files(settings)[0].read_bytes() == data


@pytest.mark.parametrize(
    ("case", "reason"),
    [
        # Real rejections: the site signed the offer, for this site and clip.
        ("oversize", "over this hub's limit"),
        ("another camera", "asked for camera"),
        ("window of 2001", "outside job"),
        # Not provably the site's: counted and logged, but never a custody row or a failed job.
        ("unknown site", "not registered"),
        ("wrong signature", "does not verify"),
        ("malformed", "malformed offer"),
        ("deeply nested", "nested too deeply"),
        ("5000 digits", "too many digits"),
    ],
)
@pytest.mark.usefixtures("hub_engine")  # SQLite, then PostgreSQL
def test_rejected_offers_store_nothing_and_only_real_ones_are_custody_events(
    tmp_path: Path, case: str, reason: str
) -> None:
    key = Ed25519PrivateKey.generate()
    settings = fast_settings(
        tmp_path, key, max_clip_bytes=2 * CHUNK if case == "oversize" else 10**9
    )
    # The window of 2001 comes with bytes that are not video: refused before any chunk is taken.
    data = os.urandom(3 * CHUNK) if case == "window of 2001" else video_bytes(3 * CHUNK)
    # "unknown site": a site with no registration offers a clip for site-a's job.
    topic_site = "site-b" if case == "unknown site" else SITE
    real = case in ("oversize", "another camera", "window of 2001")

    async def scenario(service: HubService, link: RecordingLink, database: AnyDatabase) -> None:
        job = await asyncio.to_thread(insert_job, database, requested_by="op")
        clip = signed_clip(
            key,
            data,
            job_id=job.id,
            signing_key=Ed25519PrivateKey.generate() if case == "wrong signature" else None,
            camera_id="cam-9" if case == "another camera" else CAMERA,
            start=datetime(2001, 6, 1, tzinfo=UTC) if case == "window of 2001" else None,
        )
        payload = {
            "malformed": b'{"v":1,"clip_id":',
            "deeply nested": b'{"clip_id":' + b"[" * 100_000 + b"]" * 100_000 + b"}",
            "5000 digits": b'{"v":1,"clip_bytes":' + b"9" * 5000 + b"}",
        }.get(case, clip.offer.to_bytes())
        await service.handle(inbound(manifest_topic(topic_site, clip.clip_id), payload))
        for index in range(3):  # chunks of a refused clip are dropped
            topic = chunk_topic(topic_site, clip.clip_id, index)
            await service.handle(inbound(topic, clip.chunks[index]))
        acks = link.acks(clip.clip_id, topic_site)
        assert [a.state for a in acks] == ["rejected"]
        assert reason in (acks[0].reason or "")
        assert acks[0].offer_sha256 == sha(payload)  # it answers exactly that offer
        job_after = await database.aread(lambda db: repo.get_job(db, job.id))
        assert job_after is not None
        rows = await service.custody.arows(subjects=[f"clip:{clip.clip_id}"])
        if real:
            assert job_after.state == "failed" and reason in (job_after.error or "")
            assert [row.action for row in rows] == ["rejected"]
            assert service.refusals.total == 0
        else:
            assert job_after.state == "dispatched"
            assert rows == []
            assert service.refusals.counts["offer"] == 1

    run_hub(settings, scenario)
    assert stored_files(settings) == []
    assert not any(settings.staging_dir.iterdir())


@pytest.mark.usefixtures("hub_engine")  # SQLite, then PostgreSQL
@pytest.mark.parametrize(
    ("content", "reason"),
    [
        ("random bytes", "cannot be read as h264"),
        ("wrong size", "the manifest says 640x480"),
        ("wrong codec", "the manifest says hevc"),
    ],
)
def test_a_signed_clip_that_is_not_its_declared_video_is_rejected(
    tmp_path: Path, content: str, reason: str
) -> None:
    key = Ed25519PrivateKey.generate()
    settings = fast_settings(tmp_path, key)
    data = os.urandom(3 * CHUNK) if content == "random bytes" else video_bytes(3 * CHUNK)

    async def scenario(service: HubService, link: RecordingLink, database: AnyDatabase) -> None:
        job = await asyncio.to_thread(insert_job, database, requested_by="op")
        clip = signed_clip(
            key,
            data,
            job_id=job.id,
            width=640 if content == "wrong size" else 320,
            height=480 if content == "wrong size" else 240,
            codec="hevc" if content == "wrong codec" else "h264",
        )
        await offer(service, clip)
        await send(service, clip, range(3))
        await eventually(lambda: link.acks(clip.clip_id)[-1].state == "rejected", "rejected")
        ack = link.acks(clip.clip_id)[-1]
        assert "not the video its manifest declares" in (ack.reason or "")
        assert reason in (ack.reason or "")
        job_after = await database.aread(lambda db: repo.get_job(db, job.id))
        assert job_after is not None and job_after.state == "failed"
        rows = await service.custody.arows(subjects=[f"clip:{clip.clip_id}"])
        assert [row.action for row in rows] == ["rejected"]
        assert await evidence_count(database) == 0

    run_hub(settings, scenario)
    assert stored_files(settings) == []
    assert not any(settings.staging_dir.iterdir())


@pytest.mark.usefixtures("hub_engine")  # SQLite, then PostgreSQL
def test_stale_uploads_expire_and_fail_their_job(tmp_path: Path) -> None:
    key = Ed25519PrivateKey.generate()
    settings = fast_settings(tmp_path, key, stale_upload_hours=1)

    async def scenario(service: HubService, link: RecordingLink, database: AnyDatabase) -> None:
        job = await asyncio.to_thread(insert_job, database, requested_by="op")
        clip = signed_clip(key, video_bytes(3 * CHUNK), job_id=job.id)
        await offer(service, clip)
        await send(service, clip, [0])
        assert await service.ingest.expire_stale() == 0
        await database.awrite(
            lambda db: db.execute(
                "UPDATE uploads SET updated_at = ?",
                [repo.db_time(datetime.now(UTC) - timedelta(hours=2))],
            )
        )
        assert await service.ingest.expire_stale() == 1
        upload = await database.aread(lambda db: repo.get_upload(db, clip.clip_id))
        assert upload is not None and upload.state == "expired"
        job_after = await database.aread(lambda db: repo.get_job(db, job.id))
        assert job_after is not None and job_after.state == "failed"
        assert "did not complete" in (job_after.error or "")

    run_hub(settings, scenario)
    assert not any(settings.staging_dir.iterdir())


# The whole hub through a real Mosquitto, with a test site speaking paho.


def holds(indexes: set[int]) -> Callable[[ClipAck], bool]:
    return lambda ack: indexes <= from_ranges(ack.held)


class TestSite:
    """A site agent reduced to the upload protocol, with real signatures."""

    __test__ = False

    def __init__(self, client: MqttTestClient) -> None:
        self.client = client
        self.sent: list[int] = []
        self.jobs: list[tuple[str, bytes]] = []
        self.acks_seen: list[ClipAck] = []
        client.subscribe(f"cctv/v1/sites/{SITE}/clips/+/ack")
        client.subscribe(f"cctv/v1/sites/{SITE}/jobs/+")

    def publish_status(self) -> None:
        now = datetime.now(UTC)
        status = online_status([CAMERA], now - timedelta(hours=1), now)
        self.client.publish(status_topic(SITE), status.to_bytes(), retain=True)

    def next_ack(self, clip_id: str, accept: Callable[[ClipAck], bool] = lambda a: True) -> ClipAck:
        while True:
            message = self.client.next_message(WAIT_SECONDS)
            topic = message.topic
            if "/jobs/" in topic:
                self.jobs.append((topic, bytes(message.payload)))
                continue
            if topic != ack_topic(SITE, clip_id):
                continue
            ack = ClipAck.parse(unsealed(message.payload))
            self.acks_seen.append(ack)
            if ack.state != "receiving" or accept(ack):
                return ack

    def drain_jobs(self) -> list[tuple[str, bytes]]:
        """Job messages received so far (acks read here are dropped)."""
        while not self.client.messages.empty():
            message = self.client.messages.get_nowait()
            if "/jobs/" in message.topic:
                self.jobs.append((message.topic, bytes(message.payload)))
        return self.jobs

    def upload(
        self, clip: SignedClip, *, corrupt: frozenset[int] = frozenset(), limit: int | None = None
    ) -> ClipAck:
        """Offer, then send what the hub asks for until it says stored or rejected."""
        self.client.publish(manifest_topic(SITE, clip.clip_id), clip.offer.to_bytes())
        ack = self.next_ack(clip.clip_id)
        corrupted: set[int] = set()
        while ack.state == "receiving":
            wanted = sorted(from_ranges(ack.missing or ()))
            batch = wanted if limit is None else wanted[:limit]
            good = set()
            for index in batch:
                data = clip.chunks[index]
                if index in corrupt and index not in corrupted:
                    corrupted.add(index)
                    data = bytes([data[0] ^ 0xFF]) + data[1:]
                else:
                    good.add(index)
                self.client.publish(chunk_topic(SITE, clip.clip_id, index), data)
                self.sent.append(index)
            ack = self.next_ack(clip.clip_id, holds(good))
            if limit is not None:
                return ack
        return ack


@pytest.fixture
def site_key() -> Ed25519PrivateKey:
    return Ed25519PrivateKey.generate()


@contextmanager
def running_hub(settings: HubSettings) -> Iterator[tuple[TestClient, AnyDatabase]]:
    database = open_database(settings)
    try:
        with TestClient(create_app(settings, database)) as client:
            wait_until(
                lambda: client.get("/api/health").json()["mqtt"] == "connected", "hub on MQTT"
            )
            yield client, database
    finally:
        database.close()


def dispatch(client: TestClient, site: TestSite) -> str:
    """Report the camera, dispatch a job for the last 5 min, and see it arrive retained."""
    site.publish_status()
    wait_until(
        lambda: bool(client.get("/api/sites", auth=auth("operator")).json()[0]["cameras"]),
        "camera reported",
    )
    end = datetime.now(UTC)
    response = client.post(
        "/api/jobs",
        auth=auth("supervisor"),
        json={
            "site_id": SITE,
            "camera_id": CAMERA,
            "start": (end - timedelta(minutes=5)).isoformat(),
            "end": end.isoformat(),
            "reason": "crime ref 42/1234",
        },
    )
    assert response.status_code == 201, response.text
    job_id: str = response.json()["job_id"]
    message = site.client.next_message(WAIT_SECONDS)
    assert message.topic == job_topic(SITE, job_id)
    assert Job.parse(unsealed(message.payload)).camera_id == CAMERA
    return job_id


@pytest.fixture
def hub_settings(
    tmp_path: Path, mosquitto_broker: MosquittoBroker, site_key: Ed25519PrivateKey
) -> HubSettings:
    return make_settings(
        tmp_path / "hub", site_key=site_key, broker=broker_settings(mosquitto_broker)
    )


@pytest.mark.usefixtures("hub_engine")  # SQLite, then PostgreSQL
@pytest.mark.slow
def test_a_clip_offered_over_mqtt_is_stored_byte_identical_and_served(
    hub_settings: HubSettings, mqtt_client: MqttClientFactory, site_key: Ed25519PrivateKey
) -> None:
    site = TestSite(mqtt_client(SITE))
    data = video_bytes(3 * 1024 * 1024 + 17)
    with running_hub(hub_settings) as (client, _):
        job_id = dispatch(client, site)
        # The job is retained: an agent that connects later still gets it.
        late = mqtt_client(OBSERVER)  # a second login as the site would replace the site's
        late.subscribe(job_topic(SITE, job_id))
        retained = late.next_message()
        assert retained.retain and Job.parse(unsealed(retained.payload)).job_id == job_id
        clip = signed_clip(site_key, data, job_id=job_id, chunk_size=256 * 1024)
        final = site.upload(clip, corrupt=frozenset({2}))
        assert final.state == "stored" and final.evidence_sha256 == sha(data)
        # The corrupt chunk was discarded and asked for again.
        assert any(ack.missing == ((2, 2),) for ack in site.acks_seen)
        assert site.sent.count(2) == 2
        job = client.get(f"/api/jobs/{job_id}", auth=auth("supervisor")).json()
        assert (job["state"], job["clip_id"]) == ("stored", clip.clip_id)
        video = client.get(f"/api/clips/{clip.clip_id}/video", auth=auth("supervisor"))
        assert video.status_code == 200 and video.content == data
        manifest = client.get(f"/api/clips/{clip.clip_id}/manifest.json", auth=auth("supervisor"))
        assert manifest.content == clip.offer.manifest_bytes()
        rows = client.get("/api/audit", auth=auth("auditor")).json()
        actions = [row["action"] for row in rows if row["action"] != "login"]
        assert actions[-4:] == ["dispatch", "stored", "view", "download"]
        assert client.get("/api/audit/verify", auth=auth("auditor")).json()["ok"] is True
        # The job's retained message is cleared now that it has ended.
        wait_until(lambda: (job_topic(SITE, job_id), b"") in site.drain_jobs(), "job cleared")
    [stored] = hub_settings.evidence_dir.rglob("*.mp4")
    assert stored.read_bytes() == data


@pytest.mark.usefixtures("hub_engine")  # SQLite, then PostgreSQL
@pytest.mark.slow
def test_a_wrong_signature_is_rejected_and_never_served(
    hub_settings: HubSettings, mqtt_client: MqttClientFactory, site_key: Ed25519PrivateKey
) -> None:
    site = TestSite(mqtt_client(SITE))
    with running_hub(hub_settings) as (client, _):
        job_id = dispatch(client, site)
        forged = signed_clip(
            site_key, b"f" * 300_000, job_id=job_id, signing_key=Ed25519PrivateKey.generate()
        )
        final = site.upload(forged)
        assert final.state == "rejected" and "does not verify" in (final.reason or "")
        assert site.sent == []
        video = client.get(f"/api/clips/{forged.clip_id}/video", auth=auth("supervisor"))
        assert video.status_code == 404
        # Nobody can be shown to have made that offer: the job stays open for the real clip,
        # and the custody log holds nothing about it.
        job = client.get(f"/api/jobs/{job_id}", auth=auth("supervisor")).json()
        assert job["state"] == "dispatched"
        assert client.get("/api/clips", auth=auth("supervisor")).json() == []
        audit = client.get("/api/audit", auth=auth("auditor")).json()
        assert [row for row in audit if row["subject"] == f"clip:{forged.clip_id}"] == []
        assert client.get("/api/health").json()["refused_messages"] == 1
    assert list(hub_settings.evidence_dir.rglob("*.mp4")) == []
    assert list(hub_settings.staging_dir.iterdir()) == []


@pytest.mark.usefixtures("hub_engine")  # SQLite, then PostgreSQL
@pytest.mark.slow
@pytest.mark.parametrize("case", ["window of 2001", "not video"])
def test_a_signed_offer_that_does_not_answer_its_job_is_rejected_over_mqtt(
    hub_settings: HubSettings,
    mqtt_client: MqttClientFactory,
    site_key: Ed25519PrivateKey,
    case: str,
) -> None:
    """Issue 9, defect 3: a correctly signed offer of junk, or for a window of 2001."""
    site = TestSite(mqtt_client(SITE))
    with running_hub(hub_settings) as (client, _):
        job_id = dispatch(client, site)
        clip = signed_clip(
            site_key,
            os.urandom(5 * CHUNK),
            job_id=job_id,
            start=datetime(2001, 6, 1, tzinfo=UTC) if case == "window of 2001" else None,
        )
        final = site.upload(clip)
        assert final.state == "rejected"
        if case == "window of 2001":
            assert "outside job" in (final.reason or "") and site.sent == []
        else:
            assert "not the video its manifest declares" in (final.reason or "")
            assert sorted(site.sent) == list(range(5))  # refused once it had all of it
        video = client.get(f"/api/clips/{clip.clip_id}/video", auth=auth("supervisor"))
        assert video.status_code == 404
        assert client.get("/api/clips", auth=auth("supervisor")).json() == []
        job = client.get(f"/api/jobs/{job_id}", auth=auth("supervisor")).json()
        assert job["state"] == "failed" and job["error"] == final.reason
        audit = client.get("/api/audit", auth=auth("auditor")).json()
        rows = [row["action"] for row in audit if row["subject"] == f"clip:{clip.clip_id}"]
        assert rows == ["rejected"]  # a real rejection: the site signed it
    assert list(hub_settings.evidence_dir.rglob("*.mp4")) == []
    assert list(hub_settings.staging_dir.iterdir()) == []


def logged(caplog: pytest.LogCaptureFixture, text: str) -> Callable[[], bool]:
    return lambda: any(text in record.getMessage() for record in caplog.records)


@pytest.mark.usefixtures("hub_engine")  # SQLite, then PostgreSQL
@pytest.mark.slow
def test_malformed_topics_and_payloads_are_logged_and_the_hub_carries_on(
    hub_settings: HubSettings,
    mqtt_client: MqttClientFactory,
    site_key: Ed25519PrivateKey,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="hub")
    site = TestSite(mqtt_client(SITE))
    base = f"cctv/v1/sites/{SITE}"
    with running_hub(hub_settings) as (client, _):
        job_id = dispatch(client, site)
        garbage = [
            (f"{base}/nonsense", b"x", "unknown topic"),
            (f"{base}/clips/c1/chunk/007", b"x", "unknown topic"),
            (f"{base}/clips/c1/chunk/5", b"x" * 10, "no upload in progress"),
            (status_topic(SITE), b"\xff\xfe not json", "status dropped"),
            (progress_topic(SITE, job_id), b'{"v":1,"state":"teleporting"}', "progress dropped"),
            (progress_topic(SITE, "job-unknown"), b'{"v":1}', "progress dropped"),
            (manifest_topic(SITE, "clip-bad"), b"[1,2,3]", "malformed offer"),
        ]
        for topic, payload, _ in garbage:
            site.client.publish(topic, payload)
        for _, _, expected in garbage:
            wait_until(logged(caplog, expected), expected)
        assert site.next_ack("clip-bad").state == "rejected"
        # Refused too, and counted, but not logged: one line per kind of refusal a minute.
        site.client.publish(manifest_topic(SITE, "clip-v9"), b'{"v":9}')
        assert site.next_ack("clip-v9").state == "rejected"
        # Still working: a good clip goes through.
        clip = signed_clip(site_key, video_bytes(200_000), job_id=job_id)
        assert site.upload(clip).state == "stored"
        assert client.get("/api/health").json()["status"] == "ok"


@pytest.mark.usefixtures("hub_engine")  # SQLite, then PostgreSQL
@pytest.mark.slow
def test_a_hub_restart_mid_upload_resumes_from_persisted_ranges(
    hub_settings: HubSettings, mqtt_client: MqttClientFactory, site_key: Ed25519PrivateKey
) -> None:
    site = TestSite(mqtt_client(SITE))
    data = video_bytes(40 * CHUNK + 999)
    with running_hub(hub_settings) as (client, _):
        job_id = dispatch(client, site)
        clip = signed_clip(site_key, data, job_id=job_id)
        partial = site.upload(clip, limit=20)
        assert partial.state == "receiving" and from_ranges(partial.held) >= set(range(20))
    first_round = list(site.sent)
    site.sent.clear()
    with running_hub(hub_settings) as (client, database):
        # On connect the hub tells the site what it holds; then the site carries on.
        announced = site.next_ack(clip.clip_id)
        assert announced.state == "receiving" and announced.held == ((0, 19),)
        assert site.upload(clip).state == "stored"
        assert sorted(site.sent) == list(range(20, 41))  # nothing held was sent again
        assert row_count(database, "evidence_items") == 1
    assert sorted(first_round) == list(range(20))
    [stored] = hub_settings.evidence_dir.rglob("*.mp4")
    assert stored.read_bytes() == data


@pytest.mark.usefixtures("hub_engine")  # SQLite, then PostgreSQL
@pytest.mark.slow
def test_a_broker_restart_mid_upload_loses_nothing(
    hub_settings: HubSettings,
    mosquitto_broker: MosquittoBroker,
    mqtt_client: MqttClientFactory,
    site_key: Ed25519PrivateKey,
) -> None:
    site = TestSite(
        mqtt_client(SITE, client_id="test-site-a", clean_start=False, session_expiry_seconds=3600)
    )
    data = video_bytes(30 * CHUNK)
    with running_hub(hub_settings) as (client, _):
        job_id = dispatch(client, site)
        clip = signed_clip(site_key, data, job_id=job_id)
        assert site.upload(clip, limit=10).state == "receiving"
        mosquitto_broker.stop()
        wait_until(lambda: client.get("/api/health").json()["mqtt"] != "connected", "hub notices")
        mosquitto_broker.start()
        wait_until(lambda: client.get("/api/health").json()["mqtt"] == "connected", "reconnect")
        wait_until(lambda: site.client.paho.is_connected(), "site reconnects")
        assert site.upload(clip).state == "stored"
    [stored] = hub_settings.evidence_dir.rglob("*.mp4")
    assert stored.read_bytes() == data


@pytest.mark.usefixtures("hub_engine")  # SQLite, then PostgreSQL
@pytest.mark.slow
def test_a_deliberately_slow_hub_ingest_loses_nothing(
    hub_settings: HubSettings,
    mqtt_client: MqttClientFactory,
    site_key: Ed25519PrivateKey,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    original = IngestService.handle_chunk

    async def slow_chunk(
        self: IngestService, site_id: str, clip_id: str, index: int, data: bytes
    ) -> None:
        await asyncio.sleep(0.02)  # a hub far slower than the site sends
        await original(self, site_id, clip_id, index, data)

    monkeypatch.setattr(IngestService, "handle_chunk", slow_chunk)
    site = TestSite(mqtt_client(SITE))
    data = video_bytes(40 * CHUNK + 5)
    with running_hub(hub_settings) as (client, database):
        job_id = dispatch(client, site)
        clip = signed_clip(site_key, data, job_id=job_id)
        assert site.upload(clip).state == "stored"
        assert row_count(database, "evidence_items") == 1
    [stored] = hub_settings.evidence_dir.rglob("*.mp4")
    assert stored.read_bytes() == data
