"""What workflow code needs from storage, in domain terms: one Protocol per kind of record and
a unit of work that gathers them in one transaction.

Services never see SQL or a database handle. They hand a function to ``HubStorage``:

    job = await storage.awrite(lambda uow: uow.jobs.move(job_id, ...))

and everything that function does through ``uow`` commits together or not at all (one writer,
one transaction: the SQLite implementation runs it as ``BEGIN IMMEDIATE`` on its writer thread,
see ``hub.storage.sqlite.database``). ``aread``/``read`` give a consistent snapshot. Both
engines implement these Protocols with one set of row modules (``hub.storage.sql_session``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from datetime import datetime
from typing import Any, Protocol, TypeVar

from cctv_common.wire.chunk_ranges import Range
from cctv_common.wire.job_state import JobState
from cctv_common.wire.payloads import CameraEventItem, SiteStatus, UplinkCap
from hub.domain.acl import Role
from hub.domain.custody import CustodyAction, CustodyEvent
from hub.domain.derived_items import DerivedItem, DerivedState
from hub.domain.enrollment import SiteAccess
from hub.domain.exhibit_numbers import ExhibitReference
from hub.domain.records import (
    CameraEventRecord,
    CameraRecord,
    ClipJob,
    DeliveryFacts,
    EvidenceCheck,
    EvidenceItem,
    SiteRecord,
    StoredClipKey,
    StoredObject,
    ThrottleEntry,
    UploadRecord,
    UserRecord,
)
from hub.storage.footage_request_ports import Disclosures, FootageRequests, Holds
from hub.storage.upload_ports import OutsideItems, TusUploads, UploadLinks
from hub.storage.worker_ports import DispatchClaims, Leases, LiveSessions

T = TypeVar("T")


class StorageFailure(Exception):
    """The storage could not run a unit of work (disk full, locked too long, ...); nothing of it
    was committed."""


class ClipJobs(Protocol):
    def get(self, job_id: str) -> ClipJob | None: ...

    def add(self, job: ClipJob) -> ClipJob: ...

    def recent(self, *, requested_by: str | None = None, limit: int = 500) -> list[ClipJob]: ...

    def open(self) -> list[ClipJob]: ...

    def ended_since(self, since: datetime) -> list[ClipJob]: ...

    def last_stored_by_camera(self, since: datetime) -> dict[tuple[str, str], datetime]:
        """(site, camera) -> when its newest job stored since ``since`` ended."""
        ...

    def owners(self) -> list[dict[str, Any]]:
        """Every job's ``id`` and ``requested_by`` as stored (for the custody check)."""
        ...

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


class SiteAccessRecords(Protocol):
    """Sites' enrollment tokens (hashes only) and broker logins (Mosquitto hashes only)."""

    def get(self, site_id: str) -> SiteAccess | None: ...

    def by_token_hash(self, token_hash: str) -> SiteAccess | None: ...

    def all(self) -> list[SiteAccess]: ...

    def put(self, access: SiteAccess) -> None: ...


class UploadSessions(Protocol):
    """Uploads in progress and how each ended (``receiving``, ``stored``, ...)."""

    def put(self, upload: UploadRecord) -> None: ...

    def get(self, clip_id: str) -> UploadRecord | None: ...

    def in_state(self, state: str) -> list[UploadRecord]: ...

    def set_held(self, clip_id: str, held: Sequence[Range], now: datetime) -> None: ...

    def merge_held(
        self, clip_id: str, held: Sequence[Range], now: datetime
    ) -> tuple[Range, ...] | None:
        """Union ``held`` into the record (chunks taken by any hub process); the union, or
        None when the upload is no longer receiving."""
        ...

    def set_state(self, clip_id: str, state: str, reason: str | None, now: datetime) -> None: ...

    def claim_completion(
        self, clip_id: str, claimant: str, now: datetime, stale_before: datetime
    ) -> bool:
        """Make ``claimant`` the one hub process completing the upload; False when another
        process's claim is newer than ``stale_before``."""
        ...

    def release_completion(self, clip_id: str, claimant: str) -> None: ...


class EvidenceItems(Protocol):
    def get(self, clip_id: str) -> EvidenceItem | None: ...

    def add(self, item: EvidenceItem) -> None: ...

    def for_job(self, job_id: str) -> list[EvidenceItem]: ...

    def recent(
        self, *, requested_by: str | None = None, limit: int = 500
    ) -> list[EvidenceItem]: ...

    def set_owner(self, clip_id: str, owner: str) -> None: ...

    def set_hold(self, clip_id: str, hold: bool) -> None: ...

    def mark_deleted(self, clip_id: str, actor: str, now: datetime) -> None:
        """The row stays as a tombstone (who, when); the caller removes the bytes."""
        ...

    def stored_keys(self, clip_ids: Sequence[str]) -> list[StoredClipKey]: ...

    def custody_fields(self) -> list[dict[str, Any]]:
        """Every item's fields the custody log speaks for (owner, hold, deletion...), as stored."""
        ...

    def delivery_facts(self, clip_ids: Sequence[str]) -> list[DeliveryFacts]: ...

    def live_clips_with_key(self, store_key: str) -> list[str]:
        """The items not deleted whose bytes are ``store_key`` (identical clips share it)."""
        ...


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

    def head(self) -> tuple[int, str] | None:
        """The last row's ``seq`` and hash (what a checkpoint signs), or None when empty."""
        ...


class EvidenceChecks(Protocol):
    """The last integrity check of each stored object (one per store key)."""

    def get(self, store_key: str) -> EvidenceCheck | None: ...

    def for_keys(self, store_keys: Iterable[str]) -> dict[str, EvidenceCheck]: ...

    def put(self, check: EvidenceCheck) -> EvidenceCheck | None:
        """Record a check; the one it replaces."""
        ...

    def objects_to_check(self, *, checked_before: datetime | None = None) -> list[StoredObject]:
        """Every object of a live item, least recently checked first."""
        ...


class CameraEventLog(Protocol):
    """Motion and tamper events the sites report, one per (site, event id)."""

    def add(self, site_id: str, events: Iterable[CameraEventItem], now: datetime) -> int:
        """Store each event not stored yet; how many were new."""
        ...

    def between(
        self, site_id: str, camera_id: str, start: datetime, end: datetime, limit: int
    ) -> list[CameraEventRecord]: ...

    def latest_times(self) -> dict[tuple[str, str], datetime]:
        """Each camera's newest event time, by (site, camera), for the fleet page."""
        ...


class Users(Protocol):
    def get(self, username: str) -> UserRecord | None: ...

    def sync_config(self, users: Iterable[tuple[str, Role, str]], now: datetime) -> None: ...

    def some_active_password_hash(self) -> str | None: ...

    def add(self, user: UserRecord, now: datetime) -> None: ...

    def all(self) -> list[UserRecord]: ...

    def set_disabled(self, username: str, disabled: bool, now: datetime) -> None: ...

    def set_password(self, username: str, password_hash: str, now: datetime) -> None: ...


class DerivedItems(Protocol):
    """Working and redacted copies made at the hub (issue 12); never the masters themselves."""

    def add(self, item: DerivedItem) -> None: ...

    def get(self, derived_id: str) -> DerivedItem | None: ...

    def of_clips(self, clip_ids: Sequence[str]) -> list[DerivedItem]: ...

    def in_state(self, state: DerivedState) -> list[DerivedItem]: ...

    def finish(
        self,
        derived_id: str,
        *,
        sha256: str,
        size: int,
        manifest: bytes,
        signature: str,
        now: datetime,
    ) -> DerivedItem: ...

    def fail(self, derived_id: str, error: str, now: datetime) -> None: ...

    def live_with_key(self, store_key: str) -> list[DerivedItem]:
        """Ready, not deleted items whose video is kept under ``store_key``."""

    def set_progress(self, derived_id: str, percent: int) -> None:
        """Percent done of an item being made, where every hub process can read it."""

    def delete(self, derived_id: str, now: datetime) -> None:
        """Mark it deleted (its bytes are removed by the caller); the row is kept."""


class ExhibitReferences(Protocol):
    """The exhibit reference each released evidence item was given (one each, unique)."""

    def add(self, reference: ExhibitReference) -> None: ...

    def of_clips(self, clip_ids: Sequence[str]) -> dict[str, ExhibitReference]: ...

    def count_by(self, producer: str) -> int: ...

    def taken(self, reference: str) -> bool: ...


class LoginFailures(Protocol):
    """Failed logins per client address and per known user (``hub.services.login_throttle``)."""

    def get(self, kind: str, key: str) -> ThrottleEntry | None: ...

    def get_many(self, keys: Sequence[tuple[str, str]]) -> dict[tuple[str, str], ThrottleEntry]:
        """The entries found of several (kind, key) pairs, read together."""
        ...

    def put(self, entry: ThrottleEntry) -> None: ...

    def clear(self, kind: str, key: str) -> None: ...

    def bound_addresses(self, limit: int) -> int:
        """Forget the longest-idle address rows beyond ``limit``; how many were dropped."""
        ...


class Sessions(Protocol):
    def create(
        self, token_hash: str, username: str, now: datetime, expires_at: datetime
    ) -> None: ...

    def user(self, token_hash: str, now: datetime) -> UserRecord | None: ...

    def delete(self, token_hash: str) -> None: ...


class SiteUplinkCaps(Protocol):
    """Each site's upload cap as set at the hub (the signed ``UplinkCap`` it publishes)."""

    def get(self, site_id: str) -> UplinkCap | None: ...

    def all(self) -> dict[str, UplinkCap]: ...

    def put(self, site_id: str, cap: UplinkCap) -> None: ...


class UnitOfWork(Protocol):
    """The records one transaction may read and change."""

    @property
    def jobs(self) -> ClipJobs: ...

    @property
    def sites(self) -> Sites: ...

    @property
    def site_access(self) -> SiteAccessRecords: ...

    @property
    def uplink_caps(self) -> SiteUplinkCaps: ...

    @property
    def uploads(self) -> UploadSessions: ...

    @property
    def evidence(self) -> EvidenceItems: ...

    @property
    def custody(self) -> CustodyEvents: ...

    @property
    def checks(self) -> EvidenceChecks: ...

    @property
    def camera_events(self) -> CameraEventLog: ...

    @property
    def users(self) -> Users: ...

    @property
    def sessions(self) -> Sessions: ...

    @property
    def login_failures(self) -> LoginFailures: ...

    @property
    def requests(self) -> FootageRequests: ...

    @property
    def holds(self) -> Holds: ...

    @property
    def disclosures(self) -> Disclosures: ...

    @property
    def upload_links(self) -> UploadLinks: ...

    @property
    def tus_uploads(self) -> TusUploads: ...

    @property
    def outside_items(self) -> OutsideItems: ...

    @property
    def derived(self) -> DerivedItems: ...

    @property
    def exhibit_refs(self) -> ExhibitReferences: ...

    @property
    def leases(self) -> Leases: ...

    @property
    def dispatches(self) -> DispatchClaims: ...

    @property
    def live_sessions(self) -> LiveSessions: ...


class HubStorage(Protocol):
    """Runs units of work: ``awrite``/``aread`` on an event loop, ``write``/``read`` elsewhere."""

    async def awrite(self, work: Callable[[UnitOfWork], T]) -> T: ...

    async def ainsert(self, work: Callable[[UnitOfWork], T]) -> T:
        """A write that only adds rows under new ids (and custody rows), and reads nothing it
        then changes: on PostgreSQL it does not wait for the writer lock (custody appends keep
        their own order); on SQLite it is ``awrite``."""
        ...

    async def aread(self, work: Callable[[UnitOfWork], T]) -> T: ...

    def write(self, work: Callable[[UnitOfWork], T]) -> T: ...

    def read(self, work: Callable[[UnitOfWork], T]) -> T: ...
