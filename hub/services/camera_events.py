"""Camera events (motion, tamper) the sites send, stored for the operator's timeline.

A ``CameraEvents`` message on ``sites/{site}/events`` is trusted for the site in its topic only
(the broker's ACL). Each event is one row keyed by (site, event id): an agent sends an event again
after a crash or an outage, and the repeat is ignored. Events are not footage and not evidence:
they say where to look, and a click on one asks for the footage around it.

Storage SQL is here (``insert_events``, ``events_between``) beside the service that uses it, in
the style of ``hub.storage.sqlite.repository``.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Final

from sqlite_utils import Database

from cctv_common.clock import utc_now
from cctv_common.wire.payloads import CameraEventItem, CameraEvents, InvalidPayload
from hub.storage.sqlite import repository as repo
from hub.storage.sqlite.database import HubDatabase
from hub.storage.sqlite.rows import db_time, parse_db_time

log = logging.getLogger(__name__)

MAX_EVENTS_PER_ANSWER: Final = 5000
MAX_QUERY_WINDOW: Final = timedelta(days=31)
MAX_REMEMBERED_UNKNOWN: Final = 10_000


@dataclass(frozen=True)
class CameraEventRecord:
    site_id: str
    event_id: str
    camera_id: str
    at: datetime
    kind: str
    active: bool
    topic: str
    data: dict[str, str]
    received_at: datetime


def _record(row: Mapping[str, Any]) -> CameraEventRecord:
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
    db: Database, site_id: str, events: Iterable[CameraEventItem], now: datetime
) -> int:
    """Store each event not stored yet; how many were new."""
    before = db.conn.total_changes
    db.conn.executemany(
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
    return int(db.conn.total_changes - before)


def events_between(
    db: Database,
    site_id: str,
    camera_id: str,
    start: datetime,
    end: datetime,
    limit: int = MAX_EVENTS_PER_ANSWER,
) -> list[CameraEventRecord]:
    """A camera's events with ``start <= at < end``, oldest first, at most ``limit``."""
    rows = db.query(
        "SELECT * FROM camera_events WHERE site_id = ? AND camera_id = ? AND at >= ? AND at < ?"
        " ORDER BY at, rowid LIMIT ?",  # same time (cameras give whole seconds): as received
        [site_id, camera_id, db_time(start), db_time(end), limit],
    )
    return [_record(row) for row in rows]


class CameraEventService:
    def __init__(self, database: HubDatabase, *, now: Callable[[], datetime] = utc_now) -> None:
        self._database = database
        self._now = now
        self._unknown_logged: set[str] = set()
        self.stored = 0  # new events stored since start, for tests and health

    async def apply(self, site_id: str, payload: bytes) -> int:
        """Store a site's ``CameraEvents`` message; how many events were new (0 if refused)."""
        try:
            message = CameraEvents.parse(payload)
        except InvalidPayload as exc:
            log.warning("site %s: camera events dropped: %s", site_id, exc)
            return 0
        now = self._now()

        def store(db: Database) -> int | None:
            if repo.get_site(db, site_id) is None:
                return None
            return insert_events(db, site_id, message.events, now)

        new = await self._database.awrite(store)
        if new is None:
            if site_id not in self._unknown_logged:
                if len(self._unknown_logged) >= MAX_REMEMBERED_UNKNOWN:
                    self._unknown_logged.clear()
                self._unknown_logged.add(site_id)
                log.warning("site %s is not registered; its camera events are ignored", site_id)
            return 0
        self.stored += new
        repeated = len(message.events) - new
        log.info(
            "site %s: %d camera event(s) stored%s",
            site_id,
            new,
            f", {repeated} already held" if repeated else "",
        )
        return new
