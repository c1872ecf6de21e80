"""Evidence items in SQLite."""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping, Sequence
from datetime import datetime
from typing import Any, Final

from hub.domain.records import DeliveryFacts, EvidenceItem, StoredClipKey
from hub.storage.sql_session import SqlSession
from hub.storage.sqlite.rows import DEFAULT_LIST_LIMIT, db_time, opt_time, parse_db_time


def _evidence(row: Mapping[str, Any]) -> EvidenceItem:
    return EvidenceItem(
        clip_id=row["clip_id"],
        sha256=row["sha256"],
        store_key=row["store_key"],
        site_id=row["site_id"],
        camera_id=row["camera_id"],
        job_id=row["job_id"],
        requested_by=row["requested_by"],
        manifest=row["manifest"],
        signature=row["signature"],
        key_id=row["key_id"],
        bytes=row["bytes"],
        delivered_start=parse_db_time(row["delivered_start"]),
        delivered_end=parse_db_time(row["delivered_end"]),
        codec=row["codec"],
        width=row["width"],
        height=row["height"],
        stored_at=parse_db_time(row["stored_at"]),
        category=row["category"],
        retention_until=opt_time(row["retention_until"]),
        legal_hold=bool(row["legal_hold"]),
        deleted_at=opt_time(row.get("deleted_at")),
        deleted_by=row.get("deleted_by"),
    )


def insert_evidence(db: SqlSession, item: EvidenceItem) -> None:
    db.execute(
        "INSERT INTO evidence_items (clip_id, sha256, store_key, site_id, camera_id, job_id,"
        " requested_by, manifest, signature, key_id, bytes, delivered_start, delivered_end, codec,"
        " width, height, stored_at, category, retention_until, legal_hold)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [
            item.clip_id,
            item.sha256,
            item.store_key,
            item.site_id,
            item.camera_id,
            item.job_id,
            item.requested_by,
            item.manifest,
            item.signature,
            item.key_id,
            item.bytes,
            db_time(item.delivered_start),
            db_time(item.delivered_end),
            item.codec,
            item.width,
            item.height,
            db_time(item.stored_at),
            item.category,
            None if item.retention_until is None else db_time(item.retention_until),
            int(item.legal_hold),
        ],
    )


def get_evidence(db: SqlSession, clip_id: str) -> EvidenceItem | None:
    rows = list(db.query("SELECT * FROM evidence_items WHERE clip_id = ?", [clip_id]))
    return _evidence(rows[0]) if rows else None


def evidence_for_job(db: SqlSession, job_id: str) -> list[EvidenceItem]:
    rows = db.query("SELECT * FROM evidence_items WHERE job_id = ? ORDER BY stored_at", [job_id])
    return [_evidence(row) for row in rows]


def list_evidence(
    db: SqlSession, *, requested_by: str | None = None, limit: int = DEFAULT_LIST_LIMIT
) -> list[EvidenceItem]:
    if requested_by is None:
        rows = db.query("SELECT * FROM evidence_items ORDER BY stored_at DESC LIMIT ?", [limit])
    else:
        rows = db.query(
            "SELECT * FROM evidence_items WHERE requested_by = ? ORDER BY stored_at DESC LIMIT ?",
            [requested_by, limit],
        )
    return [_evidence(row) for row in rows]


def set_evidence_owner(db: SqlSession, clip_id: str, owner: str) -> None:
    db.execute("UPDATE evidence_items SET requested_by = ? WHERE clip_id = ?", [owner, clip_id])


def set_evidence_hold(db: SqlSession, clip_id: str, hold: bool) -> None:
    db.execute("UPDATE evidence_items SET legal_hold = ? WHERE clip_id = ?", [int(hold), clip_id])


def mark_evidence_deleted(db: SqlSession, clip_id: str, actor: str, now: datetime) -> None:
    db.execute(
        "UPDATE evidence_items SET deleted_at = ?, deleted_by = ? WHERE clip_id = ?",
        [db_time(now), actor, clip_id],
    )


def live_clips_with_key(db: SqlSession, store_key: str) -> list[str]:
    rows = db.query(
        "SELECT clip_id FROM evidence_items WHERE store_key = ? AND deleted_at IS NULL"
        " ORDER BY clip_id",
        [store_key],
    )
    return [row["clip_id"] for row in rows]


# SQLite's default limit on host parameters is far higher; lists of jobs are at most 1000 long.
_BATCH: Final = 500
_KEYS_SQL: Final = "SELECT clip_id, sha256, job_id FROM evidence_items"
_FACTS_SQL: Final = (
    "SELECT clip_id, json_extract(manifest, '$.requested') AS requested,"
    " json_extract(manifest, '$.delivered') AS delivered,"
    " json_extract(manifest, '$.gaps') AS gaps,"
    " json_extract(manifest, '$.frames') AS frames,"
    " json_extract(manifest, '$.nvr') AS nvr FROM evidence_items"
)


def _batches(clip_ids: Sequence[str]) -> Iterator[tuple[str, list[str]]]:
    for first in range(0, len(clip_ids), _BATCH):
        batch = list(clip_ids[first : first + _BATCH])
        yield ", ".join("?" * len(batch)), batch


def stored_keys(db: SqlSession, clip_ids: Sequence[str]) -> list[StoredClipKey]:
    found: list[StoredClipKey] = []
    for marks, batch in _batches(clip_ids):
        rows = db.query(f"{_KEYS_SQL} WHERE clip_id IN ({marks})", batch)
        found.extend(StoredClipKey(row["clip_id"], row["sha256"], row["job_id"]) for row in rows)
    return found


def _number(value: Any) -> Any:
    """A manifest number as read: SQLite's ``json_extract`` gives it as a number, PostgreSQL's
    ``->>`` (its translation) as text."""
    if isinstance(value, str):
        try:
            return json.loads(value)
        except ValueError:
            return value
    return value


def delivery_facts(db: SqlSession, clip_ids: Sequence[str]) -> list[DeliveryFacts]:
    """What a delivery is worked out from, read by SQLite's ``json_extract`` so that a long
    manifest's list of source segments is not parsed for it."""
    found: list[DeliveryFacts] = []
    for marks, batch in _batches(clip_ids):
        rows = db.query(f"{_FACTS_SQL} WHERE clip_id IN ({marks})", batch)
        found.extend(
            DeliveryFacts(
                clip_id=row["clip_id"],
                requested=json.loads(row["requested"] or "null"),
                delivered=json.loads(row["delivered"] or "null"),
                gaps=json.loads(row["gaps"] or "[]"),
                frames=_number(row["frames"]),
                nvr=json.loads(row["nvr"] or "null"),
            )
            for row in rows
        )
    return found


def custody_fields(db: SqlSession) -> list[dict[str, Any]]:
    """Every item's fields the custody log speaks for, as stored."""
    return [
        dict(row)
        for row in db.query(
            # In a named order: PostgreSQL returns rows in no set order (an updated row moves),
            # and the custody report lists its problems in this order.
            "SELECT clip_id, job_id, sha256, bytes, requested_by, legal_hold, deleted_at"
            " FROM evidence_items ORDER BY clip_id"
        )
    ]
