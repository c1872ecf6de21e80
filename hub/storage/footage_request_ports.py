"""The ports of the footage-request workflow (issue 11): requests and their clip jobs, holds
placed for them, and the disclosure log with the requester's mail outbox. Gathered with the rest
in ``hub.storage.ports.UnitOfWork``."""

from __future__ import annotations

from datetime import datetime
from typing import Protocol

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


class FootageRequests(Protocol):
    """Footage requests, their clip jobs and named colleagues."""

    def next_reference(self, year: int) -> str: ...

    def add(self, reference: str, request: FootageRequest) -> None: ...

    def get(self, reference: str) -> RequestRecord | None: ...

    def find(
        self, *, state: str | None = None, visible_to: str | None = None, limit: int = 500
    ) -> list[RequestRecord]: ...

    def set_state(self, reference: str, state: RequestState, now: datetime) -> None: ...

    def set_decision(
        self, reference: str, state: RequestState, decision: DecisionRecord, now: datetime
    ) -> None: ...

    def set_released(self, reference: str, now: datetime) -> None: ...

    def set_outcome(
        self,
        reference: str,
        outcome: RequestOutcome,
        note: str,
        state: RequestState,
        now: datetime,
    ) -> None: ...

    def set_retention(
        self,
        reference: str,
        category: RetentionCategory,
        review_at: datetime | None,
        case_closed_at: datetime | None,
        now: datetime,
    ) -> None: ...

    def add_job(self, job: RequestJob) -> None: ...

    def jobs(self, reference: str) -> list[RequestJob]: ...

    def of_job(self, job_id: str) -> str | None: ...


class Holds(Protocol):
    def add(self, hold: HoldRecord) -> None: ...

    def for_request(self, reference: str) -> list[HoldRecord]: ...

    def active(self, site_id: str | None = None) -> list[HoldRecord]: ...

    def confirm(self, hold_id: str, now: datetime) -> None: ...

    def lift(self, hold_id: str, lifted_by: str, now: datetime) -> HoldRecord: ...


class Disclosures(Protocol):
    """The disclosure log (append-only) and the requester's mail outbox."""

    def last_number(self) -> int: ...

    def add(self, entry: DisclosureEntry) -> None: ...

    def entries(self, request: str | None = None) -> list[DisclosureEntry]: ...

    def add_mail(
        self,
        request: str,
        step: str,
        recipients: tuple[str, ...],
        subject: str,
        state: str,
        now: datetime,
    ) -> int: ...

    def set_mail_state(self, mail_id: int, state: str, now: datetime) -> None: ...

    def mails(self, request: str) -> list[OutboxMail]: ...
