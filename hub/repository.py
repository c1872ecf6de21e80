"""Storage records and the SQL that reads and writes them; the API has its own schemas.

Every function takes a ``sqlite_utils.Database`` and runs inside ``HubDatabase.read``/``write``
(writes in the caller's transaction). Times are stored as fixed-width UTC text
(``2024-03-01T12:00:00.000000Z``), so that text order is time order.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final

from sqlite_utils import Database

from cctv_common.evidence.signing import key_id, load_public_key
from cctv_common.wire.chunk_ranges import Range
from cctv_common.wire.job_state import FINAL_STATES, JobState, is_final
from cctv_common.wire.payloads import SiteStatus
from hub.acl import Role

DEFAULT_LIST_LIMIT: Final = 500


def db_time(moment: datetime) -> str:
    if moment.tzinfo is None:
        raise ValueError("naive datetime given to the database; times must be UTC-aware")
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parse_db_time(text: str) -> datetime:
    return datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)


def _opt_time(text: str | None) -> datetime | None:
    return None if text is None else parse_db_time(text)


def _json(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"))


class NotFound(LookupError):
    """No row with this id."""


# Sites and cameras.


@dataclass(frozen=True)
class SiteRecord:
    id: str
    name: str
    public_key_pem: str
    key_id: str
    state: str
    status: dict[str, Any] | None
    last_seen: datetime | None
    registered_at: datetime
    registered_by: str


@dataclass(frozen=True)
class CameraRecord:
    site_id: str
    camera_id: str
    state: str
    status: dict[str, Any]
    buffer_start: datetime | None
    buffer_end: datetime | None
    codec: str | None
    width: int | None
    height: int | None
    updated_at: datetime


def _site(row: Mapping[str, Any]) -> SiteRecord:
    return SiteRecord(
        id=row["id"],
        name=row["name"],
        public_key_pem=row["public_key_pem"],
        key_id=row["key_id"],
        state=row["state"],
        status=None if row["status"] is None else json.loads(row["status"]),
        last_seen=_opt_time(row["last_seen"]),
        registered_at=parse_db_time(row["registered_at"]),
        registered_by=row["registered_by"],
    )


def _camera(row: Mapping[str, Any]) -> CameraRecord:
    return CameraRecord(
        site_id=row["site_id"],
        camera_id=row["camera_id"],
        state=row["state"],
        status=json.loads(row["status"]),
        buffer_start=_opt_time(row["buffer_start"]),
        buffer_end=_opt_time(row["buffer_end"]),
        codec=row["codec"],
        width=row["width"],
        height=row["height"],
        updated_at=parse_db_time(row["updated_at"]),
    )


def register_site(
    db: Database, site_id: str, name: str, public_key_pem: str, registered_by: str, now: datetime
) -> tuple[SiteRecord, bool]:
    """Insert a site or replace its name and key; the record and whether anything changed."""
    kid = key_id(load_public_key(public_key_pem))
    existing = get_site(db, site_id)
    if existing is not None and existing.key_id == kid and existing.name == name:
        return existing, False
    if existing is None:
        db.execute(
            "INSERT INTO sites (id, name, public_key_pem, key_id, registered_at, registered_by)"
            " VALUES (?, ?, ?, ?, ?, ?)",
            [site_id, name, public_key_pem, kid, db_time(now), registered_by],
        )
    else:
        db.execute(
            "UPDATE sites SET name = ?, public_key_pem = ?, key_id = ?, registered_at = ?,"
            " registered_by = ? WHERE id = ?",
            [name, public_key_pem, kid, db_time(now), registered_by, site_id],
        )
    site = get_site(db, site_id)
    assert site is not None
    return site, True


def get_site(db: Database, site_id: str) -> SiteRecord | None:
    rows = list(db.query("SELECT * FROM sites WHERE id = ?", [site_id]))
    return _site(rows[0]) if rows else None


def list_sites(db: Database) -> list[SiteRecord]:
    return [_site(row) for row in db.query("SELECT * FROM sites ORDER BY id")]


def apply_site_status(db: Database, site_id: str, status: SiteStatus, now: datetime) -> None:
    """Record a status message; an online status replaces the site's list of cameras."""
    db.execute(
        "UPDATE sites SET state = ?, status = ?, last_seen = ? WHERE id = ?",
        [status.state, status.model_dump_json(exclude_none=True), db_time(now), site_id],
    )
    if status.state != "online":
        return  # the last will carries no cameras: keep what the site last reported
    reported = [camera.camera_id for camera in status.cameras]
    marks = ", ".join("?" * len(reported))
    db.execute(
        f"DELETE FROM cameras WHERE site_id = ? AND camera_id NOT IN ({marks})"  # noqa: S608
        if reported
        else "DELETE FROM cameras WHERE site_id = ?",
        [site_id, *reported],
    )
    for camera in status.cameras:
        db.execute(
            "INSERT INTO cameras (site_id, camera_id, state, status, buffer_start, buffer_end,"
            " codec, width, height, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
            " ON CONFLICT (site_id, camera_id) DO UPDATE SET state = excluded.state,"
            " status = excluded.status, buffer_start = excluded.buffer_start,"
            " buffer_end = excluded.buffer_end, codec = excluded.codec, width = excluded.width,"
            " height = excluded.height, updated_at = excluded.updated_at",
            [
                site_id,
                camera.camera_id,
                camera.state,
                camera.model_dump_json(exclude_none=True),
                None if camera.buffer_start is None else db_time(camera.buffer_start),
                None if camera.buffer_end is None else db_time(camera.buffer_end),
                camera.codec,
                camera.width,
                camera.height,
                db_time(now),
            ],
        )


def list_cameras(db: Database, site_id: str | None = None) -> list[CameraRecord]:
    if site_id is None:
        rows = db.query("SELECT * FROM cameras ORDER BY site_id, camera_id")
    else:
        rows = db.query("SELECT * FROM cameras WHERE site_id = ? ORDER BY camera_id", [site_id])
    return [_camera(row) for row in rows]


def get_camera(db: Database, site_id: str, camera_id: str) -> CameraRecord | None:
    rows = list(
        db.query("SELECT * FROM cameras WHERE site_id = ? AND camera_id = ?", [site_id, camera_id])
    )
    return _camera(rows[0]) if rows else None


# Jobs.


@dataclass(frozen=True)
class JobRecord:
    id: str
    site_id: str
    camera_id: str
    start: datetime
    end: datetime
    reason: str
    priority: int
    requested_by: str
    state: JobState
    percent: int
    error: str | None
    clip_id: str | None
    created_at: datetime
    updated_at: datetime

    @property
    def is_terminal(self) -> bool:
        return is_final(self.state)


def _job(row: Mapping[str, Any]) -> JobRecord:
    return JobRecord(
        id=row["id"],
        site_id=row["site_id"],
        camera_id=row["camera_id"],
        start=parse_db_time(row["start"]),
        end=parse_db_time(row["end"]),
        reason=row["reason"],
        priority=row["priority"],
        requested_by=row["requested_by"],
        state=JobState(row["state"]),
        percent=row["percent"],
        error=row["error"],
        clip_id=row["clip_id"],
        created_at=parse_db_time(row["created_at"]),
        updated_at=parse_db_time(row["updated_at"]),
    )


def insert_job(db: Database, job: JobRecord) -> JobRecord:
    db.execute(
        'INSERT INTO jobs (id, site_id, camera_id, start, "end", reason, priority, requested_by,'
        " state, percent, error, clip_id, created_at, updated_at)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [
            job.id,
            job.site_id,
            job.camera_id,
            db_time(job.start),
            db_time(job.end),
            job.reason,
            job.priority,
            job.requested_by,
            job.state,
            job.percent,
            job.error,
            job.clip_id,
            db_time(job.created_at),
            db_time(job.updated_at),
        ],
    )
    return job


def get_job(db: Database, job_id: str) -> JobRecord | None:
    rows = list(db.query("SELECT * FROM jobs WHERE id = ?", [job_id]))
    return _job(rows[0]) if rows else None


def list_jobs(
    db: Database, *, requested_by: str | None = None, limit: int = DEFAULT_LIST_LIMIT
) -> list[JobRecord]:
    if requested_by is None:
        rows = db.query("SELECT * FROM jobs ORDER BY created_at DESC LIMIT ?", [limit])
    else:
        rows = db.query(
            "SELECT * FROM jobs WHERE requested_by = ? ORDER BY created_at DESC LIMIT ?",
            [requested_by, limit],
        )
    return [_job(row) for row in rows]


def open_jobs(db: Database) -> list[JobRecord]:
    states = sorted(FINAL_STATES)
    rows = db.query(
        f"SELECT * FROM jobs WHERE state NOT IN ({', '.join('?' * len(states))})"  # noqa: S608
        " ORDER BY created_at",
        states,
    )
    return [_job(row) for row in rows]


def jobs_ended_since(db: Database, since: datetime) -> list[JobRecord]:
    states = sorted(FINAL_STATES)
    rows = db.query(
        f"SELECT * FROM jobs WHERE state IN ({', '.join('?' * len(states))})"  # noqa: S608
        " AND updated_at >= ? ORDER BY updated_at",
        [*states, db_time(since)],
    )
    return [_job(row) for row in rows]


def update_job(
    db: Database,
    job_id: str,
    *,
    state: JobState,
    percent: int,
    error: str | None,
    clip_id: str | None,
    now: datetime,
) -> JobRecord:
    db.execute(
        "UPDATE jobs SET state = ?, percent = ?, error = ?, clip_id = ?, updated_at = ?"
        " WHERE id = ?",
        [state, percent, error, clip_id, db_time(now), job_id],
    )
    job = get_job(db, job_id)
    if job is None:
        raise NotFound(f"job {job_id} does not exist")
    return job


# Uploads.


@dataclass(frozen=True)
class UploadRecord:
    clip_id: str
    site_id: str
    job_id: str
    offer: str  # the ClipOffer payload as received (JSON text)
    clip_sha256: str
    clip_bytes: int
    chunk_count: int
    chunk_size: int
    held: tuple[Range, ...]
    state: str
    reason: str | None
    created_at: datetime
    updated_at: datetime


def _upload(row: Mapping[str, Any]) -> UploadRecord:
    return UploadRecord(
        clip_id=row["clip_id"],
        site_id=row["site_id"],
        job_id=row["job_id"],
        offer=row["offer"],
        clip_sha256=row["clip_sha256"],
        clip_bytes=row["clip_bytes"],
        chunk_count=row["chunk_count"],
        chunk_size=row["chunk_size"],
        held=tuple((int(a), int(b)) for a, b in json.loads(row["held"])),
        state=row["state"],
        reason=row["reason"],
        created_at=parse_db_time(row["created_at"]),
        updated_at=parse_db_time(row["updated_at"]),
    )


def put_upload(db: Database, upload: UploadRecord) -> None:
    """Insert an upload or replace the one with the same clip id."""
    db.execute(
        "INSERT OR REPLACE INTO uploads (clip_id, site_id, job_id, offer, clip_sha256, clip_bytes,"
        " chunk_count, chunk_size, held, state, reason, created_at, updated_at)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [
            upload.clip_id,
            upload.site_id,
            upload.job_id,
            upload.offer,
            upload.clip_sha256,
            upload.clip_bytes,
            upload.chunk_count,
            upload.chunk_size,
            _json([list(r) for r in upload.held]),
            upload.state,
            upload.reason,
            db_time(upload.created_at),
            db_time(upload.updated_at),
        ],
    )


def get_upload(db: Database, clip_id: str) -> UploadRecord | None:
    rows = list(db.query("SELECT * FROM uploads WHERE clip_id = ?", [clip_id]))
    return _upload(rows[0]) if rows else None


def uploads_in_state(db: Database, state: str) -> list[UploadRecord]:
    rows = db.query("SELECT * FROM uploads WHERE state = ? ORDER BY created_at", [state])
    return [_upload(row) for row in rows]


def set_upload_held(db: Database, clip_id: str, held: Sequence[Range], now: datetime) -> None:
    db.execute(
        "UPDATE uploads SET held = ?, updated_at = ? WHERE clip_id = ? AND state = 'receiving'",
        [_json([list(r) for r in held]), db_time(now), clip_id],
    )


def set_upload_state(
    db: Database, clip_id: str, state: str, reason: str | None, now: datetime
) -> None:
    db.execute(
        "UPDATE uploads SET state = ?, reason = ?, updated_at = ? WHERE clip_id = ?",
        [state, reason, db_time(now), clip_id],
    )


# Evidence items.


@dataclass(frozen=True)
class EvidenceRecord:
    clip_id: str
    sha256: str
    store_key: str
    site_id: str
    camera_id: str
    job_id: str
    requested_by: str
    manifest: str  # the exact signed bytes, decoded as UTF-8
    signature: str
    key_id: str
    bytes: int
    delivered_start: datetime
    delivered_end: datetime
    codec: str
    width: int
    height: int
    stored_at: datetime
    category: str = "unclassified"
    retention_until: datetime | None = None
    legal_hold: bool = False
    deleted_at: datetime | None = None  # a deleted item keeps its row; its bytes are gone
    deleted_by: str | None = None


def _evidence(row: Mapping[str, Any]) -> EvidenceRecord:
    return EvidenceRecord(
        clip_id=row["clip_id"],
        sha256=row["sha256"],
        store_key=row["store_key"],
        site_id=row["site_id"],
        camera_id=row["camera_id"],
        job_id=row["job_id"],
        requested_by=row["requested_by"],
        manifest=row["manifest"],
        signature=row["signature"],
        key_id=row["key_id"],
        bytes=row["bytes"],
        delivered_start=parse_db_time(row["delivered_start"]),
        delivered_end=parse_db_time(row["delivered_end"]),
        codec=row["codec"],
        width=row["width"],
        height=row["height"],
        stored_at=parse_db_time(row["stored_at"]),
        category=row["category"],
        retention_until=_opt_time(row["retention_until"]),
        legal_hold=bool(row["legal_hold"]),
        deleted_at=_opt_time(row.get("deleted_at")),
        deleted_by=row.get("deleted_by"),
    )


def insert_evidence(db: Database, item: EvidenceRecord) -> None:
    db.execute(
        "INSERT INTO evidence_items (clip_id, sha256, store_key, site_id, camera_id, job_id,"
        " requested_by, manifest, signature, key_id, bytes, delivered_start, delivered_end, codec,"
        " width, height, stored_at, category, retention_until, legal_hold)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [
            item.clip_id,
            item.sha256,
            item.store_key,
            item.site_id,
            item.camera_id,
            item.job_id,
            item.requested_by,
            item.manifest,
            item.signature,
            item.key_id,
            item.bytes,
            db_time(item.delivered_start),
            db_time(item.delivered_end),
            item.codec,
            item.width,
            item.height,
            db_time(item.stored_at),
            item.category,
            None if item.retention_until is None else db_time(item.retention_until),
            int(item.legal_hold),
        ],
    )


def get_evidence(db: Database, clip_id: str) -> EvidenceRecord | None:
    rows = list(db.query("SELECT * FROM evidence_items WHERE clip_id = ?", [clip_id]))
    return _evidence(rows[0]) if rows else None


def evidence_for_job(db: Database, job_id: str) -> list[EvidenceRecord]:
    rows = db.query("SELECT * FROM evidence_items WHERE job_id = ? ORDER BY stored_at", [job_id])
    return [_evidence(row) for row in rows]


def list_evidence(
    db: Database, *, requested_by: str | None = None, limit: int = DEFAULT_LIST_LIMIT
) -> list[EvidenceRecord]:
    if requested_by is None:
        rows = db.query("SELECT * FROM evidence_items ORDER BY stored_at DESC LIMIT ?", [limit])
    else:
        rows = db.query(
            "SELECT * FROM evidence_items WHERE requested_by = ? ORDER BY stored_at DESC LIMIT ?",
            [requested_by, limit],
        )
    return [_evidence(row) for row in rows]


# Users and sessions.


@dataclass(frozen=True)
class UserRecord:
    username: str
    role: Role
    password_hash: str
    source: str
    disabled: bool


def _user(row: Mapping[str, Any]) -> UserRecord:
    return UserRecord(
        username=row["username"],
        role=Role(row["role"]),
        password_hash=row["password_hash"],
        source=row["source"],
        disabled=bool(row["disabled"]),
    )


def sync_config_users(db: Database, users: Iterable[tuple[str, Role, str]], now: datetime) -> None:
    """Make the config's users exist as given; config users no longer in the config are disabled."""
    wanted = {name: (role, password_hash) for name, role, password_hash in users}
    for name, (role, password_hash) in wanted.items():
        db.execute(
            "INSERT INTO users (username, role, password_hash, source, disabled, created_at,"
            " updated_at) VALUES (?, ?, ?, 'config', 0, ?, ?) ON CONFLICT (username) DO UPDATE"
            " SET role = excluded.role, password_hash = excluded.password_hash, source = 'config',"
            " disabled = 0, updated_at = excluded.updated_at",
            [name, role.value, password_hash, db_time(now), db_time(now)],
        )
    for row in db.query("SELECT username FROM users WHERE source = 'config' AND disabled = 0"):
        if row["username"] not in wanted:
            db.execute(
                "UPDATE users SET disabled = 1, updated_at = ? WHERE username = ?",
                [db_time(now), row["username"]],
            )
            db.execute("DELETE FROM sessions WHERE username = ?", [row["username"]])


def get_user(db: Database, username: str) -> UserRecord | None:
    rows = list(db.query("SELECT * FROM users WHERE username = ?", [username]))
    return _user(rows[0]) if rows else None


def create_session(
    db: Database, token_hash: str, username: str, now: datetime, expires_at: datetime
) -> None:
    db.execute("DELETE FROM sessions WHERE expires_at < ?", [db_time(now)])
    db.execute(
        "INSERT INTO sessions (token_hash, username, created_at, expires_at) VALUES (?, ?, ?, ?)",
        [token_hash, username, db_time(now), db_time(expires_at)],
    )


def session_user(db: Database, token_hash: str, now: datetime) -> UserRecord | None:
    rows = list(
        db.query(
            "SELECT users.* FROM sessions JOIN users ON users.username = sessions.username"
            " WHERE sessions.token_hash = ? AND sessions.expires_at > ? AND users.disabled = 0",
            [token_hash, db_time(now)],
        )
    )
    return _user(rows[0]) if rows else None


def delete_session(db: Database, token_hash: str) -> None:
    db.execute("DELETE FROM sessions WHERE token_hash = ?", [token_hash])
