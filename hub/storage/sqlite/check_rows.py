"""The last integrity check of each stored object in SQLite (``evidence_checks``).

One row per store key (content-addressed, so items with the same bytes share it): when it was
last hashed against its SHA-256, whether it matched, and what was wrong if not. A row with
``ok = 0`` marks the object damaged: nothing serves it as evidence until a later check passes.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any, Final

from hub.domain.records import EvidenceCheck, StoredObject
from hub.storage.sql_session import SqlSession
from hub.storage.sqlite.rows import db_time, parse_db_time

MAX_PROBLEM_CHARS: Final = 500


def _check(row: Mapping[str, Any]) -> EvidenceCheck:
    return EvidenceCheck(
        store_key=row["store_key"],
        checked_at=parse_db_time(row["checked_at"]),
        ok=bool(row["ok"]),
        problem=row["problem"],
        checked_by=row["checked_by"],
    )


def get_check(db: SqlSession, store_key: str) -> EvidenceCheck | None:
    rows = list(db.query("SELECT * FROM evidence_checks WHERE store_key = ?", [store_key]))
    return _check(rows[0]) if rows else None


def checks_for(db: SqlSession, store_keys: Iterable[str]) -> dict[str, EvidenceCheck]:
    keys = sorted(set(store_keys))
    found: dict[str, EvidenceCheck] = {}
    for start in range(0, len(keys), 500):  # SQLite's limit on bound parameters
        part = keys[start : start + 500]
        marks = ", ".join("?" * len(part))
        query = f"SELECT * FROM evidence_checks WHERE store_key IN ({marks})"  # noqa: S608
        for row in db.query(query, part):
            found[row["store_key"]] = _check(row)
    return found


def put_check(db: SqlSession, check: EvidenceCheck) -> EvidenceCheck | None:
    """Record a check; returns the one it replaces (so the caller sees a change of state)."""
    previous = get_check(db, check.store_key)
    db.execute(
        "INSERT INTO evidence_checks (store_key, checked_at, ok, problem, checked_by)"
        " VALUES (?, ?, ?, ?, ?) ON CONFLICT (store_key) DO UPDATE SET"
        " checked_at = excluded.checked_at, ok = excluded.ok, problem = excluded.problem,"
        " checked_by = excluded.checked_by",
        [
            check.store_key,
            db_time(check.checked_at),
            int(check.ok),
            None if check.problem is None else check.problem[:MAX_PROBLEM_CHARS],
            check.checked_by,
        ],
    )
    return previous


def objects_to_check(
    db: SqlSession, *, checked_before: datetime | None = None
) -> list[StoredObject]:
    """Every object of a live (not deleted) item - a clip, a ready derived item, an outside
    item - least recently checked first (``clip_ids`` names them: clip, DRV- or OUT- ids).

    ``checked_before``: only objects never checked, or last checked before then.
    """
    rows = db.query(
        "SELECT e.store_key, e.sha256, e.bytes, group_concat(e.item, ' ') AS clips,"
        " c.checked_at FROM ("
        "  SELECT store_key, sha256, bytes, clip_id AS item FROM evidence_items"
        "   WHERE deleted_at IS NULL"
        "  UNION ALL SELECT sha256, sha256, bytes, id FROM derived_items"
        "   WHERE state = 'ready' AND deleted_at IS NULL"
        "  UNION ALL SELECT store_key, sha256, bytes, id FROM outside_items"
        "   WHERE deleted_at IS NULL"
        " ) e LEFT JOIN evidence_checks c ON c.store_key = e.store_key"
        # c.checked_at is one per store_key (its key); PostgreSQL wants it named in GROUP BY
        " GROUP BY e.store_key, e.sha256, e.bytes, c.checked_at"
        " ORDER BY c.checked_at IS NOT NULL, c.checked_at"
    )
    out = []
    for row in rows:
        checked = None if row["checked_at"] is None else parse_db_time(row["checked_at"])
        if checked_before is not None and checked is not None and checked >= checked_before:
            continue
        out.append(
            StoredObject(
                store_key=row["store_key"],
                sha256=row["sha256"],
                bytes=row["bytes"],
                clip_ids=tuple(sorted(str(row["clips"]).split())),
                checked_at=checked,
            )
        )
    return out
