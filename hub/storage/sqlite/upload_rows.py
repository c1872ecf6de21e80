"""Uploads in progress (and how each ended) in SQLite."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from cctv_common.wire.chunk_ranges import Range, from_ranges, to_ranges
from hub.domain.records import UploadRecord
from hub.storage.sql_session import SqlSession
from hub.storage.sqlite.rows import db_time, json_text, parse_db_time


def _upload(row: Mapping[str, Any]) -> UploadRecord:
    return UploadRecord(
        clip_id=row["clip_id"],
        site_id=row["site_id"],
        job_id=row["job_id"],
        offer=row["offer"],
        clip_sha256=row["clip_sha256"],
        clip_bytes=row["clip_bytes"],
        chunk_count=row["chunk_count"],
        chunk_size=row["chunk_size"],
        held=tuple((int(a), int(b)) for a, b in json.loads(row["held"])),
        state=row["state"],
        reason=row["reason"],
        created_at=parse_db_time(row["created_at"]),
        updated_at=parse_db_time(row["updated_at"]),
    )


def put_upload(db: SqlSession, upload: UploadRecord) -> None:
    """Insert an upload or replace the one with the same clip id."""
    db.execute(
        "INSERT INTO uploads (clip_id, site_id, job_id, offer, clip_sha256, clip_bytes,"
        " chunk_count, chunk_size, held, state, reason, created_at, updated_at)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (clip_id) DO UPDATE SET"
        " site_id = excluded.site_id, job_id = excluded.job_id, offer = excluded.offer,"
        " clip_sha256 = excluded.clip_sha256, clip_bytes = excluded.clip_bytes,"
        " chunk_count = excluded.chunk_count, chunk_size = excluded.chunk_size,"
        " held = excluded.held, state = excluded.state, reason = excluded.reason,"
        " created_at = excluded.created_at, updated_at = excluded.updated_at",
        [
            upload.clip_id,
            upload.site_id,
            upload.job_id,
            upload.offer,
            upload.clip_sha256,
            upload.clip_bytes,
            upload.chunk_count,
            upload.chunk_size,
            json_text([list(r) for r in upload.held]),
            upload.state,
            upload.reason,
            db_time(upload.created_at),
            db_time(upload.updated_at),
        ],
    )


def get_upload(db: SqlSession, clip_id: str) -> UploadRecord | None:
    rows = list(db.query("SELECT * FROM uploads WHERE clip_id = ?", [clip_id]))
    return _upload(rows[0]) if rows else None


def uploads_in_state(db: SqlSession, state: str) -> list[UploadRecord]:
    rows = db.query("SELECT * FROM uploads WHERE state = ? ORDER BY created_at", [state])
    return [_upload(row) for row in rows]


def set_upload_held(db: SqlSession, clip_id: str, held: Sequence[Range], now: datetime) -> None:
    db.execute(
        "UPDATE uploads SET held = ?, updated_at = ? WHERE clip_id = ? AND state = 'receiving'",
        [json_text([list(r) for r in held]), db_time(now), clip_id],
    )


def set_upload_state(
    db: SqlSession, clip_id: str, state: str, reason: str | None, now: datetime
) -> None:
    db.execute(
        "UPDATE uploads SET state = ?, reason = ?, updated_at = ? WHERE clip_id = ?",
        [state, reason, db_time(now), clip_id],
    )


def claim_upload_completion(
    db: SqlSession, clip_id: str, claimant: str, now: datetime, stale_before: datetime
) -> bool:
    """Make ``claimant`` the one process completing a receiving upload; False when another
    holds a claim made since ``stale_before`` (a claim older than that is taken over: its
    process died)."""
    cursor = db.execute(
        "UPDATE uploads SET completing_by = ?, completing_since = ?"
        " WHERE clip_id = ? AND state = 'receiving' AND (completing_by IS NULL"
        " OR completing_by = ? OR completing_since < ?)",
        [claimant, db_time(now), clip_id, claimant, db_time(stale_before)],
    )
    return cursor.rowcount == 1


def release_upload_completion(db: SqlSession, clip_id: str, claimant: str) -> None:
    """Give up ``claimant``'s claim (the completion failed; any process may try again)."""
    db.execute(
        "UPDATE uploads SET completing_by = NULL, completing_since = NULL"
        " WHERE clip_id = ? AND completing_by = ?",
        [clip_id, claimant],
    )


def merge_upload_held(
    db: SqlSession, clip_id: str, held: Sequence[Range], now: datetime
) -> tuple[Range, ...] | None:
    """Add ``held`` to what the upload's record holds (chunks any hub process received); the
    union, or None when the upload is no longer receiving."""
    upload = get_upload(db, clip_id)
    if upload is None or upload.state != "receiving":
        return None
    union = tuple(to_ranges(from_ranges(upload.held) | from_ranges(held), upload.chunk_count))
    if union != upload.held:
        set_upload_held(db, clip_id, union, now)
    return union
