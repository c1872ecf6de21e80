"""The SQLite side of the footage-request ports (``hub.storage.ports``): requests, holds, the
disclosure log and mail outbox, and user administration."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from hub.domain.acl import Role
from hub.domain.records import UserRecord
from hub.domain.request_records import (
    DecisionRecord,
    HoldRecord,
    OutboxMail,
    RequestJob,
    RequestOutcome,
    RequestRecord,
)
from hub.domain.requests.disclosure import DisclosureEntry
from hub.domain.requests.request import FootageRequest
from hub.domain.requests.retention import RetentionCategory
from hub.domain.requests.states import RequestState
from hub.storage.sql_session import SqlSession
from hub.storage.sqlite import (
    disclosure_rows,
    hold_rows,
    request_rows,
    user_admin_rows,
    user_rows,
)
from hub.storage.sqlite.rows import DEFAULT_LIST_LIMIT


class _RequestRows:
    def __init__(self, db: SqlSession) -> None:
        self._db = db


class SqliteUsers(_RequestRows):
    def get(self, username: str) -> UserRecord | None:
        return user_rows.get_user(self._db, username)

    def sync_config(self, users: Iterable[tuple[str, Role, str]], now: datetime) -> None:
        user_rows.sync_config_users(self._db, users, now)

    def some_active_password_hash(self) -> str | None:
        return user_rows.some_active_password_hash(self._db)

    def add(self, user: UserRecord, now: datetime) -> None:
        user_admin_rows.add_user(self._db, user, now)

    def all(self) -> list[UserRecord]:
        return user_admin_rows.list_users(self._db)

    def set_disabled(self, username: str, disabled: bool, now: datetime) -> None:
        user_admin_rows.set_user_disabled(self._db, username, disabled, now)

    def set_password(self, username: str, password_hash: str, now: datetime) -> None:
        user_admin_rows.set_user_password(self._db, username, password_hash, now)


class SqliteFootageRequests(_RequestRows):
    def next_reference(self, year: int) -> str:
        return request_rows.next_reference(self._db, year)

    def add(self, reference: str, request: FootageRequest) -> None:
        request_rows.insert_request(self._db, reference, request)

    def get(self, reference: str) -> RequestRecord | None:
        return request_rows.get_request(self._db, reference)

    def find(
        self,
        *,
        state: str | None = None,
        visible_to: str | None = None,
        limit: int = DEFAULT_LIST_LIMIT,
    ) -> list[RequestRecord]:
        return request_rows.list_requests(self._db, state=state, visible_to=visible_to, limit=limit)

    def set_state(self, reference: str, state: RequestState, now: datetime) -> None:
        request_rows.set_state(self._db, reference, state, now)

    def set_decision(
        self, reference: str, state: RequestState, decision: DecisionRecord, now: datetime
    ) -> None:
        request_rows.set_decision(self._db, reference, state, decision, now)

    def set_released(self, reference: str, now: datetime) -> None:
        request_rows.set_released(self._db, reference, now)

    def set_outcome(
        self,
        reference: str,
        outcome: RequestOutcome,
        note: str,
        state: RequestState,
        now: datetime,
    ) -> None:
        request_rows.set_outcome(self._db, reference, outcome, note, state, now)

    def set_retention(
        self,
        reference: str,
        category: RetentionCategory,
        review_at: datetime | None,
        case_closed_at: datetime | None,
        now: datetime,
    ) -> None:
        request_rows.set_retention(self._db, reference, category, review_at, case_closed_at, now)

    def add_job(self, job: RequestJob) -> None:
        request_rows.add_request_job(self._db, job)

    def jobs(self, reference: str) -> list[RequestJob]:
        return request_rows.request_jobs(self._db, reference)

    def of_job(self, job_id: str) -> str | None:
        return request_rows.request_of_job(self._db, job_id)


class SqliteHolds(_RequestRows):
    def add(self, hold: HoldRecord) -> None:
        hold_rows.insert_hold(self._db, hold)

    def for_request(self, reference: str) -> list[HoldRecord]:
        return hold_rows.holds_for_request(self._db, reference)

    def active(self, site_id: str | None = None) -> list[HoldRecord]:
        return hold_rows.active_holds(self._db, site_id)

    def confirm(self, hold_id: str, now: datetime) -> None:
        hold_rows.confirm_hold(self._db, hold_id, now)

    def lift(self, hold_id: str, lifted_by: str, now: datetime) -> HoldRecord:
        return hold_rows.lift_hold(self._db, hold_id, lifted_by, now)


class SqliteDisclosures(_RequestRows):
    def last_number(self) -> int:
        return disclosure_rows.last_disclosure_number(self._db)

    def add(self, entry: DisclosureEntry) -> None:
        disclosure_rows.insert_disclosure(self._db, entry)

    def entries(self, request: str | None = None) -> list[DisclosureEntry]:
        return disclosure_rows.disclosures(self._db, request)

    def add_mail(
        self,
        request: str,
        step: str,
        recipients: tuple[str, ...],
        subject: str,
        state: str,
        now: datetime,
    ) -> int:
        return disclosure_rows.insert_mail(self._db, request, step, recipients, subject, state, now)

    def set_mail_state(self, mail_id: int, state: str, now: datetime) -> None:
        disclosure_rows.set_mail_state(self._db, mail_id, state, now)

    def mails(self, request: str) -> list[OutboxMail]:
        return disclosure_rows.mails_for(self._db, request)
