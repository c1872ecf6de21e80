"""The SQL implementation (both engines) of ``hub.storage.worker_ports``."""

from __future__ import annotations

from datetime import datetime

from hub.storage.sql_session import SqlSession
from hub.storage.sqlite import worker_rows
from hub.storage.worker_ports import LiveSessionRecord, PartKey


class SqlLeases:
    def __init__(self, db: SqlSession) -> None:
        self._db = db

    def take(
        self, name: str, holder: str, now: datetime, expires: datetime, *, heir_of: str = ""
    ) -> bool:
        return worker_rows.take_lease(self._db, name, holder, now, expires, heir_of or holder)

    def release(self, name: str, holder: str) -> None:
        worker_rows.release_lease(self._db, name, holder)

    def holders(self, now: datetime) -> dict[str, str]:
        return worker_rows.lease_holders(self._db, now)


class SqlDispatchClaims:
    def __init__(self, db: SqlSession) -> None:
        self._db = db

    def claim(self, part: PartKey, claimant: str, now: datetime, stale_before: datetime) -> bool:
        return worker_rows.claim_part(self._db, part, claimant, now, stale_before)

    def settle(self, part: PartKey, claimant: str, job_id: str | None) -> None:
        worker_rows.settle_part(self._db, part, claimant, job_id)


class SqlLiveSessions:
    def __init__(self, db: SqlSession) -> None:
        self._db = db

    def add(self, session: LiveSessionRecord) -> None:
        worker_rows.add_live_session(
            self._db,
            (session.session_id, session.site_id, session.camera_id, session.username),
            session.worker,
            session.started_at,
        )

    def open(self, session_id: str) -> LiveSessionRecord | None:
        row = worker_rows.open_live_session(self._db, session_id)
        if row is None:
            return None
        started = row["started_at"]
        assert isinstance(started, datetime)
        return LiveSessionRecord(
            session_id=str(row["session_id"]),
            site_id=str(row["site_id"]),
            camera_id=str(row["camera_id"]),
            username=str(row["username"]),
            worker=str(row["worker"]),
            started_at=started,
        )

    def end(self, session_id: str, now: datetime) -> bool:
        return worker_rows.end_live_session(self._db, session_id, now)

    def open_all(self) -> list[LiveSessionRecord]:
        found = (self.open(s) for s, _ in worker_rows.open_live_sessions(self._db))
        return [s for s in found if s is not None]
