"""Sites and their cameras in SQLite."""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from cctv_common.evidence.signing import key_id, load_public_key
from cctv_common.wire.payloads import SiteStatus
from hub.domain.records import CameraRecord, SiteRecord
from hub.storage.sql_session import SqlSession
from hub.storage.sqlite.rows import db_time, opt_time, parse_db_time


def _site(row: Mapping[str, Any]) -> SiteRecord:
    return SiteRecord(
        id=row["id"],
        name=row["name"],
        public_key_pem=row["public_key_pem"],
        key_id=row["key_id"],
        state=row["state"],
        status=None if row["status"] is None else json.loads(row["status"]),
        last_seen=opt_time(row["last_seen"]),
        registered_at=parse_db_time(row["registered_at"]),
        registered_by=row["registered_by"],
    )


def _camera(row: Mapping[str, Any]) -> CameraRecord:
    return CameraRecord(
        site_id=row["site_id"],
        camera_id=row["camera_id"],
        state=row["state"],
        status=json.loads(row["status"]),
        buffer_start=opt_time(row["buffer_start"]),
        buffer_end=opt_time(row["buffer_end"]),
        codec=row["codec"],
        width=row["width"],
        height=row["height"],
        updated_at=parse_db_time(row["updated_at"]),
    )


def register_site(
    db: SqlSession, site_id: str, name: str, public_key_pem: str, registered_by: str, now: datetime
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


def get_site(db: SqlSession, site_id: str) -> SiteRecord | None:
    rows = list(db.query("SELECT * FROM sites WHERE id = ?", [site_id]))
    return _site(rows[0]) if rows else None


def list_sites(db: SqlSession) -> list[SiteRecord]:
    return [_site(row) for row in db.query("SELECT * FROM sites ORDER BY id")]


def apply_site_status(db: SqlSession, site_id: str, status: SiteStatus, now: datetime) -> None:
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


def list_cameras(db: SqlSession, site_id: str | None = None) -> list[CameraRecord]:
    if site_id is None:
        rows = db.query("SELECT * FROM cameras ORDER BY site_id, camera_id")
    else:
        rows = db.query("SELECT * FROM cameras WHERE site_id = ? ORDER BY camera_id", [site_id])
    return [_camera(row) for row in rows]


def get_camera(db: SqlSession, site_id: str, camera_id: str) -> CameraRecord | None:
    rows = list(
        db.query("SELECT * FROM cameras WHERE site_id = ? AND camera_id = ?", [site_id, camera_id])
    )
    return _camera(rows[0]) if rows else None
