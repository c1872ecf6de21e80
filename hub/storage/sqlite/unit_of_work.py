"""The SQLite implementation of ``hub.storage.ports``: each port is a thin object over the row
functions of one table family, all on the connection of the running transaction."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from datetime import datetime
from typing import Any, Generic, Protocol, TypeVar

from cctv_common.wire.chunk_ranges import Range
from cctv_common.wire.job_state import JobState
from cctv_common.wire.payloads import CameraEventItem, SiteStatus, UplinkCap
from hub.domain.custody import CustodyAction, CustodyEvent
from hub.domain.enrollment import SiteAccess
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
from hub.storage.ports import StorageFailure
from hub.storage.sql_session import SqlSession
from hub.storage.sqlite import (
    camera_event_rows,
    check_rows,
    custody_rows,
    evidence_rows,
    job_rows,
    site_access_rows,
    site_rows,
    throttle_rows,
    uplink_cap_rows,
    upload_rows,
    user_rows,
)
from hub.storage.sqlite.database import HubDatabase
from hub.storage.sqlite.exhibit_ports import SqliteDerivedItems, SqliteExhibitReferences
from hub.storage.sqlite.outside_rows import (
    SqliteOutsideItems,
    SqliteTusUploads,
    SqliteUploadLinks,
)
from hub.storage.sqlite.request_ports import (
    SqliteDisclosures,
    SqliteFootageRequests,
    SqliteHolds,
    SqliteUsers,
)
from hub.storage.sqlite.rows import DEFAULT_LIST_LIMIT
from hub.storage.sqlite.session import SqliteSession
from hub.storage.sqlite.worker_ports import SqlDispatchClaims, SqlLeases, SqlLiveSessions

T = TypeVar("T")
SessionT = TypeVar("SessionT", bound=SqlSession)
SessionT_co = TypeVar("SessionT_co", bound=SqlSession, covariant=True)


class _Rows:
    def __init__(self, db: SqlSession) -> None:
        self._db = db


class SqliteClipJobs(_Rows):
    def get(self, job_id: str) -> ClipJob | None:
        return job_rows.get_job(self._db, job_id)

    def add(self, job: ClipJob) -> ClipJob:
        return job_rows.insert_job(self._db, job)

    def recent(
        self, *, requested_by: str | None = None, limit: int = DEFAULT_LIST_LIMIT
    ) -> list[ClipJob]:
        return job_rows.list_jobs(self._db, requested_by=requested_by, limit=limit)

    def open(self) -> list[ClipJob]:
        return job_rows.open_jobs(self._db)

    def ended_since(self, since: datetime) -> list[ClipJob]:
        return job_rows.jobs_ended_since(self._db, since)

    def last_stored_by_camera(self, since: datetime) -> dict[tuple[str, str], datetime]:
        return job_rows.last_stored_by_camera(self._db, since)

    def owners(self) -> list[dict[str, Any]]:
        return job_rows.job_owners(self._db)

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
        return job_rows.update_job(
            self._db, job_id, state=state, percent=percent, error=error, clip_id=clip_id, now=now
        )


class SqliteSites(_Rows):
    def get(self, site_id: str) -> SiteRecord | None:
        return site_rows.get_site(self._db, site_id)

    def all(self) -> list[SiteRecord]:
        return site_rows.list_sites(self._db)

    def register(
        self, site_id: str, name: str, public_key_pem: str, registered_by: str, now: datetime
    ) -> tuple[SiteRecord, bool]:
        return site_rows.register_site(self._db, site_id, name, public_key_pem, registered_by, now)

    def apply_status(self, site_id: str, status: SiteStatus, now: datetime) -> None:
        site_rows.apply_site_status(self._db, site_id, status, now)

    def cameras(self, site_id: str | None = None) -> list[CameraRecord]:
        return site_rows.list_cameras(self._db, site_id)

    def camera(self, site_id: str, camera_id: str) -> CameraRecord | None:
        return site_rows.get_camera(self._db, site_id, camera_id)


class SqliteUplinkCaps(_Rows):
    def get(self, site_id: str) -> UplinkCap | None:
        return uplink_cap_rows.get_cap(self._db, site_id)

    def all(self) -> dict[str, UplinkCap]:
        return uplink_cap_rows.all_caps(self._db)

    def put(self, site_id: str, cap: UplinkCap) -> None:
        uplink_cap_rows.put_cap(self._db, site_id, cap)


class SqliteSiteAccess(_Rows):
    def get(self, site_id: str) -> SiteAccess | None:
        return site_access_rows.get_access(self._db, site_id)

    def by_token_hash(self, token_hash: str) -> SiteAccess | None:
        return site_access_rows.access_by_token(self._db, token_hash)

    def all(self) -> list[SiteAccess]:
        return site_access_rows.all_access(self._db)

    def put(self, access: SiteAccess) -> None:
        site_access_rows.put_access(self._db, access)


class SqliteUploadSessions(_Rows):
    def put(self, upload: UploadRecord) -> None:
        upload_rows.put_upload(self._db, upload)

    def get(self, clip_id: str) -> UploadRecord | None:
        return upload_rows.get_upload(self._db, clip_id)

    def in_state(self, state: str) -> list[UploadRecord]:
        return upload_rows.uploads_in_state(self._db, state)

    def set_held(self, clip_id: str, held: Sequence[Range], now: datetime) -> None:
        upload_rows.set_upload_held(self._db, clip_id, held, now)

    def merge_held(
        self, clip_id: str, held: Sequence[Range], now: datetime
    ) -> tuple[Range, ...] | None:
        return upload_rows.merge_upload_held(self._db, clip_id, held, now)

    def set_state(self, clip_id: str, state: str, reason: str | None, now: datetime) -> None:
        upload_rows.set_upload_state(self._db, clip_id, state, reason, now)

    def claim_completion(
        self, clip_id: str, claimant: str, now: datetime, stale_before: datetime
    ) -> bool:
        return upload_rows.claim_upload_completion(self._db, clip_id, claimant, now, stale_before)

    def release_completion(self, clip_id: str, claimant: str) -> None:
        upload_rows.release_upload_completion(self._db, clip_id, claimant)


class SqliteEvidenceItems(_Rows):
    def get(self, clip_id: str) -> EvidenceItem | None:
        return evidence_rows.get_evidence(self._db, clip_id)

    def add(self, item: EvidenceItem) -> None:
        evidence_rows.insert_evidence(self._db, item)

    def for_job(self, job_id: str) -> list[EvidenceItem]:
        return evidence_rows.evidence_for_job(self._db, job_id)

    def recent(
        self, *, requested_by: str | None = None, limit: int = DEFAULT_LIST_LIMIT
    ) -> list[EvidenceItem]:
        return evidence_rows.list_evidence(self._db, requested_by=requested_by, limit=limit)

    def set_owner(self, clip_id: str, owner: str) -> None:
        evidence_rows.set_evidence_owner(self._db, clip_id, owner)

    def set_hold(self, clip_id: str, hold: bool) -> None:
        evidence_rows.set_evidence_hold(self._db, clip_id, hold)

    def mark_deleted(self, clip_id: str, actor: str, now: datetime) -> None:
        evidence_rows.mark_evidence_deleted(self._db, clip_id, actor, now)

    def custody_fields(self) -> list[dict[str, Any]]:
        return evidence_rows.custody_fields(self._db)

    def stored_keys(self, clip_ids: Sequence[str]) -> list[StoredClipKey]:
        return evidence_rows.stored_keys(self._db, clip_ids)

    def delivery_facts(self, clip_ids: Sequence[str]) -> list[DeliveryFacts]:
        return evidence_rows.delivery_facts(self._db, clip_ids)

    def live_clips_with_key(self, store_key: str) -> list[str]:
        return evidence_rows.live_clips_with_key(self._db, store_key)


class SqliteCustodyEvents(_Rows):
    def append(
        self,
        actor: str,
        action: CustodyAction,
        subject: str,
        detail: Mapping[str, Any] | None = None,
        *,
        at: datetime | None = None,
    ) -> CustodyEvent:
        return custody_rows.append_in(self._db, actor, action, subject, detail, at=at)

    def after(self, subjects: Iterable[str], after_seq: int, limit: int) -> list[CustodyEvent]:
        return custody_rows.rows_in(self._db, subjects, after_seq, limit)

    def raw(self) -> Iterator[dict[str, Any]]:
        return custody_rows.raw_rows(self._db)

    def head(self) -> tuple[int, str] | None:
        return custody_rows.chain_head(self._db)


class SqliteEvidenceChecks(_Rows):
    def get(self, store_key: str) -> EvidenceCheck | None:
        return check_rows.get_check(self._db, store_key)

    def for_keys(self, store_keys: Iterable[str]) -> dict[str, EvidenceCheck]:
        return check_rows.checks_for(self._db, store_keys)

    def put(self, check: EvidenceCheck) -> EvidenceCheck | None:
        return check_rows.put_check(self._db, check)

    def objects_to_check(self, *, checked_before: datetime | None = None) -> list[StoredObject]:
        return check_rows.objects_to_check(self._db, checked_before=checked_before)


class SqliteCameraEventLog(_Rows):
    def add(self, site_id: str, events: Iterable[CameraEventItem], now: datetime) -> int:
        return camera_event_rows.insert_events(self._db, site_id, events, now)

    def between(
        self, site_id: str, camera_id: str, start: datetime, end: datetime, limit: int
    ) -> list[CameraEventRecord]:
        return camera_event_rows.events_between(self._db, site_id, camera_id, start, end, limit)

    def latest_times(self) -> dict[tuple[str, str], datetime]:
        return camera_event_rows.latest_event_times(self._db)


class SqliteLoginFailures(_Rows):
    def get(self, kind: str, key: str) -> ThrottleEntry | None:
        return throttle_rows.get_entry(self._db, kind, key)

    def get_many(self, keys: Sequence[tuple[str, str]]) -> dict[tuple[str, str], ThrottleEntry]:
        return throttle_rows.get_entries(self._db, keys)

    def put(self, entry: ThrottleEntry) -> None:
        throttle_rows.put_entry(self._db, entry)

    def clear(self, kind: str, key: str) -> None:
        throttle_rows.clear_entry(self._db, kind, key)

    def bound_addresses(self, limit: int) -> int:
        return throttle_rows.bound_addresses(self._db, limit)


class SqliteSessions(_Rows):
    def create(self, token_hash: str, username: str, now: datetime, expires_at: datetime) -> None:
        user_rows.create_session(self._db, token_hash, username, now, expires_at)

    def user(self, token_hash: str, now: datetime) -> UserRecord | None:
        return user_rows.session_user(self._db, token_hash, now)

    def delete(self, token_hash: str) -> None:
        user_rows.delete_session(self._db, token_hash)


class SqlUnitOfWork:
    """The ports over the connection of one open transaction, on either engine: the row modules
    speak ``SqlSession`` (``SqliteStorage`` and ``hub.storage.postgres.storage.PostgresStorage``
    open the transaction)."""

    def __init__(self, db: SqlSession) -> None:
        self.db = db
        self.jobs = SqliteClipJobs(db)
        self.sites = SqliteSites(db)
        self.site_access = SqliteSiteAccess(db)
        self.uplink_caps = SqliteUplinkCaps(db)
        self.uploads = SqliteUploadSessions(db)
        self.evidence = SqliteEvidenceItems(db)
        self.custody = SqliteCustodyEvents(db)
        self.checks = SqliteEvidenceChecks(db)
        self.camera_events = SqliteCameraEventLog(db)
        self.users = SqliteUsers(db)
        self.sessions = SqliteSessions(db)
        self.login_failures = SqliteLoginFailures(db)
        self.requests = SqliteFootageRequests(db)
        self.holds = SqliteHolds(db)
        self.disclosures = SqliteDisclosures(db)
        self.upload_links = SqliteUploadLinks(db)
        self.tus_uploads = SqliteTusUploads(db)
        self.outside_items = SqliteOutsideItems(db)
        self.derived = SqliteDerivedItems(db)
        self.exhibit_refs = SqliteExhibitReferences(db)
        self.leases = SqlLeases(db)
        self.dispatches = SqlDispatchClaims(db)
        self.live_sessions = SqlLiveSessions(db)


class SessionRunner(Protocol[SessionT_co]):
    """A database that runs a function in one transaction on its session: ``HubDatabase``
    (SQLite) and ``PostgresDatabase``."""

    def write(self, fn: Callable[[SessionT_co], T]) -> T: ...

    def read(self, fn: Callable[[SessionT_co], T]) -> T: ...

    async def awrite(self, fn: Callable[[SessionT_co], T]) -> T: ...

    async def ainsert(self, fn: Callable[[SessionT_co], T]) -> T: ...

    async def aread(self, fn: Callable[[SessionT_co], T]) -> T: ...


class SqlStorage(Generic[SessionT]):
    """``hub.storage.ports.HubStorage`` on either engine: each unit of work is one transaction of
    ``database``; the engine's own errors (``errors``) come out as ``StorageFailure``."""

    def __init__(
        self, database: SessionRunner[SessionT], errors: type[Exception], name: str
    ) -> None:
        self._runner = database
        self._errors = errors
        self._name = name

    async def awrite(self, work: Callable[[SqlUnitOfWork], T]) -> T:
        try:
            return await self._runner.awrite(lambda session: work(SqlUnitOfWork(session)))
        except self._errors as exc:
            raise StorageFailure(f"database {self._name}: {exc}") from exc

    async def ainsert(self, work: Callable[[SqlUnitOfWork], T]) -> T:
        try:
            return await self._runner.ainsert(lambda session: work(SqlUnitOfWork(session)))
        except self._errors as exc:
            raise StorageFailure(f"database {self._name}: {exc}") from exc

    async def aread(self, work: Callable[[SqlUnitOfWork], T]) -> T:
        try:
            return await self._runner.aread(lambda session: work(SqlUnitOfWork(session)))
        except self._errors as exc:
            raise StorageFailure(f"database {self._name}: {exc}") from exc

    def write(self, work: Callable[[SqlUnitOfWork], T]) -> T:
        try:
            return self._runner.write(lambda session: work(SqlUnitOfWork(session)))
        except self._errors as exc:
            raise StorageFailure(f"database {self._name}: {exc}") from exc

    def read(self, work: Callable[[SqlUnitOfWork], T]) -> T:
        try:
            return self._runner.read(lambda session: work(SqlUnitOfWork(session)))
        except self._errors as exc:
            raise StorageFailure(f"database {self._name}: {exc}") from exc


class SqliteStorage(SqlStorage[SqliteSession]):
    """The hub's storage on a ``HubDatabase``: one writer thread, one ``BEGIN IMMEDIATE``
    transaction per unit of work, reads on WAL snapshots."""

    def __init__(self, database: HubDatabase) -> None:
        name = "(in memory)" if database.path is None else str(database.path)
        super().__init__(database, sqlite3.Error, name)
        self.database = database
