"""Clip jobs in SQLite."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from cctv_common.wire.job_state import FINAL_STATES, JobState
from hub.domain.records import ClipJob, NotFound
from hub.storage.sql_session import SqlSession
from hub.storage.sqlite.rows import DEFAULT_LIST_LIMIT, db_time, parse_db_time


def _job(row: Mapping[str, Any]) -> ClipJob:
    return ClipJob(
        id=row["id"],
        site_id=row["site_id"],
        camera_id=row["camera_id"],
        start=parse_db_time(row["start"]),
        end=parse_db_time(row["end"]),
        reason=row["reason"],
        priority=row["priority"],
        requested_by=row["requested_by"],
        state=JobState(row["state"]),
        percent=row["percent"],
        error=row["error"],
        clip_id=row["clip_id"],
        created_at=parse_db_time(row["created_at"]),
        updated_at=parse_db_time(row["updated_at"]),
        source=row["source"],
    )


def insert_job(db: SqlSession, job: ClipJob) -> ClipJob:
    db.execute(
        'INSERT INTO jobs (id, site_id, camera_id, start, "end", reason, priority, requested_by,'
        " state, percent, error, clip_id, created_at, updated_at, source)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [
            job.id,
            job.site_id,
            job.camera_id,
            db_time(job.start),
            db_time(job.end),
            job.reason,
            job.priority,
            job.requested_by,
            job.state,
            job.percent,
            job.error,
            job.clip_id,
            db_time(job.created_at),
            db_time(job.updated_at),
            job.source,
        ],
    )
    return job


def get_job(db: SqlSession, job_id: str) -> ClipJob | None:
    rows = list(db.query("SELECT * FROM jobs WHERE id = ?", [job_id]))
    return _job(rows[0]) if rows else None


def list_jobs(
    db: SqlSession, *, requested_by: str | None = None, limit: int = DEFAULT_LIST_LIMIT
) -> list[ClipJob]:
    if requested_by is None:
        rows = db.query("SELECT * FROM jobs ORDER BY created_at DESC LIMIT ?", [limit])
    else:
        rows = db.query(
            "SELECT * FROM jobs WHERE requested_by = ? ORDER BY created_at DESC LIMIT ?",
            [requested_by, limit],
        )
    return [_job(row) for row in rows]


def open_jobs(db: SqlSession) -> list[ClipJob]:
    states = sorted(FINAL_STATES)
    rows = db.query(
        f"SELECT * FROM jobs WHERE state NOT IN ({', '.join('?' * len(states))})"  # noqa: S608
        " ORDER BY created_at",
        states,
    )
    return [_job(row) for row in rows]


def jobs_ended_since(db: SqlSession, since: datetime) -> list[ClipJob]:
    states = sorted(FINAL_STATES)
    rows = db.query(
        f"SELECT * FROM jobs WHERE state IN ({', '.join('?' * len(states))})"  # noqa: S608
        " AND updated_at >= ? ORDER BY updated_at",
        [*states, db_time(since)],
    )
    return [_job(row) for row in rows]


def last_stored_by_camera(db: SqlSession, since: datetime) -> dict[tuple[str, str], datetime]:
    """(site, camera) -> when its newest job stored since ``since`` ended: one row per camera,
    however many jobs (the fleet sweep runs every minute; it used to load every such job)."""
    rows = db.query(
        "SELECT site_id, camera_id, MAX(updated_at) AS last FROM jobs"
        " WHERE state = ? AND updated_at >= ? GROUP BY site_id, camera_id",
        [JobState.STORED.value, db_time(since)],
    )
    return {(row["site_id"], row["camera_id"]): parse_db_time(row["last"]) for row in rows}


def update_job(
    db: SqlSession,
    job_id: str,
    *,
    state: JobState,
    percent: int,
    error: str | None,
    clip_id: str | None,
    now: datetime,
) -> ClipJob:
    db.execute(
        "UPDATE jobs SET state = ?, percent = ?, error = ?, clip_id = ?, updated_at = ?"
        " WHERE id = ?",
        [state, percent, error, clip_id, db_time(now), job_id],
    )
    job = get_job(db, job_id)
    if job is None:
        raise NotFound(f"job {job_id} does not exist")
    return job


def job_owners(db: SqlSession) -> list[dict[str, Any]]:
    """Every job's id and requester, as stored (for the custody check)."""
    # In a named order, as custody_fields: the custody report lists its problems in this order.
    return [dict(row) for row in db.query("SELECT id, requested_by FROM jobs ORDER BY id")]
