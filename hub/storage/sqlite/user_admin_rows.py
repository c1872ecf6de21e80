"""Users kept in the database (``cctv-hub users`` and /api/users), beside the config's users."""

from __future__ import annotations

from datetime import datetime

from hub.domain.acl import Role
from hub.domain.records import UserRecord
from hub.storage.sql_session import SqlSession
from hub.storage.sqlite.rows import db_time
from hub.storage.sqlite.user_rows import get_user, user_of


def add_user(db: SqlSession, user: UserRecord, now: datetime) -> None:
    db.execute(
        "INSERT INTO users (username, role, password_hash, source, disabled, created_at,"
        " updated_at, display_name, email, force, collar_number)"
        " VALUES (?, ?, ?, 'db', 0, ?, ?, ?, ?, ?, ?)",
        [
            user.username,
            user.role.value,
            user.password_hash,
            db_time(now),
            db_time(now),
            user.display_name,
            user.email,
            user.force,
            user.collar_number,
        ],
    )


def list_users(db: SqlSession) -> list[UserRecord]:
    return [user_of(row) for row in db.query("SELECT * FROM users ORDER BY username")]


def set_user_disabled(db: SqlSession, username: str, disabled: bool, now: datetime) -> None:
    db.execute(
        "UPDATE users SET disabled = ?, updated_at = ? WHERE username = ?",
        [int(disabled), db_time(now), username],
    )
    if disabled:
        db.execute("DELETE FROM sessions WHERE username = ?", [username])


def set_user_password(db: SqlSession, username: str, password_hash: str, now: datetime) -> None:
    db.execute(
        "UPDATE users SET password_hash = ?, updated_at = ? WHERE username = ?",
        [password_hash, db_time(now), username],
    )
    db.execute("DELETE FROM sessions WHERE username = ?", [username])


def users_with_role(db: SqlSession, role: Role) -> list[UserRecord]:
    rows = db.query(
        "SELECT * FROM users WHERE role = ? AND disabled = 0 ORDER BY username", [role.value]
    )
    return [user_of(row) for row in rows]


__all__ = ["add_user", "get_user", "list_users", "set_user_disabled", "set_user_password"]
