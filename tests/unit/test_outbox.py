"""The outbox on a real SQLite file: idempotent inserts, final states, reopening keeps state."""

from __future__ import annotations

import base64
import hashlib
import sqlite3
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from cctv_common.wire.job_state import JobState
from cctv_common.wire.payloads import Job
from edge_agent.store.outbox import NewClip, Outbox, UnknownClip, UnknownJob

START = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)


def make_job(job_id: str = "job-1", priority: int = 5) -> Job:
    return Job(
        job_id=job_id,
        camera_id="cam-1",
        start=START,
        end=START + timedelta(seconds=20),
        priority=priority,
        reason="CR/123/26",
    )


def make_clip(outbox: Outbox, clip_id: str = "clip-1", job_id: str = "job-1") -> NewClip:
    data = b"clip bytes" * 100
    return NewClip(
        clip_id=clip_id,
        job_id=job_id,
        directory=outbox.clip_dir(clip_id),
        manifest=b'{"clip_id":"' + clip_id.encode() + b'"}',
        signature=base64.b64encode(b"s" * 64).decode(),
        key_id="0123456789abcdef",
        clip_bytes=len(data),
        sha256=hashlib.sha256(data).hexdigest(),
        chunk_size=65536,
        chunk_sha256=(hashlib.sha256(data).hexdigest(),),
    )


@pytest.fixture
def outbox(tmp_path: Path) -> Iterator[Outbox]:
    box = Outbox(tmp_path)
    yield box
    box.close()


def test_creates_database_in_wal_mode(tmp_path: Path, outbox: Outbox) -> None:
    assert (tmp_path / "outbox.db").exists()
    assert outbox.clips_dir == tmp_path / "outbox"
    connection = sqlite3.connect(tmp_path / "outbox.db")
    mode = connection.execute("pragma journal_mode").fetchone()[0]
    connection.close()
    assert mode == "wal"


def test_add_job_is_idempotent(outbox: Outbox) -> None:
    first, created = outbox.add_job(make_job())
    assert created and first.state == "queued" and first.percent == 0
    again, created_again = outbox.add_job(make_job())
    assert not created_again
    assert again == first
    assert len(outbox.jobs()) == 1


def test_a_known_job_keeps_its_state_when_sent_again(outbox: Outbox) -> None:
    outbox.add_job(make_job())
    outbox.start_cut("job-1", "clip-1")
    record, created = outbox.add_job(make_job())
    assert not created and record.state == "cutting" and record.clip_id == "clip-1"


def test_jobs_ordered_by_priority_then_arrival(outbox: Outbox) -> None:
    outbox.add_job(make_job("a", priority=3))
    outbox.add_job(make_job("b", priority=9))
    outbox.add_job(make_job("c", priority=3))
    outbox.add_job(make_job("d", priority=9))
    assert [r.job_id for r in outbox.jobs()] == ["b", "d", "a", "c"]
    outbox.fail_job("d", "refused")
    assert [r.job_id for r in outbox.jobs([JobState.QUEUED])] == ["b", "a", "c"]


def test_clip_lifecycle_to_stored(outbox: Outbox) -> None:
    outbox.add_job(make_job())
    outbox.start_cut("job-1", "clip-1")
    clip = outbox.add_clip(make_clip(outbox))
    assert clip.state == "offered" and clip.hub_held == ()
    job = outbox.job("job-1")
    assert job is not None and job.state == "uploading" and job.clip_id == "clip-1"
    assert [c.clip_id for c in outbox.pending_clips()] == ["clip-1"]

    receiving = outbox.clip_receiving("clip-1", [(0, 0)])
    assert receiving.state == "uploading" and receiving.hub_held == ((0, 0),)
    stored, job = outbox.clip_stored("clip-1")
    assert stored.state == "stored"
    assert job is not None and job.state == "stored" and job.percent == 100
    assert outbox.pending_clips() == []

    # Replayed acks change nothing that is done.
    again, _ = outbox.clip_stored("clip-1")
    assert again.state == "stored"
    rejected, job = outbox.clip_rejected("clip-1", "late")
    assert rejected.state == "stored"
    assert job is not None and job.state == "stored"
    assert outbox.clip_receiving("clip-1", []).state == "stored"


def test_add_clip_is_idempotent(outbox: Outbox) -> None:
    outbox.add_job(make_job())
    first = outbox.add_clip(make_clip(outbox))
    outbox.clip_receiving("clip-1", [(0, 0)])
    second = outbox.add_clip(make_clip(outbox))
    assert second.clip_id == first.clip_id and second.state == "uploading"
    assert len(outbox.clips()) == 1


def test_rejected_clip_fails_its_job_and_is_final(outbox: Outbox) -> None:
    outbox.add_job(make_job())
    outbox.add_clip(make_clip(outbox))
    clip, job = outbox.clip_rejected("clip-1", "signature does not verify")
    assert clip.state == "rejected" and clip.reason == "signature does not verify"
    assert job is not None and job.state == "failed"
    assert job.error is not None and "signature does not verify" in job.error
    stored, _ = outbox.clip_stored("clip-1")
    assert stored.state == "rejected"


def test_fail_job_does_not_undo_a_final_state(outbox: Outbox) -> None:
    outbox.add_job(make_job())
    outbox.add_clip(make_clip(outbox))
    outbox.clip_stored("clip-1")
    assert outbox.fail_job("job-1", "too late").state == "stored"


def test_state_survives_reopening(tmp_path: Path) -> None:
    box = Outbox(tmp_path)
    box.add_job(make_job("job-1"))
    box.add_job(make_job("job-2"))
    box.start_cut("job-2", "clip-9")
    box.add_clip(make_clip(box, "clip-1", "job-1"))
    box.clip_receiving("clip-1", [(0, 0)])
    box.close()

    reopened = Outbox(tmp_path)
    try:
        job1 = reopened.job("job-1")
        job2 = reopened.job("job-2")
        # No upload percent is kept at the agent: the hub works it out from the chunks it holds.
        assert job1 is not None and job1.state == "uploading" and job1.percent == 0
        assert job1.job == make_job("job-1")
        assert job2 is not None and job2.state == "cutting" and job2.clip_id == "clip-9"
        clip = reopened.clip("clip-1")
        assert clip is not None
        assert clip.hub_held == ((0, 0),)
        assert clip.manifest == make_clip(reopened).manifest
        assert clip.offer().chunk_count == 1
        requeued = reopened.requeue_job("job-2")
        assert requeued.state == "queued" and requeued.clip_id is None
    finally:
        reopened.close()


def test_unknown_ids_are_named_errors(outbox: Outbox) -> None:
    with pytest.raises(UnknownJob):
        outbox.start_cut("nope", "clip-1")
    with pytest.raises(UnknownClip):
        outbox.clip_stored("nope")
    with pytest.raises(UnknownJob):
        outbox.add_clip(make_clip(outbox, "clip-2", "no-such-job"))
    # The failed insert was rolled back with its transaction.
    assert outbox.clip("clip-2") is None


def test_clip_dir_refuses_ids_that_could_escape(outbox: Outbox) -> None:
    with pytest.raises(ValueError):
        outbox.clip_dir("../etc")
