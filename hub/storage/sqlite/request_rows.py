"""Footage requests in SQLite: the request, its number, named colleagues and its clip jobs."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from hub.domain.records import NotFound
from hub.domain.request_records import (
    DecisionRecord,
    RequestJob,
    RequestOutcome,
    RequestRecord,
    request_reference,
)
from hub.domain.requests.request import FootageRequest
from hub.domain.requests.retention import RetentionCategory
from hub.domain.requests.states import RequestState
from hub.storage.sql_session import SqlSession
from hub.storage.sqlite.request_codec import decision_json, decision_of, request_json, request_of
from hub.storage.sqlite.rows import DEFAULT_LIST_LIMIT, db_time, opt_time, parse_db_time


def _record(row: Mapping[str, Any]) -> RequestRecord:
    return RequestRecord(
        reference=row["id"],
        request=request_of(row["body"]),
        state=RequestState(row["state"]),
        decision=decision_of(row["decision"]),
        released_at=opt_time(row["released_at"]),
        outcome=None if row["outcome"] is None else RequestOutcome(row["outcome"]),
        outcome_note=row["outcome_note"],
        retention_category=RetentionCategory(row["retention_category"]),
        review_at=opt_time(row["review_at"]),
        case_closed_at=opt_time(row["case_closed_at"]),
        updated_at=parse_db_time(row["updated_at"]),
    )


def next_reference(db: SqlSession, year: int) -> str:
    """The next request reference of ``year`` (in the caller's transaction: no two alike)."""
    db.execute(
        "INSERT INTO request_numbers (year, last) VALUES (?, 1)"
        " ON CONFLICT (year) DO UPDATE SET last = request_numbers.last + 1",
        [year],
    )
    row = db.execute("SELECT last FROM request_numbers WHERE year = ?", [year]).fetchone()
    return request_reference(year, int(row[0]))


def insert_request(db: SqlSession, reference: str, request: FootageRequest) -> None:
    now = db_time(request.received_at)
    db.execute(
        "INSERT INTO requests (id, state, requested_by, filed_by, urgency, ripa, district, body,"
        " received_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [
            reference,
            RequestState.SUBMITTED.value,
            request.requested_by,
            request.filed_by,
            request.urgency.value,
            int(request.ripa),
            request.cameras[0].site_id if request.cameras else "",
            request_json(request),
            now,
            now,
        ],
    )
    for username in request.colleagues:
        db.execute(
            "INSERT OR IGNORE INTO request_colleagues (request_id, username) VALUES (?, ?)",
            [reference, username],
        )


def get_request(db: SqlSession, reference: str) -> RequestRecord | None:
    rows = list(db.query("SELECT * FROM requests WHERE id = ?", [reference]))
    return _record(rows[0]) if rows else None


def list_requests(
    db: SqlSession,
    *,
    state: str | None = None,
    visible_to: str | None = None,
    limit: int = DEFAULT_LIST_LIMIT,
) -> list[RequestRecord]:
    """Newest first; ``visible_to``: only the user's own requests and those naming them."""
    where, args = [], []
    if state is not None:
        where.append("state = ?")
        args.append(state)
    if visible_to is not None:
        where.append(
            "(requested_by = ? OR id IN"
            " (SELECT request_id FROM request_colleagues WHERE username = ?))"
        )
        args += [visible_to, visible_to]
    clause = f" WHERE {' AND '.join(where)}" if where else ""
    rows = db.query(
        f"SELECT * FROM requests{clause} ORDER BY received_at DESC, id DESC LIMIT ?",  # noqa: S608
        [*args, limit],
    )
    return [_record(row) for row in rows]


def _touch(db: SqlSession, reference: str, sets: str, args: list[Any], now: datetime) -> None:
    cursor = db.execute(
        f"UPDATE requests SET {sets}, updated_at = ? WHERE id = ?",  # noqa: S608
        [*args, db_time(now), reference],
    )
    if cursor.rowcount != 1:
        raise NotFound(f"request {reference} does not exist")


def set_state(db: SqlSession, reference: str, state: RequestState, now: datetime) -> None:
    _touch(db, reference, "state = ?", [state.value], now)


def set_decision(
    db: SqlSession, reference: str, state: RequestState, decision: DecisionRecord, now: datetime
) -> None:
    _touch(
        db,
        reference,
        "state = ?, decision = ?, decided_at = ?",
        [state.value, decision_json(decision), db_time(decision.decided_at)],
        now,
    )


def set_released(db: SqlSession, reference: str, now: datetime) -> None:
    _touch(
        db,
        reference,
        "state = ?, released_at = ?",
        [RequestState.RELEASED.value, db_time(now)],
        now,
    )


def set_outcome(
    db: SqlSession,
    reference: str,
    outcome: RequestOutcome,
    note: str,
    state: RequestState,
    now: datetime,
) -> None:
    _touch(
        db,
        reference,
        "outcome = ?, outcome_note = ?, state = ?",
        [outcome.value, note, state.value],
        now,
    )


def set_retention(
    db: SqlSession,
    reference: str,
    category: RetentionCategory,
    review_at: datetime | None,
    case_closed_at: datetime | None,
    now: datetime,
) -> None:
    _touch(
        db,
        reference,
        "retention_category = ?, review_at = ?, case_closed_at = ?",
        [
            category.value,
            None if review_at is None else db_time(review_at),
            None if case_closed_at is None else db_time(case_closed_at),
        ],
        now,
    )


def add_request_job(db: SqlSession, job: RequestJob) -> None:
    db.execute(
        "INSERT INTO request_jobs (job_id, request_id, site_id, camera_id, created_at)"
        " VALUES (?, ?, ?, ?, ?)",
        [job.job_id, job.request, job.site_id, job.camera_id, db_time(job.created_at)],
    )


def _request_job(row: Mapping[str, Any]) -> RequestJob:
    return RequestJob(
        request=row["request_id"],
        job_id=row["job_id"],
        site_id=row["site_id"],
        camera_id=row["camera_id"],
        created_at=parse_db_time(row["created_at"]),
    )


def request_jobs(db: SqlSession, reference: str) -> list[RequestJob]:
    rows = db.query(
        "SELECT * FROM request_jobs WHERE request_id = ? ORDER BY created_at, job_id", [reference]
    )
    return [_request_job(row) for row in rows]


def request_of_job(db: SqlSession, job_id: str) -> str | None:
    row = db.execute("SELECT request_id FROM request_jobs WHERE job_id = ?", [job_id]).fetchone()
    return None if row is None else str(row[0])
