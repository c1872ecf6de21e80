"""Rows that let several hub workers share one database without in-process locks (issue 16):
leases on the background jobs, the one dispatch of each part of a request, live sessions any
worker can continue, and the one PATCH at a time on a tus upload.

Every claim here is a compare-and-set in one statement (``UPDATE ... WHERE`` the claim is free,
ours, or stale; or an ``INSERT`` a key refuses), so it holds whatever the engine's isolation:
the writer lock that serialises writes on PostgreSQL is not needed for it to be right.
"""

from __future__ import annotations

from datetime import datetime
from typing import Final

from hub.storage.sql_session import SqlSession
from hub.storage.sqlite.rows import db_time, parse_db_time

MIGRATION: Final[tuple[str, ...]] = (
    # A background job (scrub, retention, sweeps) runs where its lease is held; the holder
    # renews it, and another worker takes it once it has expired (the holder died).
    """CREATE TABLE leases (
        name TEXT PRIMARY KEY,
        holder TEXT NOT NULL,
        taken_at TEXT NOT NULL,
        expires_at TEXT NOT NULL
    )""",
    # Each part of an approved request's camera window is dispatched once: the key refuses a
    # second claim; a claim with no job after a while is taken over (its worker died).
    """CREATE TABLE request_dispatches (
        request_id TEXT NOT NULL REFERENCES requests(id),
        site_id TEXT NOT NULL,
        camera_id TEXT NOT NULL,
        part_start TEXT NOT NULL,
        part_end TEXT NOT NULL,
        claimed_by TEXT NOT NULL,
        claimed_at TEXT NOT NULL,
        job_id TEXT,
        PRIMARY KEY (request_id, site_id, camera_id, part_start, part_end)
    )""",
    # A live view any worker can continue (candidates, close) and end once.
    """CREATE TABLE live_sessions (
        session_id TEXT PRIMARY KEY,
        site_id TEXT NOT NULL,
        camera_id TEXT NOT NULL,
        username TEXT NOT NULL,
        worker TEXT NOT NULL,
        started_at TEXT NOT NULL,
        ended_at TEXT
    )""",
    "CREATE INDEX live_sessions_open ON live_sessions (ended_at)",
    # The one PATCH writing a tus upload's bytes, across workers.
    "ALTER TABLE tus_uploads ADD COLUMN patching_by TEXT",
    "ALTER TABLE tus_uploads ADD COLUMN patching_since TEXT",
)


# -- leases ------------------------------------------------------------------------------------


def take_lease(
    db: SqlSession, name: str, holder: str, now: datetime, expires: datetime, heir_of: str
) -> bool:
    """Take or renew lease ``name`` for ``holder`` until ``expires``; False while another
    holder's lease has not expired. A holder starting with ``heir_of`` (an earlier process of
    the same worker, which died) gives way at once."""
    renewed = db.execute(
        "UPDATE leases SET holder = ?, expires_at = ?,"
        " taken_at = CASE WHEN holder = ? THEN taken_at ELSE ? END"
        " WHERE name = ? AND (holder = ? OR expires_at < ? OR substr(holder, 1, ?) = ?)",
        [
            holder,
            db_time(expires),
            holder,
            db_time(now),
            name,
            holder,
            db_time(now),
            len(heir_of),
            heir_of,
        ],
    )
    if renewed.rowcount == 1:
        return True
    taken = db.execute(
        "INSERT OR IGNORE INTO leases (name, holder, taken_at, expires_at) VALUES (?, ?, ?, ?)",
        [name, holder, db_time(now), db_time(expires)],
    )
    return taken.rowcount == 1


def release_lease(db: SqlSession, name: str, holder: str) -> None:
    """Give the lease up at once (a clean stop), so another worker need not wait it out."""
    db.execute("DELETE FROM leases WHERE name = ? AND holder = ?", [name, holder])


def lease_holders(db: SqlSession, now: datetime) -> dict[str, str]:
    """Each lease not yet expired: name -> holder."""
    rows = db.query(
        "SELECT name, holder FROM leases WHERE expires_at >= ? ORDER BY name", [db_time(now)]
    )
    return {row["name"]: row["holder"] for row in rows}


# -- request dispatches ------------------------------------------------------------------------


def claim_part(
    db: SqlSession,
    key: tuple[str, str, str, datetime, datetime],
    claimant: str,
    now: datetime,
    stale_before: datetime,
) -> bool:
    """Claim the dispatch of one part (request, site, camera, start, end); False when it was
    dispatched, or another worker claimed it since ``stale_before``."""
    reference, site_id, camera_id, start, end = key
    where = [reference, site_id, camera_id, db_time(start), db_time(end)]
    taken = db.execute(
        "INSERT OR IGNORE INTO request_dispatches (request_id, site_id, camera_id, part_start,"
        " part_end, claimed_by, claimed_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
        [*where, claimant, db_time(now)],
    )
    if taken.rowcount == 1:
        return True
    over = db.execute(
        "UPDATE request_dispatches SET claimed_by = ?, claimed_at = ?"
        " WHERE request_id = ? AND site_id = ? AND camera_id = ? AND part_start = ?"
        " AND part_end = ? AND job_id IS NULL AND claimed_at < ?",
        [claimant, db_time(now), *where, db_time(stale_before)],
    )
    return over.rowcount == 1


def settle_part(
    db: SqlSession,
    key: tuple[str, str, str, datetime, datetime],
    claimant: str,
    job_id: str | None,
) -> None:
    """The claimed part's job was made (``job_id``), or could not be (None: the claim is
    dropped so a later sweep may try again)."""
    reference, site_id, camera_id, start, end = key
    where = [reference, site_id, camera_id, db_time(start), db_time(end), claimant]
    if job_id is None:
        db.execute(
            "DELETE FROM request_dispatches WHERE request_id = ? AND site_id = ?"
            " AND camera_id = ? AND part_start = ? AND part_end = ? AND claimed_by = ?"
            " AND job_id IS NULL",
            where,
        )
    else:
        db.execute(
            "UPDATE request_dispatches SET job_id = ? WHERE request_id = ? AND site_id = ?"
            " AND camera_id = ? AND part_start = ? AND part_end = ? AND claimed_by = ?",
            [job_id, *where],
        )


# -- live sessions -----------------------------------------------------------------------------


def add_live_session(
    db: SqlSession,
    session: tuple[str, str, str, str],
    worker: str,
    now: datetime,
) -> None:
    session_id, site_id, camera_id, username = session
    db.execute(
        "INSERT INTO live_sessions (session_id, site_id, camera_id, username, worker,"
        " started_at) VALUES (?, ?, ?, ?, ?, ?)",
        [session_id, site_id, camera_id, username, worker, db_time(now)],
    )


def open_live_session(db: SqlSession, session_id: str) -> dict[str, object] | None:
    """The session's row while it has not ended (``started_at`` as a datetime)."""
    rows = list(
        db.query(
            "SELECT session_id, site_id, camera_id, username, worker, started_at"
            " FROM live_sessions WHERE session_id = ? AND ended_at IS NULL",
            [session_id],
        )
    )
    if not rows:
        return None
    row = dict(rows[0])
    row["started_at"] = parse_db_time(str(row["started_at"]))
    return row


def end_live_session(db: SqlSession, session_id: str, now: datetime) -> bool:
    """Mark it ended; False when it had already ended (the ``live_end`` row is written once)."""
    cursor = db.execute(
        "UPDATE live_sessions SET ended_at = ? WHERE session_id = ? AND ended_at IS NULL",
        [db_time(now), session_id],
    )
    return cursor.rowcount == 1


def open_live_sessions(db: SqlSession) -> list[tuple[str, str]]:
    """(session id, worker) of every open session, oldest first."""
    rows = db.query(
        "SELECT session_id, worker FROM live_sessions WHERE ended_at IS NULL ORDER BY started_at"
    )
    return [(str(row["session_id"]), str(row["worker"])) for row in rows]


# -- tus PATCH claims --------------------------------------------------------------------------


def claim_patch(
    db: SqlSession,
    upload_id: str,
    claimant: str,
    offset: int,
    now: datetime,
    stale_before: datetime,
) -> bool:
    """Make ``claimant`` the one writing the upload's bytes from ``offset``: False when the
    upload is not receiving at that offset, or another PATCH holds it (since ``stale_before``)."""
    cursor = db.execute(
        'UPDATE tus_uploads SET patching_by = ?, patching_since = ? WHERE id = ? AND "offset" = ?'
        " AND state = 'receiving' AND (patching_by IS NULL OR patching_by = ?"
        " OR patching_since < ?)",
        [claimant, db_time(now), upload_id, offset, claimant, db_time(stale_before)],
    )
    return cursor.rowcount == 1


def advance_patch(
    db: SqlSession, upload_id: str, claimant: str, offset: int, to: int, now: datetime
) -> bool:
    """Compare-and-set the offset from ``offset`` to ``to`` (``to == offset``: renew the claim
    before writing); False when the claim was lost or the offset moved."""
    cursor = db.execute(
        'UPDATE tus_uploads SET "offset" = ?, patching_since = ?, updated_at = ? WHERE id = ?'
        " AND patching_by = ? AND \"offset\" = ? AND state = 'receiving'",
        [to, db_time(now), db_time(now), upload_id, claimant, offset],
    )
    return cursor.rowcount == 1


def release_patch(db: SqlSession, upload_id: str, claimant: str) -> None:
    db.execute(
        "UPDATE tus_uploads SET patching_by = NULL, patching_since = NULL"
        " WHERE id = ? AND patching_by = ?",
        [upload_id, claimant],
    )
