"""The SQL of upload links, tus uploads and outside items (``hub.storage.upload_ports``): footage
from elsewhere. (``upload_rows`` is the clip uploads from site agents.)"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from hub.domain.uploads.links import LinkUse, UploadLink
from hub.domain.uploads.records import OutsideItem, TusState, TusUpload
from hub.storage.sql_session import SqlSession
from hub.storage.sqlite import worker_rows
from hub.storage.sqlite.rows import db_time, json_text, opt_time, parse_db_time


def _link(row: dict[str, Any]) -> UploadLink:
    return UploadLink(
        id=row["id"],
        request=row["request_id"],
        token_hash=row["token_hash"],
        recipient_name=row["recipient_name"],
        recipient_organisation=row["recipient_organisation"],
        recipient_email=row["recipient_email"],
        purpose=row["purpose"],
        created_by=row["created_by"],
        created_at=parse_db_time(row["created_at"]),
        expires_at=parse_db_time(row["expires_at"]),
        max_bytes=row["max_bytes"],
        max_files=row["max_files"],
        revoked_at=opt_time(row["revoked_at"]),
        revoked_by=row["revoked_by"],
    )


def _rows(db: SqlSession, sql: str, params: list[Any]) -> list[dict[str, Any]]:
    cursor = db.execute(sql, params)
    names = [column[0] for column in cursor.description]
    return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


class SqliteUploadLinks:
    def __init__(self, db: SqlSession) -> None:
        self._db = db

    def add(self, link: UploadLink) -> None:
        self._db.execute(
            """INSERT INTO upload_links (id, request_id, token_hash, recipient_name,
            recipient_organisation, recipient_email, purpose, created_by, created_at,
            expires_at, max_bytes, max_files) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)""",
            [
                link.id,
                link.request,
                link.token_hash,
                link.recipient_name,
                link.recipient_organisation,
                link.recipient_email,
                link.purpose,
                link.created_by,
                db_time(link.created_at),
                db_time(link.expires_at),
                link.max_bytes,
                link.max_files,
            ],
        )

    def get(self, link_id: str) -> UploadLink | None:
        found = _rows(self._db, "SELECT * FROM upload_links WHERE id = ?", [link_id])
        return _link(found[0]) if found else None

    def by_token_hash(self, token_hash: str) -> UploadLink | None:
        found = _rows(self._db, "SELECT * FROM upload_links WHERE token_hash = ?", [token_hash])
        return _link(found[0]) if found else None

    def for_request(self, reference: str) -> list[UploadLink]:
        sql = "SELECT * FROM upload_links WHERE request_id = ? ORDER BY created_at, id"
        return [_link(row) for row in _rows(self._db, sql, [reference])]

    def revoke(self, link_id: str, by: str, now: datetime) -> UploadLink:
        self._db.execute(
            """UPDATE upload_links SET revoked_at = ?, revoked_by = ?
            WHERE id = ? AND revoked_at IS NULL""",
            [db_time(now), by, link_id],
        )
        link = self.get(link_id)
        if link is None:
            raise KeyError(link_id)
        return link

    def use(self, link_id: str) -> LinkUse:
        row = self._db.execute(
            """SELECT COUNT(*), COALESCE(SUM(length), 0) FROM tus_uploads
            WHERE link_id = ? AND state IN ('receiving', 'stored')""",
            [link_id],
        ).fetchone()
        return LinkUse(files=int(row[0]), bytes=int(row[1]))


def _upload(row: dict[str, Any]) -> TusUpload:
    return TusUpload(
        id=row["id"],
        link_id=row["link_id"],
        request=row["request_id"],
        filename=row["filename"],
        declared_type=row["declared_type"],
        statement=json.loads(row["statement"]),
        length=row["length"],
        offset=row["offset"],
        state=TusState(row["state"]),
        created_at=parse_db_time(row["created_at"]),
        updated_at=parse_db_time(row["updated_at"]),
        uploader_ip=row["uploader_ip"],
        error=row["error"],
        outside_id=row["outside_id"],
    )


class SqliteTusUploads:
    def __init__(self, db: SqlSession) -> None:
        self._db = db

    def add(self, upload: TusUpload) -> None:
        self._db.execute(
            """INSERT INTO tus_uploads (id, link_id, request_id, filename, declared_type,
            statement, length, "offset", state, uploader_ip, created_at, updated_at)
            VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)""",
            [
                upload.id,
                upload.link_id,
                upload.request,
                upload.filename,
                upload.declared_type,
                json_text(upload.statement),
                upload.length,
                upload.offset,
                upload.state.value,
                upload.uploader_ip,
                db_time(upload.created_at),
                db_time(upload.updated_at),
            ],
        )

    def get(self, upload_id: str) -> TusUpload | None:
        found = _rows(self._db, "SELECT * FROM tus_uploads WHERE id = ?", [upload_id])
        return _upload(found[0]) if found else None

    def claim_patch(
        self, upload_id: str, claimant: str, offset: int, now: datetime, stale_before: datetime
    ) -> bool:
        return worker_rows.claim_patch(self._db, upload_id, claimant, offset, now, stale_before)

    def advance_patch(
        self, upload_id: str, claimant: str, offset: int, to: int, now: datetime
    ) -> bool:
        return worker_rows.advance_patch(self._db, upload_id, claimant, offset, to, now)

    def release_patch(self, upload_id: str, claimant: str) -> None:
        worker_rows.release_patch(self._db, upload_id, claimant)

    def end(
        self,
        upload_id: str,
        state: TusState,
        now: datetime,
        *,
        error: str | None = None,
        outside_id: str | None = None,
    ) -> None:
        self._db.execute(
            """UPDATE tus_uploads SET state = ?, error = ?, outside_id = ?, updated_at = ?
            WHERE id = ?""",
            [state.value, error, outside_id, db_time(now), upload_id],
        )

    def receiving(self) -> list[TusUpload]:
        sql = "SELECT * FROM tus_uploads WHERE state = 'receiving' ORDER BY updated_at"
        return [_upload(row) for row in _rows(self._db, sql, [])]


def _item(row: dict[str, Any]) -> OutsideItem:
    return OutsideItem(
        id=row["id"],
        request=row["request_id"],
        link_id=row["link_id"],
        upload_id=row["upload_id"],
        filename=row["filename"],
        media_type=row["media_type"],
        kind=row["kind"],
        size=row["bytes"],
        sha256=row["sha256"],
        store_key=row["store_key"],
        statement=json.loads(row["statement"]),
        uploaded_at=parse_db_time(row["uploaded_at"]),
        uploader_ip=row["uploader_ip"],
        receipt=bytes(row["receipt"]),
        receipt_signature=row["receipt_signature"],
        source=row["source"],
        deleted_at=opt_time(row["deleted_at"]),
    )


class SqliteOutsideItems:
    def __init__(self, db: SqlSession) -> None:
        self._db = db

    def add(self, item: OutsideItem) -> None:
        self._db.execute(
            """INSERT INTO outside_items (id, request_id, link_id, upload_id, filename,
            media_type, kind, bytes, sha256, store_key, statement, uploaded_at, uploader_ip,
            source, receipt, receipt_signature)
            VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)""",
            [
                item.id,
                item.request,
                item.link_id,
                item.upload_id,
                item.filename,
                item.media_type,
                item.kind,
                item.size,
                item.sha256,
                item.store_key,
                json_text(item.statement),
                db_time(item.uploaded_at),
                item.uploader_ip,
                item.source,
                item.receipt,
                item.receipt_signature,
            ],
        )

    def get(self, item_id: str) -> OutsideItem | None:
        found = _rows(self._db, "SELECT * FROM outside_items WHERE id = ?", [item_id])
        return _item(found[0]) if found else None

    def mark_deleted(self, item_id: str, now: datetime) -> None:
        self._db.execute(
            "UPDATE outside_items SET deleted_at = ? WHERE id = ? AND deleted_at IS NULL",
            [db_time(now), item_id],
        )

    def live_with_key(self, store_key: str) -> list[OutsideItem]:
        sql = "SELECT * FROM outside_items WHERE store_key = ? AND deleted_at IS NULL"
        return [_item(row) for row in _rows(self._db, sql, [store_key])]

    def for_request(self, reference: str) -> list[OutsideItem]:
        sql = "SELECT * FROM outside_items WHERE request_id = ? ORDER BY uploaded_at, id"
        return [_item(row) for row in _rows(self._db, sql, [reference])]
