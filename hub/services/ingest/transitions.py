"""What an upload does to its clip job and the custody log, one transaction each.

Each function runs inside ``HubDatabase.awrite`` (the caller's transaction): the upload's record,
the job's move (``cctv_common.wire.job_state``) and the custody row land together or not at all.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from cctv_common.wire.chunk_ranges import Range, held_count
from cctv_common.wire.job_state import JobState, can_move
from hub.domain.ingest_rules import upload_percent
from hub.domain.records import ClipJob, EvidenceItem, UploadRecord
from hub.services.custody import CustodyAction
from hub.services.ingest.session import UploadSession
from hub.storage.ports import UnitOfWork


def begin_upload_in(
    uow: UnitOfWork, *, record: UploadRecord, job: ClipJob, now: datetime
) -> ClipJob:
    """Record a new upload; its job moves to ``uploading`` unless it has ended."""
    clip_id = record.clip_id
    uow.uploads.put(record)
    current = uow.jobs.get(job.id)
    if current is None or current.is_terminal:
        return current or job
    return uow.jobs.move(
        job.id,
        state=JobState.UPLOADING,
        percent=current.percent if current.state is JobState.UPLOADING else 0,
        error=None,
        clip_id=clip_id,
        now=now,
    )


def record_stored_in(
    uow: UnitOfWork, *, actor: str, upload: UploadSession, key: str, now: datetime
) -> tuple[ClipJob | None, bool]:
    """The evidence item, the upload ``stored``, the job ``stored`` and the custody row; the job
    after and whether the item is new."""
    site_id, clip_id = upload.site_id, upload.clip_id
    manifest, offer = upload.manifest, upload.offer
    if uow.evidence.get(clip_id) is not None:
        return uow.jobs.get(upload.job.id), False
    job = uow.jobs.get(upload.job.id)
    requested_by = job.requested_by if job is not None else upload.job.requested_by
    uow.evidence.add(
        EvidenceItem(
            clip_id=clip_id,
            sha256=offer.clip_sha256,
            store_key=key,
            site_id=site_id,
            camera_id=manifest.camera.id,
            job_id=upload.job.id,
            requested_by=requested_by,
            manifest=offer.manifest,
            signature=offer.signature,
            key_id=manifest.key_id,
            bytes=offer.clip_bytes,
            delivered_start=manifest.delivered.start,
            delivered_end=manifest.delivered.end,
            codec=manifest.codec,
            width=manifest.width,
            height=manifest.height,
            stored_at=now,
        ),
    )
    uow.uploads.set_state(clip_id, "stored", None, now)
    job_after = None
    if job is not None:
        job_after = uow.jobs.move(
            job.id,
            state=JobState.STORED,
            percent=100,
            error=None,
            clip_id=clip_id,
            now=now,
        )
    uow.custody.append(
        actor,
        CustodyAction.STORED,
        f"clip:{clip_id}",
        {
            "site_id": site_id,
            "job_id": upload.job.id,
            "sha256": offer.clip_sha256,
            "bytes": offer.clip_bytes,
            "key_id": manifest.key_id,
        },
        at=now,
    )
    return job_after, True


def record_rejection_in(
    uow: UnitOfWork,
    *,
    actor: str,
    site_id: str,
    clip_id: str,
    job_id: str | None,
    reason: str,
    now: datetime,
) -> ClipJob | None:
    """A custody row for the rejection, and the job failed if it may still fail; the failed job."""
    failed = None
    job = None if job_id is None else uow.jobs.get(job_id)
    if job is not None and job.site_id == site_id and can_move(job.state, JobState.FAILED):
        if job.state is not JobState.FAILED or job.error != reason:
            failed = uow.jobs.move(
                job.id,
                state=JobState.FAILED,
                percent=100,
                error=reason,
                clip_id=clip_id,
                now=now,
            )
    uow.custody.append(
        actor,
        CustodyAction.REJECTED,
        f"clip:{clip_id}",
        {"site_id": site_id, "job_id": job_id, "reason": reason},
        at=now,
    )
    return failed


def fail_job_in(uow: UnitOfWork, *, job_id: str, reason: str, now: datetime) -> ClipJob | None:
    """The job failed with ``reason`` unless it has ended; the failed job."""
    job = uow.jobs.get(job_id)
    if job is None or job.is_terminal:
        return None
    return uow.jobs.move(
        job_id,
        state=JobState.FAILED,
        percent=100,
        error=reason,
        clip_id=job.clip_id,
        now=now,
    )


def record_held_in(
    uow: UnitOfWork,
    *,
    clip_id: str,
    job_id: str,
    held: Sequence[Range],
    chunk_count: int,
    replace: bool,
    now: datetime,
) -> tuple[Range, ...] | None:
    """Record the chunks this process holds and set the job's percent from all chunks held.

    ``replace`` after chunks were found bad on disk (they must not come back from the record);
    otherwise the record keeps the union of what every hub process received. None when the
    upload has ended (another process stored, rejected or expired it).
    """
    merged: tuple[Range, ...] | None
    if replace:
        record = uow.uploads.get(clip_id)
        if record is None or record.state != "receiving":
            return None
        uow.uploads.set_held(clip_id, held, now)
        merged = tuple(held)
    else:
        merged = uow.uploads.merge_held(clip_id, held, now)
        if merged is None:
            return None
    job = uow.jobs.get(job_id)
    if job is not None and job.state is JobState.UPLOADING:
        percent = upload_percent(held_count(merged), chunk_count)
        if percent != job.percent:
            uow.jobs.move(
                job_id,
                state=JobState.UPLOADING,
                percent=percent,
                error=None,
                clip_id=job.clip_id,
                now=now,
            )
    return merged
