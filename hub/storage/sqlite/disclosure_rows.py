"""The disclosure log and the requester's mail outbox, in SQLite."""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from hub.domain.request_records import OutboxMail
from hub.domain.requests.disclosure import DisclosureEntry
from hub.storage.sql_session import SqlSession
from hub.storage.sqlite.request_codec import entry_json, entry_of
from hub.storage.sqlite.rows import db_time, parse_db_time


def last_disclosure_number(db: SqlSession) -> int:
    row = db.execute("SELECT MAX(number) FROM disclosures").fetchone()
    return int(row[0] or 0)


def insert_disclosure(db: SqlSession, entry: DisclosureEntry) -> None:
    db.execute(
        "INSERT INTO disclosures (number, request_id, disclosed_at, entry) VALUES (?, ?, ?, ?)",
        [entry.number, entry.request, db_time(entry.disclosed_at), entry_json(entry)],
    )


def disclosures(db: SqlSession, request: str | None = None) -> list[DisclosureEntry]:
    if request is None:
        rows = db.query("SELECT entry FROM disclosures ORDER BY number")
    else:
        rows = db.query(
            "SELECT entry FROM disclosures WHERE request_id = ? ORDER BY number", [request]
        )
    return [entry_of(row["entry"]) for row in rows]


def _mail(row: Mapping[str, Any]) -> OutboxMail:
    return OutboxMail(
        id=row["id"],
        request=row["request_id"],
        step=row["step"],
        recipients=tuple(json.loads(row["recipients"])),
        subject=row["subject"],
        state=row["state"],
        created_at=parse_db_time(row["created_at"]),
    )


def insert_mail(
    db: SqlSession,
    request: str,
    step: str,
    recipients: tuple[str, ...],
    subject: str,
    state: str,
    now: datetime,
) -> int:
    cursor = db.execute(
        "INSERT INTO notification_outbox (request_id, step, recipients, subject, state,"
        " created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?) RETURNING id",
        [request, step, json.dumps(list(recipients)), subject, state, db_time(now), db_time(now)],
    )
    return int(cursor.fetchone()[0])


def set_mail_state(db: SqlSession, mail_id: int, state: str, now: datetime) -> None:
    db.execute(
        "UPDATE notification_outbox SET state = ?, updated_at = ? WHERE id = ?",
        [state, db_time(now), mail_id],
    )


def mails_for(db: SqlSession, request: str) -> list[OutboxMail]:
    rows = db.query("SELECT * FROM notification_outbox WHERE request_id = ? ORDER BY id", [request])
    return [_mail(row) for row in rows]
