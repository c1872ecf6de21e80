"""Legal holds placed for footage requests, in SQLite."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from hub.domain.records import NotFound
from hub.domain.request_records import HoldRecord
from hub.domain.requests.request import IncidentWindow
from hub.storage.sql_session import SqlSession
from hub.storage.sqlite.rows import db_time, opt_time, parse_db_time


def _hold(row: Mapping[str, Any]) -> HoldRecord:
    return HoldRecord(
        id=row["id"],
        request=row["request_id"],
        site_id=row["site_id"],
        camera_id=row["camera_id"],
        window=IncidentWindow(parse_db_time(row["window_start"]), parse_db_time(row["window_end"])),
        placed_at=parse_db_time(row["placed_at"]),
        placed_by=row["placed_by"],
        edge_confirmed_at=opt_time(row["edge_confirmed_at"]),
        lifted_at=opt_time(row["lifted_at"]),
        lifted_by=row["lifted_by"],
    )


def insert_hold(db: SqlSession, hold: HoldRecord) -> None:
    db.execute(
        "INSERT INTO holds (id, request_id, site_id, camera_id, window_start, window_end,"
        " placed_at, placed_by) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        [
            hold.id,
            hold.request,
            hold.site_id,
            hold.camera_id,
            db_time(hold.window.start),
            db_time(hold.window.end),
            db_time(hold.placed_at),
            hold.placed_by,
        ],
    )


def holds_for_request(db: SqlSession, reference: str) -> list[HoldRecord]:
    rows = db.query("SELECT * FROM holds WHERE request_id = ? ORDER BY placed_at, id", [reference])
    return [_hold(row) for row in rows]


def active_holds(db: SqlSession, site_id: str | None = None) -> list[HoldRecord]:
    if site_id is None:
        rows = db.query("SELECT * FROM holds WHERE lifted_at IS NULL ORDER BY placed_at, id")
    else:
        rows = db.query(
            "SELECT * FROM holds WHERE lifted_at IS NULL AND site_id = ? ORDER BY placed_at, id",
            [site_id],
        )
    return [_hold(row) for row in rows]


def confirm_hold(db: SqlSession, hold_id: str, now: datetime) -> None:
    db.execute(
        "UPDATE holds SET edge_confirmed_at = ? WHERE id = ? AND edge_confirmed_at IS NULL",
        [db_time(now), hold_id],
    )


def lift_hold(db: SqlSession, hold_id: str, lifted_by: str, now: datetime) -> HoldRecord:
    db.execute(
        "UPDATE holds SET lifted_at = ?, lifted_by = ? WHERE id = ? AND lifted_at IS NULL",
        [db_time(now), lifted_by, hold_id],
    )
    rows = list(db.query("SELECT * FROM holds WHERE id = ?", [hold_id]))
    if not rows:
        raise NotFound(f"hold {hold_id} does not exist")
    return _hold(rows[0])
