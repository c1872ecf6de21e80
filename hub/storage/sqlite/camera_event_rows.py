"""Camera events (motion, tamper) in SQLite: one row per (site, event id)."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from cctv_common.wire.payloads import CameraEventItem
from hub.domain.records import CameraEventRecord
from hub.storage.sql_session import SqlSession
from hub.storage.sqlite.rows import db_time, parse_db_time


def camera_event(row: Mapping[str, Any]) -> CameraEventRecord:
    return CameraEventRecord(
        site_id=row["site_id"],
        event_id=row["event_id"],
        camera_id=row["camera_id"],
        at=parse_db_time(row["at"]),
        kind=row["kind"],
        active=bool(row["active"]),
        topic=row["topic"],
        data=json.loads(row["data"]),
        received_at=parse_db_time(row["received_at"]),
    )


def insert_events(
    db: SqlSession, site_id: str, events: Iterable[CameraEventItem], now: datetime
) -> int:
    """Store each event not stored yet; how many were new."""
    return db.executemany(
        "INSERT OR IGNORE INTO camera_events (site_id, event_id, camera_id, at, kind, active,"
        " topic, data, received_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [
            (
                site_id,
                event.event_id,
                event.camera_id,
                db_time(event.at),
                event.kind,
                int(event.active),
                event.topic,
                json.dumps(event.data, sort_keys=True, separators=(",", ":")),
                db_time(now),
            )
            for event in events
        ],
    )


def events_between(
    db: SqlSession,
    site_id: str,
    camera_id: str,
    start: datetime,
    end: datetime,
    limit: int,
) -> list[CameraEventRecord]:
    """A camera's events with ``start <= at < end``, oldest first, at most ``limit``."""
    rows = db.query(
        "SELECT * FROM camera_events WHERE site_id = ? AND camera_id = ? AND at >= ? AND at < ?"
        " ORDER BY at, rowid LIMIT ?",  # same time (cameras give whole seconds): as received
        [site_id, camera_id, db_time(start), db_time(end), limit],
    )
    return [camera_event(row) for row in rows]


def latest_event_times(db: SqlSession) -> dict[tuple[str, str], datetime]:
    """The time of each camera's newest event, by (site, camera) (the index's max per camera)."""
    rows = db.query(
        "SELECT site_id, camera_id, max(at) AS last FROM camera_events GROUP BY site_id, camera_id"
    )
    return {(row["site_id"], row["camera_id"]): parse_db_time(row["last"]) for row in rows}
