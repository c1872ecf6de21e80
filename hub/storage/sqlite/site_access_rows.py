"""Sites' enrollment tokens (their hashes) and broker logins (Mosquitto hashes) in SQLite."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from hub.domain.enrollment import SiteAccess
from hub.storage.sql_session import SqlSession
from hub.storage.sqlite.rows import db_time, opt_time, parse_db_time

MIGRATION: Final[tuple[str, ...]] = (
    """CREATE TABLE site_access (
        site_id TEXT PRIMARY KEY,
        name TEXT NOT NULL DEFAULT '',
        token_hash TEXT NOT NULL UNIQUE,
        token_expires_at TEXT NOT NULL,
        created_at TEXT NOT NULL,
        created_by TEXT NOT NULL,
        enrolled_at TEXT,
        broker_password_hash TEXT,
        revoked_at TEXT,
        revoked_by TEXT
    )""",
)


def _access(row: Mapping[str, Any]) -> SiteAccess:
    return SiteAccess(
        site_id=row["site_id"],
        name=row["name"],
        token_hash=row["token_hash"],
        token_expires_at=parse_db_time(row["token_expires_at"]),
        created_at=parse_db_time(row["created_at"]),
        created_by=row["created_by"],
        enrolled_at=opt_time(row["enrolled_at"]),
        broker_password_hash=row["broker_password_hash"],
        revoked_at=opt_time(row["revoked_at"]),
        revoked_by=row["revoked_by"],
    )


def get_access(db: SqlSession, site_id: str) -> SiteAccess | None:
    rows = list(db.query("SELECT * FROM site_access WHERE site_id = ?", [site_id]))
    return _access(rows[0]) if rows else None


def access_by_token(db: SqlSession, token_hash: str) -> SiteAccess | None:
    rows = list(db.query("SELECT * FROM site_access WHERE token_hash = ?", [token_hash]))
    return _access(rows[0]) if rows else None


def all_access(db: SqlSession) -> list[SiteAccess]:
    return [_access(row) for row in db.query("SELECT * FROM site_access ORDER BY site_id")]


def put_access(db: SqlSession, access: SiteAccess) -> None:
    """Insert or replace the site's row."""
    db.execute(
        "INSERT INTO site_access (site_id, name, token_hash, token_expires_at, created_at,"
        " created_by, enrolled_at, broker_password_hash, revoked_at, revoked_by)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (site_id) DO UPDATE SET"
        " name = excluded.name, token_hash = excluded.token_hash,"
        " token_expires_at = excluded.token_expires_at, created_at = excluded.created_at,"
        " created_by = excluded.created_by, enrolled_at = excluded.enrolled_at,"
        " broker_password_hash = excluded.broker_password_hash,"
        " revoked_at = excluded.revoked_at, revoked_by = excluded.revoked_by",
        [
            access.site_id,
            access.name,
            access.token_hash,
            db_time(access.token_expires_at),
            db_time(access.created_at),
            access.created_by,
            None if access.enrolled_at is None else db_time(access.enrolled_at),
            access.broker_password_hash,
            None if access.revoked_at is None else db_time(access.revoked_at),
            access.revoked_by,
        ],
    )
