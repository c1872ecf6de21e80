"""The storage ports' contract, run on both engines (SQLite in memory, PostgreSQL in a schema of
its own; PostgreSQL skipped with the reason where unreachable). Each test exercises what the
dialect translation changes: upserts, INSERT OR IGNORE, RETURNING, json_extract, group_concat,
rowid order, booleans, CHECK constraints, and the append-only triggers."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from cctv_common.wire.job_state import JobState
from cctv_common.wire.payloads import CameraEventItem
from hub.domain.custody import CustodyAction
from hub.domain.records import (
    ClipJob,
    EvidenceCheck,
    EvidenceItem,
    ThrottleEntry,
    UploadRecord,
)
from hub.services.custody import CustodyLog
from hub.storage.ports import StorageFailure
from hub.storage.sqlite import disclosure_rows
from hub.storage.sqlite.unit_of_work import SqlUnitOfWork
from tests.support.storage_engines import Engine

NOW = datetime(2026, 3, 1, 12, 0, 0, tzinfo=UTC)
KEY = "ab" * 32


def a_job(job_id: str = "job-1", state: JobState = JobState.DISPATCHED) -> ClipJob:
    return ClipJob(
        id=job_id,
        site_id="site-a",
        camera_id="cam-1",
        start=NOW - timedelta(minutes=2),
        end=NOW - timedelta(minutes=1),
        reason="crime ref 42/1",
        priority=5,
        requested_by="operator",
        state=state,
        percent=0,
        error=None,
        clip_id=None,
        created_at=NOW,
        updated_at=NOW,
    )


def an_item(clip_id: str, *, frames: int | None = 250, job_id: str = "job-1") -> EvidenceItem:
    manifest: dict[str, object] = {
        "requested": {"start": "2026-03-01T11:58:00Z", "end": "2026-03-01T11:59:00Z"},
        "delivered": {"start": "2026-03-01T11:58:00Z", "end": "2026-03-01T11:59:00Z"},
        "gaps": [],
        "frames": frames,
    }
    return EvidenceItem(
        clip_id=clip_id,
        sha256=KEY,
        store_key=f"ab/ab/{KEY}.mp4",
        site_id="site-a",
        camera_id="cam-1",
        job_id=job_id,
        requested_by="operator",
        manifest=json.dumps(manifest),
        signature="sig",
        key_id="k1",
        bytes=5_000_000_000,  # past 2 GiB: a BIGINT on PostgreSQL
        delivered_start=NOW - timedelta(minutes=2),
        delivered_end=NOW - timedelta(minutes=1),
        codec="h264",
        width=1920,
        height=1080,
        stored_at=NOW,
    )


PEM = (
    Ed25519PrivateKey.generate()
    .public_key()
    .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    .decode("ascii")
)


def with_site(uow: SqlUnitOfWork) -> None:
    uow.sites.register("site-a", "Market Street", PEM, "admin", NOW)


def test_jobs_round_trip_and_refuse_a_state_outside_job_state(engine: Engine) -> None:
    storage = engine.storage
    storage.write(with_site)
    storage.write(lambda uow: uow.jobs.add(a_job()))
    moved = storage.write(
        lambda uow: uow.jobs.move(
            "job-1", state=JobState.UPLOADING, percent=40, error=None, clip_id="c1", now=NOW
        )
    )
    assert (moved.state, moved.percent, moved.clip_id) == (JobState.UPLOADING, 40, "c1")
    assert storage.read(lambda uow: uow.jobs.get("job-1")) == moved
    assert [job.id for job in storage.read(lambda uow: uow.jobs.open())] == ["job-1"]
    with pytest.raises(StorageFailure):
        storage.write(
            lambda uow: uow.db.execute("UPDATE jobs SET state = 'lost' WHERE id = 'job-1'")
        )
    assert storage.read(lambda uow: uow.jobs.get("job-1")) == moved  # nothing half-done


def test_the_last_stored_retrieval_of_each_camera_is_one_row(engine: Engine) -> None:
    storage = engine.storage
    storage.write(with_site)
    ended = [
        ("job-1", JobState.STORED, NOW - timedelta(days=40)),  # before the window
        ("job-2", JobState.STORED, NOW - timedelta(hours=5)),
        ("job-3", JobState.STORED, NOW - timedelta(hours=2)),  # the newest stored
        ("job-4", JobState.FAILED, NOW - timedelta(hours=1)),  # ended, not stored
    ]
    for job_id, state, at in ended:
        job = a_job(job_id)
        storage.write(lambda uow, job=job: uow.jobs.add(job))
        storage.write(
            lambda uow, job_id=job_id, state=state, at=at: uow.jobs.move(
                job_id, state=state, percent=100, error=None, clip_id=None, now=at
            )
        )
    since = NOW - timedelta(days=31)
    last = storage.read(lambda uow: uow.jobs.last_stored_by_camera(since))
    assert last == {("site-a", "cam-1"): NOW - timedelta(hours=2)}


def test_an_upload_is_replaced_whole_and_its_chunks_merge(engine: Engine) -> None:
    storage = engine.storage
    first = UploadRecord(
        "c1", "site-a", "job-1", "{}", KEY, 10, 4, 3, (), "receiving", None, NOW, NOW
    )
    storage.write(lambda uow: uow.uploads.put(first))
    storage.write(
        lambda uow: uow.uploads.put(first.__class__(**{**first.__dict__, "offer": "{2}"}))
    )
    assert storage.read(lambda uow: uow.uploads.get("c1")).offer == "{2}"
    storage.write(lambda uow: uow.uploads.set_held("c1", [(0, 1)], NOW))
    merged = storage.write(lambda uow: uow.uploads.merge_held("c1", [(2, 3)], NOW))
    assert merged == ((0, 1), (2, 3)) or merged == ((0, 3),)
    storage.write(lambda uow: uow.uploads.set_state("c1", "stored", None, NOW))
    assert [u.clip_id for u in storage.read(lambda uow: uow.uploads.in_state("stored"))] == ["c1"]


def test_evidence_facts_from_the_manifest_and_checks_by_object(engine: Engine) -> None:
    storage = engine.storage
    storage.write(lambda uow: [uow.evidence.add(an_item(c)) for c in ("c1", "c2")])
    storage.write(lambda uow: uow.evidence.set_hold("c1", True))
    item = storage.read(lambda uow: uow.evidence.get("c1"))
    assert item.legal_hold is True and item.bytes == 5_000_000_000
    facts = storage.read(lambda uow: uow.evidence.delivery_facts(["c1"]))
    assert facts[0].frames == 250
    assert facts[0].requested == {"start": "2026-03-01T11:58:00Z", "end": "2026-03-01T11:59:00Z"}
    assert facts[0].gaps == []
    objects = storage.read(lambda uow: uow.checks.objects_to_check())
    assert [(o.store_key, sorted(o.clip_ids), o.checked_at) for o in objects] == [
        (f"ab/ab/{KEY}.mp4", ["c1", "c2"], None)
    ]
    check = EvidenceCheck(f"ab/ab/{KEY}.mp4", NOW, True, None, "scrub")
    storage.write(lambda uow: uow.checks.put(check))
    storage.write(lambda uow: uow.checks.put(check))  # the upsert
    assert storage.read(lambda uow: uow.checks.get(check.store_key)) == check
    assert storage.read(lambda uow: uow.evidence.live_clips_with_key(check.store_key)) == [
        "c1",
        "c2",
    ] or sorted(storage.read(lambda uow: uow.evidence.live_clips_with_key(check.store_key))) == [
        "c1",
        "c2",
    ]


def test_camera_events_are_kept_once_in_the_order_received(engine: Engine) -> None:
    storage = engine.storage
    storage.write(with_site)
    at = NOW.replace(microsecond=0)
    events = [
        CameraEventItem(
            event_id=f"{n:032x}"[::-1] if n % 2 else f"{n:032x}",
            camera_id="cam-1",
            at=at,
            kind="motion",
            active=bool(n % 2),
            topic="tns1:VideoSource/MotionAlarm",
        )
        for n in range(1, 5)
    ]
    assert storage.write(lambda uow: uow.camera_events.add("site-a", events, NOW)) == 4
    assert storage.write(lambda uow: uow.camera_events.add("site-a", events[:2], NOW)) == 0
    found = storage.read(
        lambda uow: uow.camera_events.between("site-a", "cam-1", at, at + timedelta(seconds=1), 10)
    )
    assert [e.event_id for e in found] == [e.event_id for e in events]
    assert storage.read(lambda uow: uow.camera_events.latest_times()) == {("site-a", "cam-1"): at}


def test_the_custody_chain_verifies_and_refuses_edits(engine: Engine) -> None:
    log = CustodyLog(engine.storage)
    for n in range(5):
        log.append(f"user-{n}", CustodyAction.VIEW, f"clip:c{n % 2}", {"n": n, "note": "é 100%"})
    assert log.verify_chain() == (True, None)
    assert engine.storage.read(lambda uow: uow.custody.head())[0] == 5
    rows = engine.storage.read(lambda uow: uow.custody.after(["clip:c1"], 0, 10))
    assert [row.seq for row in rows] == [2, 4]
    for edit in ("UPDATE audit SET actor = 'x' WHERE seq = 1", "DELETE FROM audit WHERE seq = 2"):
        with pytest.raises(StorageFailure, match="append-only"):
            engine.storage.write(lambda uow, sql=edit: uow.db.execute(sql))
    assert log.verify_chain() == (True, None)


def test_login_failures_sessions_and_the_outbox_id(engine: Engine) -> None:
    storage = engine.storage
    entry = ThrottleEntry("address", "10.0.0.1", 3, NOW, NOW + timedelta(minutes=1))
    storage.write(lambda uow: uow.login_failures.put(entry))
    storage.write(lambda uow: uow.login_failures.put(entry))
    assert storage.read(lambda uow: uow.login_failures.get("address", "10.0.0.1")) == entry
    user = ThrottleEntry("user", "10.0.0.1", 1, NOW, NOW)  # same key, other kind: kept apart
    storage.write(lambda uow: uow.login_failures.put(user))
    both = [("address", "10.0.0.1"), ("user", "10.0.0.1"), ("user", "nobody")]
    assert storage.read(lambda uow: uow.login_failures.get_many(both)) == {
        ("address", "10.0.0.1"): entry,
        ("user", "10.0.0.1"): user,
    }
    assert storage.read(lambda uow: uow.login_failures.get_many([])) == {}
    storage.write(lambda uow: uow.login_failures.clear("address", "10.0.0.1"))
    assert storage.read(lambda uow: uow.login_failures.get("address", "10.0.0.1")) is None
    ids = [
        storage.write(
            lambda uow: disclosure_rows.insert_mail(
                uow.db, "R/1", "received", ("a@example.org",), "Subject", "queued", NOW
            )
        )
        for _ in range(2)
    ]
    assert ids[1] == ids[0] + 1


def test_one_process_at_a_time_completes_an_upload(engine: Engine) -> None:
    storage = engine.storage
    first = UploadRecord(
        "c1", "site-a", "job-1", "{}", KEY, 10, 4, 3, (), "receiving", None, NOW, NOW
    )
    storage.write(lambda uow: uow.uploads.put(first))
    stale = NOW - timedelta(minutes=5)

    def claim(who: str, at: datetime = NOW) -> bool:
        return bool(
            storage.write(
                lambda uow: uow.uploads.claim_completion("c1", who, at, at - timedelta(minutes=5))
            )
        )

    assert claim("worker-1") and claim("worker-1")  # its own claim again
    assert not claim("worker-2")
    assert claim("worker-2", NOW + timedelta(minutes=6))  # a dead process's claim is taken over
    storage.write(lambda uow: uow.uploads.release_completion("c1", "worker-2"))
    assert claim("worker-1", stale + timedelta(minutes=20))
    storage.write(lambda uow: uow.uploads.set_state("c1", "stored", None, NOW))
    assert not claim("worker-3", NOW + timedelta(hours=1))  # only a receiving upload
