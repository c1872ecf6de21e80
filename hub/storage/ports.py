"""What workflow code needs from storage, in domain terms: one Protocol per kind of record and
a unit of work that gathers them in one transaction.

Services never see SQL or a database handle. They hand a function to ``HubStorage``:

    job = await storage.awrite(lambda uow: uow.jobs.move(job_id, ...))

and everything that function does through ``uow`` commits together or not at all (one writer,
one transaction: the SQLite implementation runs it as ``BEGIN IMMEDIATE`` on its writer thread,
see ``hub.storage.sqlite.database``). ``aread``/``read`` give a consistent snapshot. A new
backend (PostgreSQL, say) implements these Protocols under ``hub/storage/<backend>/`` and
``HubStorage``; no service changes.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from datetime import datetime
from typing import Any, Protocol, TypeVar

from cctv_common.wire.chunk_ranges import Range
from cctv_common.wire.job_state import JobState
from cctv_common.wire.payloads import SiteStatus
from hub.domain.acl import Role
from hub.domain.custody import CustodyAction, CustodyEvent
from hub.domain.records import (
    CameraRecord,
    ClipJob,
    EvidenceItem,
    SiteRecord,
    UploadRecord,
    UserRecord,
)
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

T = TypeVar("T")


class ClipJobs(Protocol):
    def get(self, job_id: str) -> ClipJob | None: ...

    def add(self, job: ClipJob) -> ClipJob: ...

    def recent(self, *, requested_by: str | None = None, limit: int = 500) -> list[ClipJob]: ...

    def open(self) -> list[ClipJob]: ...

    def ended_since(self, since: datetime) -> list[ClipJob]: ...

    def move(
        self,
        job_id: str,
        *,
        state: JobState,
        percent: int,
        error: str | None,
        clip_id: str | None,
        now: datetime,
    ) -> ClipJob:
        """Set the job's state (the caller checked the move against ``JobState``'s table)."""
        ...


class Sites(Protocol):
    def get(self, site_id: str) -> SiteRecord | None: ...

    def all(self) -> list[SiteRecord]: ...

    def register(
        self, site_id: str, name: str, public_key_pem: str, registered_by: str, now: datetime
    ) -> tuple[SiteRecord, bool]: ...

    def apply_status(self, site_id: str, status: SiteStatus, now: datetime) -> None: ...

    def cameras(self, site_id: str | None = None) -> list[CameraRecord]: ...

    def camera(self, site_id: str, camera_id: str) -> CameraRecord | None: ...


class UploadSessions(Protocol):
    """Uploads in progress and how each ended (``receiving``, ``stored``, ...)."""

    def put(self, upload: UploadRecord) -> None: ...

    def get(self, clip_id: str) -> UploadRecord | None: ...

    def in_state(self, state: str) -> list[UploadRecord]: ...

    def set_held(self, clip_id: str, held: Sequence[Range], now: datetime) -> None: ...

    def set_state(self, clip_id: str, state: str, reason: str | None, now: datetime) -> None: ...


class EvidenceItems(Protocol):
    def get(self, clip_id: str) -> EvidenceItem | None: ...

    def add(self, item: EvidenceItem) -> None: ...

    def for_job(self, job_id: str) -> list[EvidenceItem]: ...

    def recent(
        self, *, requested_by: str | None = None, limit: int = 500
    ) -> list[EvidenceItem]: ...


class CustodyEvents(Protocol):
    """The append-only custody log; an append commits with the rest of the unit of work."""

    def append(
        self,
        actor: str,
        action: CustodyAction,
        subject: str,
        detail: Mapping[str, Any] | None = None,
        *,
        at: datetime | None = None,
    ) -> CustodyEvent: ...

    def after(self, subjects: Iterable[str], after_seq: int, limit: int) -> list[CustodyEvent]: ...

    def raw(self) -> Iterator[dict[str, Any]]:
        """Every row as stored, in ``seq`` order (for checking the chain)."""
        ...


class Users(Protocol):
    def get(self, username: str) -> UserRecord | None: ...

    def sync_config(self, users: Iterable[tuple[str, Role, str]], now: datetime) -> None: ...

    def add(self, user: UserRecord, now: datetime) -> None: ...

    def all(self) -> list[UserRecord]: ...

    def set_disabled(self, username: str, disabled: bool, now: datetime) -> None: ...

    def set_password(self, username: str, password_hash: str, now: datetime) -> None: ...


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


class Sessions(Protocol):
    def create(
        self, token_hash: str, username: str, now: datetime, expires_at: datetime
    ) -> None: ...

    def user(self, token_hash: str, now: datetime) -> UserRecord | None: ...

    def delete(self, token_hash: str) -> None: ...


class UnitOfWork(Protocol):
    """The records one transaction may read and change."""

    @property
    def jobs(self) -> ClipJobs: ...

    @property
    def sites(self) -> Sites: ...

    @property
    def uploads(self) -> UploadSessions: ...

    @property
    def evidence(self) -> EvidenceItems: ...

    @property
    def custody(self) -> CustodyEvents: ...

    @property
    def users(self) -> Users: ...

    @property
    def sessions(self) -> Sessions: ...

    @property
    def requests(self) -> FootageRequests: ...

    @property
    def holds(self) -> Holds: ...

    @property
    def disclosures(self) -> Disclosures: ...


class HubStorage(Protocol):
    """Runs units of work: ``awrite``/``aread`` on an event loop, ``write``/``read`` elsewhere."""

    async def awrite(self, work: Callable[[UnitOfWork], T]) -> T: ...

    async def aread(self, work: Callable[[UnitOfWork], T]) -> T: ...

    def write(self, work: Callable[[UnitOfWork], T]) -> T: ...

    def read(self, work: Callable[[UnitOfWork], T]) -> T: ...
