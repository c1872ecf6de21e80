"""The agent's outbox: every clip job and every cut clip, kept in SQLite until the hub has it.

``data_dir/outbox.db``, on the store's one SQLite helper (``edge_agent.store.database``: WAL,
``synchronous=FULL``, one transaction per change, times as integer microseconds UTC), holds two
tables:

- ``jobs``: the hub's job payload as received, its state (queued, cutting, uploading, stored,
  failed), its cutting percent, the clip it produced and why it failed.
- ``clips``: a cut clip's folder (``data_dir/outbox/{clip_id}/``), its signed manifest, signature,
  size, SHA-256, chunk size and chunk hashes (everything a ``ClipOffer`` needs), its upload state
  (offered, uploading, stored, rejected), the chunk ranges the hub last said it holds, and the
  hub's reason for a rejection.

Every state change is one transaction, so a SIGKILL leaves either the old or the new state.
Inserts are idempotent on ``job_id`` and ``clip_id``; ``stored`` and ``rejected`` are final and a
replayed ack cannot move a clip out of them. The files of a clip are deleted by the job runner only
after ``clip_stored`` has committed.

Schema versions (``PRAGMA user_version``; an older outbox is migrated in place when opened, so
jobs and clips waiting for the hub survive an upgrade):

- 1: the tables of the first agents (``jobs``, ``clips``; created where missing), with times as
  ISO-8601 text (``updated_at``).
- 2: times as integer microseconds UTC like the rest of the store (``updated_us``, converted from
  ``updated_at``, which is dropped).

The methods block (SQLite): call them from a worker thread, e.g. ``asyncio.to_thread``.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Final, Literal, get_args

from cctv_common.clock import utc_now
from cctv_common.wire.chunk_ranges import Range, validate_ranges
from cctv_common.wire.ids import validate_id
from cctv_common.wire.job_state import JobState, is_final
from cctv_common.wire.payloads import ClipOffer, Job
from edge_agent.store.database import (
    Migration,
    StoreDatabase,
    columns,
    from_us,
    rows_in,
    to_us,
)

ClipState = Literal["offered", "uploading", "stored", "rejected"]
CLIP_STATES: Final[tuple[ClipState, ...]] = get_args(ClipState)
FINAL_CLIP_STATES: Final[frozenset[ClipState]] = frozenset({"stored", "rejected"})
PENDING_CLIP_STATES: Final[tuple[ClipState, ...]] = ("offered", "uploading")

DB_NAME: Final = "outbox.db"
CLIPS_DIR_NAME: Final = "outbox"


class OutboxError(Exception):
    """The outbox cannot do what was asked: an unknown job or clip, or a disk error."""


class UnknownJob(OutboxError):
    pass


class UnknownClip(OutboxError):
    pass


@dataclass(frozen=True)
class OutboxJob:
    job: Job
    state: JobState
    percent: int
    clip_id: str | None
    error: str | None
    arrival: int
    updated_at: datetime

    @property
    def job_id(self) -> str:
        return self.job.job_id

    @property
    def final(self) -> bool:
        return is_final(self.state)


@dataclass(frozen=True)
class NewClip:
    """A clip that has just been cut and hashed, ready to be offered."""

    clip_id: str
    job_id: str
    directory: Path
    manifest: bytes
    signature: str
    key_id: str
    clip_bytes: int
    sha256: str
    chunk_size: int
    chunk_sha256: tuple[str, ...]


@dataclass(frozen=True)
class ClipRecord:
    clip_id: str
    job_id: str
    directory: Path
    manifest: bytes
    signature: str
    key_id: str
    clip_bytes: int
    sha256: str
    chunk_size: int
    chunk_sha256: tuple[str, ...]
    state: ClipState
    hub_held: tuple[Range, ...]
    reason: str | None
    updated_at: datetime

    @property
    def chunk_count(self) -> int:
        return len(self.chunk_sha256)

    @property
    def final(self) -> bool:
        return self.state in FINAL_CLIP_STATES

    def offer(self) -> ClipOffer:
        """The ``ClipOffer`` payload for this clip (validated by the payload model)."""
        return ClipOffer(
            clip_id=self.clip_id,
            job_id=self.job_id,
            manifest=self.manifest.decode("utf-8"),
            signature=self.signature,
            key_id=self.key_id,
            clip_bytes=self.clip_bytes,
            clip_sha256=self.sha256,
            chunk_size=self.chunk_size,
            chunk_count=self.chunk_count,
            chunk_sha256=self.chunk_sha256,
        )


def _now() -> int:
    return to_us(utc_now())


def _version_1(conn: sqlite3.Connection) -> None:
    """The tables as the first agents made them (where missing), times as ISO text."""
    conn.execute(
        "create table if not exists jobs (job_id text primary key, payload text not null,"
        " priority integer not null, arrival integer not null, state text not null,"
        " percent integer not null, clip_id text, error text, updated_at text not null)"
    )
    conn.execute("create index if not exists idx_jobs_state on jobs (state)")
    conn.execute(
        "create table if not exists clips (clip_id text primary key, job_id text not null,"
        " directory text not null, manifest blob not null, signature text not null,"
        " key_id text not null, clip_bytes integer not null, sha256 text not null,"
        " chunk_size integer not null, chunk_sha256 text not null, state text not null,"
        " hub_held text not null, reason text, updated_at text not null)"
    )
    conn.execute("create index if not exists idx_clips_state on clips (state)")
    conn.execute("create index if not exists idx_clips_job_id on clips (job_id)")


def _version_2(conn: sqlite3.Connection) -> None:
    """Times as integer microseconds UTC: ``updated_at`` (ISO text) becomes ``updated_us``."""
    for table, key in (("jobs", "job_id"), ("clips", "clip_id")):
        if "updated_us" not in columns(conn, table):
            conn.execute(f"alter table {table} add column updated_us integer not null default 0")
        if "updated_at" in columns(conn, table):
            for row in rows_in(conn, f"select {key}, updated_at from {table}"):  # noqa: S608
                conn.execute(
                    f"update {table} set updated_us = ? where {key} = ?",  # noqa: S608
                    [to_us(datetime.fromisoformat(row["updated_at"])), row[key]],
                )
            conn.execute(f"alter table {table} drop column updated_at")


MIGRATIONS: Final[tuple[Migration, ...]] = (_version_1, _version_2)
SCHEMA_VERSION: Final = len(MIGRATIONS)


class Outbox:
    """Jobs and clips waiting for the hub: ``data_dir/outbox.db``, files in ``data_dir/outbox``."""

    def __init__(self, data_dir: Path) -> None:
        data_dir.mkdir(parents=True, exist_ok=True)
        self.data_dir = data_dir
        self.path = data_dir / DB_NAME
        self.clips_dir = data_dir / CLIPS_DIR_NAME
        self.clips_dir.mkdir(exist_ok=True)
        self._store = StoreDatabase(self.path, migrations=MIGRATIONS, write_error=OutboxError)
        self._writing = self._store.writing

    @property
    def schema_version(self) -> int:
        return self._store.schema_version

    def _rows(self, sql: str, params: Sequence[Any] = ()) -> list[dict[str, Any]]:
        return self._store.rows(sql, params)

    def clip_dir(self, clip_id: str) -> Path:
        """The folder of a clip: ``data_dir/outbox/{clip_id}`` (the id is checked first)."""
        validate_id("clip", clip_id)
        return self.clips_dir / clip_id

    # Jobs.

    def add_job(self, job: Job) -> tuple[OutboxJob, bool]:
        """Record a job as queued; a job already known is returned unchanged, with False."""
        with self._writing() as db:
            rows = rows_in(db, "select * from jobs where job_id = ?", [job.job_id])
            if rows:
                return _job_from_row(rows[0]), False
            arrival = rows_in(db, "select coalesce(max(arrival), 0) + 1 as n from jobs")[0]
            db.execute(
                "insert into jobs (job_id, payload, priority, arrival, state, percent, clip_id,"
                " error, updated_us) values (?, ?, ?, ?, ?, 0, null, null, ?)",
                [
                    job.job_id,
                    job.to_bytes().decode("utf-8"),
                    job.priority,
                    arrival["n"],
                    JobState.QUEUED,
                    _now(),
                ],
            )
            row = rows_in(db, "select * from jobs where job_id = ?", [job.job_id])[0]
        return _job_from_row(row), True

    def job(self, job_id: str) -> OutboxJob | None:
        rows = self._rows("select * from jobs where job_id = ?", [job_id])
        return _job_from_row(rows[0]) if rows else None

    def jobs(self, states: Iterable[JobState] | None = None) -> list[OutboxJob]:
        """Jobs in ``states`` (all when None), most urgent first, then in order of arrival."""
        order = " order by priority desc, arrival"
        if states is None:
            rows = self._rows("select * from jobs" + order)  # noqa: S608 - constant text
        else:
            wanted = list(states)
            marks = ", ".join("?" for _ in wanted)
            rows = self._rows(f"select * from jobs where state in ({marks})" + order, wanted)  # noqa: S608
        return [_job_from_row(row) for row in rows]

    def _update_job(self, db: sqlite3.Connection, job_id: str, **values: Any) -> OutboxJob:
        values["updated_us"] = _now()
        assignments = ", ".join(f"{name} = :{name}" for name in values)
        cursor = db.execute(
            f"update jobs set {assignments} where job_id = :job_id",  # noqa: S608
            {**values, "job_id": job_id},
        )
        if cursor.rowcount != 1:
            raise UnknownJob(f"job {job_id} is not in the outbox")
        row = rows_in(db, "select * from jobs where job_id = ?", [job_id])[0]
        return _job_from_row(row)

    def start_cut(self, job_id: str, clip_id: str) -> OutboxJob:
        """The job is being cut into ``clip_id``'s folder (so a restart can remove that folder)."""
        validate_id("clip", clip_id)
        with self._writing() as db:
            return self._update_job(
                db, job_id, state=JobState.CUTTING, percent=0, clip_id=clip_id, error=None
            )

    def set_job_percent(self, job_id: str, percent: int) -> OutboxJob:
        with self._writing() as db:
            return self._update_job(db, job_id, percent=max(0, min(100, percent)))

    def requeue_job(self, job_id: str) -> OutboxJob:
        """Back to queued (a cut interrupted by a restart); its old clip id is forgotten."""
        with self._writing() as db:
            return self._update_job(db, job_id, state=JobState.QUEUED, percent=0, clip_id=None)

    def fail_job(self, job_id: str, error: str) -> OutboxJob:
        """The job failed (refused or the cut failed); final. A final job is left as it is."""
        with self._writing() as db:
            rows = rows_in(db, "select * from jobs where job_id = ?", [job_id])
            if not rows:
                raise UnknownJob(f"job {job_id} is not in the outbox")
            current = _job_from_row(rows[0])
            if current.final:
                return current
            return self._update_job(db, job_id, state=JobState.FAILED, error=error)

    # Clips.

    def add_clip(self, clip: NewClip) -> ClipRecord:
        """Record a cut clip as offered and its job as uploading, in one transaction.

        Idempotent: a clip already recorded is returned as it is.
        """
        validate_id("clip", clip.clip_id)
        with self._writing() as db:
            existing = rows_in(db, "select * from clips where clip_id = ?", [clip.clip_id])
            if existing:
                return _clip_from_row(existing[0])
            db.execute(
                "insert into clips (clip_id, job_id, directory, manifest, signature, key_id,"
                " clip_bytes, sha256, chunk_size, chunk_sha256, state, hub_held, reason,"
                " updated_us) values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'offered', '[]', null, ?)",
                [
                    clip.clip_id,
                    clip.job_id,
                    str(clip.directory),
                    clip.manifest,
                    clip.signature,
                    clip.key_id,
                    clip.clip_bytes,
                    clip.sha256,
                    clip.chunk_size,
                    json.dumps(list(clip.chunk_sha256)),
                    _now(),
                ],
            )
            self._update_job(
                db,
                clip.job_id,
                state=JobState.UPLOADING,
                percent=0,
                clip_id=clip.clip_id,
                error=None,
            )
            row = rows_in(db, "select * from clips where clip_id = ?", [clip.clip_id])[0]
        return _clip_from_row(row)

    def clip(self, clip_id: str) -> ClipRecord | None:
        rows = self._rows("select * from clips where clip_id = ?", [clip_id])
        return _clip_from_row(rows[0]) if rows else None

    def clips(self, states: Iterable[ClipState] | None = None) -> list[ClipRecord]:
        """Clips in ``states`` (all when None), oldest first."""
        if states is None:
            rows = self._rows("select * from clips order by rowid")
        else:
            wanted = list(states)
            marks = ", ".join("?" for _ in wanted)
            rows = self._rows(
                f"select * from clips where state in ({marks}) order by rowid",  # noqa: S608
                wanted,
            )
        return [_clip_from_row(row) for row in rows]

    def pending_clips(self) -> list[ClipRecord]:
        """Clips the hub has not yet stored or rejected: these are (re-)offered."""
        return self.clips(PENDING_CLIP_STATES)

    def _current_clip(self, db: sqlite3.Connection, clip_id: str) -> ClipRecord:
        rows = rows_in(db, "select * from clips where clip_id = ?", [clip_id])
        if not rows:
            raise UnknownClip(f"clip {clip_id} is not in the outbox")
        return _clip_from_row(rows[0])

    def _update_clip(self, db: sqlite3.Connection, clip_id: str, **values: Any) -> ClipRecord:
        values["updated_us"] = _now()
        assignments = ", ".join(f"{name} = :{name}" for name in values)
        db.execute(
            f"update clips set {assignments} where clip_id = :clip_id",  # noqa: S608
            {**values, "clip_id": clip_id},
        )
        return self._current_clip(db, clip_id)

    def clip_receiving(self, clip_id: str, held: Sequence[Range]) -> ClipRecord:
        """The hub holds ``held``: remember it (for the log after a restart). No-op when final.

        No upload percent is kept: the hub works it out from the chunks it holds."""
        with self._writing() as db:
            current = self._current_clip(db, clip_id)
            if current.final:
                return current
            ranges = validate_ranges(held, current.chunk_count)
            return self._update_clip(db, clip_id, state="uploading", hub_held=json.dumps(ranges))

    def clip_stored(self, clip_id: str) -> tuple[ClipRecord, OutboxJob | None]:
        """The hub has stored the clip: the clip and its job are done. Idempotent; final."""
        with self._writing() as db:
            current = self._current_clip(db, clip_id)
            if current.final:
                return current, self._job_in(db, current.job_id)
            clip = self._update_clip(
                db,
                clip_id,
                state="stored",
                hub_held=json.dumps([[0, current.chunk_count - 1]]),
                reason=None,
            )
            job = self._update_job(
                db, current.job_id, state=JobState.STORED, percent=100, error=None
            )
            return clip, job

    def clip_rejected(self, clip_id: str, reason: str) -> tuple[ClipRecord, OutboxJob | None]:
        """The hub rejected the clip: kept on disk for investigation, its job failed. Final."""
        with self._writing() as db:
            current = self._current_clip(db, clip_id)
            if current.final:
                return current, self._job_in(db, current.job_id)
            clip = self._update_clip(db, clip_id, state="rejected", reason=reason)
            job = self._update_job(
                db, current.job_id, state=JobState.FAILED, error=f"hub rejected the clip: {reason}"
            )
            return clip, job

    def _job_in(self, db: sqlite3.Connection, job_id: str) -> OutboxJob | None:
        rows = rows_in(db, "select * from jobs where job_id = ?", [job_id])
        return _job_from_row(rows[0]) if rows else None

    def close(self) -> None:
        self._store.close()


def _job_from_row(row: dict[str, Any]) -> OutboxJob:
    return OutboxJob(
        job=Job.parse(row["payload"].encode("utf-8")),
        state=JobState(row["state"]),
        percent=int(row["percent"]),
        clip_id=row["clip_id"],
        error=row["error"],
        arrival=int(row["arrival"]),
        updated_at=from_us(row["updated_us"]),
    )


def _clip_from_row(row: dict[str, Any]) -> ClipRecord:
    return ClipRecord(
        clip_id=row["clip_id"],
        job_id=row["job_id"],
        directory=Path(row["directory"]),
        manifest=bytes(row["manifest"]),
        signature=row["signature"],
        key_id=row["key_id"],
        clip_bytes=int(row["clip_bytes"]),
        sha256=row["sha256"],
        chunk_size=int(row["chunk_size"]),
        chunk_sha256=tuple(json.loads(row["chunk_sha256"])),
        state=row["state"],
        hub_held=tuple((int(a), int(b)) for a, b in json.loads(row["hub_held"])),
        reason=row["reason"],
        updated_at=from_us(row["updated_us"]),
    )
