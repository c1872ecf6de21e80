"""Failed logins per client address and per known user in SQLite (``login_throttle``)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from hub.domain.records import ThrottleEntry
from hub.storage.sql_session import SqlSession
from hub.storage.sqlite.rows import db_time, parse_db_time


def _entry(row: Mapping[str, Any]) -> ThrottleEntry:
    return ThrottleEntry(
        kind=row["kind"],
        key=row["key"],
        failures=int(row["failures"]),
        last_failure=parse_db_time(row["last_failure"]),
        next_allowed=parse_db_time(row["next_allowed"]),
    )


def get_entry(db: SqlSession, kind: str, key: str) -> ThrottleEntry | None:
    rows = list(db.query("SELECT * FROM login_throttle WHERE kind = ? AND key = ?", [kind, key]))
    return _entry(rows[0]) if rows else None


def get_entries(
    db: SqlSession, keys: Sequence[tuple[str, str]]
) -> dict[tuple[str, str], ThrottleEntry]:
    """The entries of several (kind, key) pairs in one query (one round trip on PostgreSQL)."""
    if not keys:
        return {}
    where = " OR ".join("(kind = ? AND key = ?)" for _ in keys)
    params = [part for pair in keys for part in pair]
    rows = db.query(f"SELECT * FROM login_throttle WHERE {where}", params)  # noqa: S608
    return {(entry.kind, entry.key): entry for entry in map(_entry, rows)}


def put_entry(db: SqlSession, entry: ThrottleEntry) -> None:
    db.execute(
        "INSERT INTO login_throttle (kind, key, failures, last_failure, next_allowed)"
        " VALUES (?, ?, ?, ?, ?) ON CONFLICT (kind, key) DO UPDATE SET"
        " failures = excluded.failures, last_failure = excluded.last_failure,"
        " next_allowed = excluded.next_allowed",
        [
            entry.kind,
            entry.key,
            entry.failures,
            db_time(entry.last_failure),
            db_time(entry.next_allowed),
        ],
    )


def clear_entry(db: SqlSession, kind: str, key: str) -> None:
    db.execute("DELETE FROM login_throttle WHERE kind = ? AND key = ?", [kind, key])


def bound_addresses(db: SqlSession, limit: int) -> int:
    """Forget the longest-idle address rows beyond ``limit``; returns how many were dropped."""
    count = int(
        db.execute("SELECT COUNT(*) FROM login_throttle WHERE kind = 'address'").fetchone()[0]
    )
    excess = count - limit
    if excess <= 0:
        return 0
    db.execute(
        "DELETE FROM login_throttle WHERE kind = 'address' AND key IN (SELECT key FROM"
        " login_throttle WHERE kind = 'address' ORDER BY last_failure LIMIT ?)",
        [excess],
    )
    return excess
