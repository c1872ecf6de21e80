"""Users and their login sessions in SQLite."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from hub.domain.acl import Role
from hub.domain.records import UserRecord
from hub.storage.sql_session import SqlSession
from hub.storage.sqlite.rows import db_time


def user_of(row: Mapping[str, Any]) -> UserRecord:
    return UserRecord(
        username=row["username"],
        role=Role(row["role"]),
        password_hash=row["password_hash"],
        source=row["source"],
        disabled=bool(row["disabled"]),
        display_name=row["display_name"],
        email=row["email"],
        force=row["force"],
        collar_number=row["collar_number"],
    )


def sync_config_users(
    db: SqlSession, users: Iterable[tuple[str, Role, str]], now: datetime
) -> None:
    """Make the config's users exist as given; config users no longer in the config are disabled."""
    wanted = {name: (role, password_hash) for name, role, password_hash in users}
    for name, (role, password_hash) in wanted.items():
        db.execute(
            "INSERT INTO users (username, role, password_hash, source, disabled, created_at,"
            " updated_at) VALUES (?, ?, ?, 'config', 0, ?, ?) ON CONFLICT (username) DO UPDATE"
            " SET role = excluded.role, password_hash = excluded.password_hash, source = 'config',"
            " disabled = 0, updated_at = excluded.updated_at",
            [name, role.value, password_hash, db_time(now), db_time(now)],
        )
    for row in db.query("SELECT username FROM users WHERE source = 'config' AND disabled = 0"):
        if row["username"] not in wanted:
            db.execute(
                "UPDATE users SET disabled = 1, updated_at = ? WHERE username = ?",
                [db_time(now), row["username"]],
            )
            db.execute("DELETE FROM sessions WHERE username = ?", [row["username"]])


def get_user(db: SqlSession, username: str) -> UserRecord | None:
    rows = list(db.query("SELECT * FROM users WHERE username = ?", [username]))
    return user_of(rows[0]) if rows else None


def create_session(
    db: SqlSession, token_hash: str, username: str, now: datetime, expires_at: datetime
) -> None:
    db.execute("DELETE FROM sessions WHERE expires_at < ?", [db_time(now)])
    db.execute(
        "INSERT INTO sessions (token_hash, username, created_at, expires_at) VALUES (?, ?, ?, ?)",
        [token_hash, username, db_time(now), db_time(expires_at)],
    )


def session_user(db: SqlSession, token_hash: str, now: datetime) -> UserRecord | None:
    rows = list(
        db.query(
            "SELECT users.* FROM sessions JOIN users ON users.username = sessions.username"
            " WHERE sessions.token_hash = ? AND sessions.expires_at > ? AND users.disabled = 0",
            [token_hash, db_time(now)],
        )
    )
    return user_of(rows[0]) if rows else None


def delete_session(db: SqlSession, token_hash: str) -> None:
    db.execute("DELETE FROM sessions WHERE token_hash = ?", [token_hash])


def some_active_password_hash(db: SqlSession) -> str | None:
    """The password hash of one active user (its scrypt cost is the users' cost), or None."""
    row = db.execute("SELECT password_hash FROM users WHERE disabled = 0 LIMIT 1").fetchone()
    return None if row is None else str(row[0])
