"""Derived items and exhibit references (issue 12) in SQLite."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any, Final

from hub.domain.derived_items import DerivedItem, DerivedState
from hub.domain.exhibit_numbers import ExhibitReference
from hub.domain.records import NotFound
from hub.storage.sql_session import SqlSession
from hub.storage.sqlite.rows import db_time, json_text, opt_time, parse_db_time

_DERIVED_SQL: Final = "SELECT * FROM derived_items"
_REFERENCES_SQL: Final = "SELECT * FROM exhibit_references"


def _derived(row: Mapping[str, Any]) -> DerivedItem:
    manifest = row["manifest"]
    return DerivedItem(
        id=row["id"],
        clip_id=row["clip_id"],
        source_sha256=row["source_sha256"],
        operation=row["operation"],
        state=DerivedState(row["state"]),
        created_by=row["created_by"],
        created_at=parse_db_time(row["created_at"]),
        reason=row["reason"],
        plan=json.loads(row["plan"]),
        error=row["error"],
        sha256=row["sha256"],
        size=row["bytes"],
        manifest=None if manifest is None else bytes(manifest),
        signature=row["signature"],
        finished_at=opt_time(row["finished_at"]),
        progress=row["progress"],
        deleted_at=opt_time(row["deleted_at"]),
    )


def insert_derived(db: SqlSession, item: DerivedItem) -> None:
    db.execute(
        "INSERT INTO derived_items (id, clip_id, source_sha256, operation, state, created_by,"
        " created_at, reason, plan) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [
            item.id,
            item.clip_id,
            item.source_sha256,
            item.operation,
            item.state.value,
            item.created_by,
            db_time(item.created_at),
            item.reason,
            json_text(item.plan),
        ],
    )


def get_derived(db: SqlSession, derived_id: str) -> DerivedItem | None:
    rows = list(db.query("SELECT * FROM derived_items WHERE id = ?", [derived_id]))
    return _derived(rows[0]) if rows else None


def derived_of(db: SqlSession, clip_ids: Sequence[str]) -> list[DerivedItem]:
    if not clip_ids:
        return []
    marks = ", ".join("?" for _ in clip_ids)
    rows = db.query(
        f"{_DERIVED_SQL} WHERE clip_id IN ({marks}) ORDER BY created_at, id",
        list(clip_ids),
    )
    return [_derived(row) for row in rows]


def derived_in_state(db: SqlSession, state: DerivedState) -> list[DerivedItem]:
    rows = db.query(
        "SELECT * FROM derived_items WHERE state = ? ORDER BY created_at", [state.value]
    )
    return [_derived(row) for row in rows]


def finish_derived(
    db: SqlSession,
    derived_id: str,
    *,
    sha256: str,
    size: int,
    manifest: bytes,
    signature: str,
    now: datetime,
) -> DerivedItem:
    cursor = db.execute(
        "UPDATE derived_items SET state = 'ready', sha256 = ?, bytes = ?, manifest = ?,"
        " signature = ?, finished_at = ?, error = NULL WHERE id = ? AND state = 'working'",
        [sha256, size, manifest, signature, db_time(now), derived_id],
    )
    if cursor.rowcount != 1:
        raise NotFound(f"no derived item {derived_id} being made")
    found = get_derived(db, derived_id)
    assert found is not None
    return found


def fail_derived(db: SqlSession, derived_id: str, error: str, now: datetime) -> None:
    db.execute(
        "UPDATE derived_items SET state = 'failed', error = ?, finished_at = ?"
        " WHERE id = ? AND state = 'working'",
        [error[:2000], db_time(now), derived_id],
    )


def derived_live_with_key(db: SqlSession, store_key: str) -> list[DerivedItem]:
    rows = db.query(
        f"{_DERIVED_SQL} WHERE sha256 = ? AND state = 'ready' AND deleted_at IS NULL", [store_key]
    )
    return [_derived(row) for row in rows]


def set_progress(db: SqlSession, derived_id: str, percent: int) -> None:
    db.execute(
        "UPDATE derived_items SET progress = ? WHERE id = ? AND state = 'working'",
        [percent, derived_id],
    )


def delete_derived(db: SqlSession, derived_id: str, now: datetime) -> None:
    db.execute(
        "UPDATE derived_items SET deleted_at = ? WHERE id = ? AND deleted_at IS NULL",
        [db_time(now), derived_id],
    )


def _reference(row: Mapping[str, Any]) -> ExhibitReference:
    return ExhibitReference(
        clip_id=row["clip_id"],
        request=row["request_id"],
        reference=row["reference"],
        producer=row["producer"],
        assigned_at=parse_db_time(row["assigned_at"]),
    )


def insert_reference(db: SqlSession, reference: ExhibitReference) -> None:
    db.execute(
        "INSERT INTO exhibit_references (clip_id, request_id, reference, producer, assigned_at)"
        " VALUES (?, ?, ?, ?, ?)",
        [
            reference.clip_id,
            reference.request,
            reference.reference,
            reference.producer,
            db_time(reference.assigned_at),
        ],
    )


def references_of(db: SqlSession, clip_ids: Sequence[str]) -> dict[str, ExhibitReference]:
    if not clip_ids:
        return {}
    marks = ", ".join("?" for _ in clip_ids)
    rows = db.query(f"{_REFERENCES_SQL} WHERE clip_id IN ({marks})", list(clip_ids))
    return {row["clip_id"]: _reference(row) for row in rows}


def producer_count(db: SqlSession, producer: str) -> int:
    row = db.execute(
        "SELECT COUNT(*) FROM exhibit_references WHERE producer = ?", [producer]
    ).fetchone()
    return int(row[0])


def reference_taken(db: SqlSession, reference: str) -> bool:
    row = db.execute("SELECT 1 FROM exhibit_references WHERE reference = ?", [reference]).fetchone()
    return row is not None
