"""A finished upload becomes an outside item, or is refused and deleted.

In order: the file's type by its content (magic bytes; a video opened with PyAV), the SHA-256
taken as it arrived, the bytes moved into the evidence store under that hash, and in one unit
of work the outside item (marked "not from a site agent", with the uploader's statement and
the hub's signed receipt), the upload ended as stored and the ``upload`` custody row. A file
that is not a video or picture the hub takes is deleted with a clear message and a log line:
no item, nothing left behind."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import replace
from datetime import datetime
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from cctv_common.evidence.manifest import canonical_json
from cctv_common.evidence.signing import sign
from hub.domain.custody import CustodyAction
from hub.domain.uploads.links import UploadRefused
from hub.domain.uploads.media import ACCEPTED, MediaType
from hub.domain.uploads.receipt import receipt_body
from hub.domain.uploads.records import OutsideItem, TusState, TusUpload, new_outside_id
from hub.services.outside import staging
from hub.services.outside.media_probe import MediaUnreadable, probe_media
from hub.storage.evidence.store import EvidenceStore
from hub.storage.ports import HubStorage, UnitOfWork

log = logging.getLogger(__name__)


def upload_actor(upload: TusUpload) -> str:
    return f"upload-link:{upload.link_id}"


class Arrival:
    def __init__(
        self,
        storage: HubStorage,
        store: EvidenceStore,
        hub_key: Ed25519PrivateKey,
        hub_id: str,
        *,
        now: Callable[[], datetime],
    ) -> None:
        self._storage = storage
        self._store = store
        self._key = hub_key
        self._hub_id = hub_id
        self._now = now

    async def refuse(self, upload: TusUpload, path: Path, status: int, why: str) -> UploadRefused:
        """Delete the bytes, end the upload as refused; the error to answer with."""
        await asyncio.to_thread(staging.discard, path)
        now = self._now()
        await self._storage.awrite(
            lambda uow: uow.tus_uploads.end(upload.id, TusState.REFUSED, now, error=why)
        )
        log.warning(
            "upload %s (%s) for request %s refused and deleted: %s",
            upload.id,
            upload.filename,
            upload.request,
            why,
        )
        return UploadRefused(status, why)

    async def not_media(self, upload: TusUpload, path: Path) -> UploadRefused:
        return await self.refuse(
            upload,
            path,
            415,
            f"{upload.filename} is not a video or picture the hub takes ({ACCEPTED});"
            " it was deleted",
        )

    async def complete(
        self, upload: TusUpload, path: Path, media: MediaType, sha256: str
    ) -> OutsideItem:
        try:
            await asyncio.to_thread(probe_media, path, media)
        except MediaUnreadable as exc:
            raise await self.refuse(upload, path, 415, f"{upload.filename}: {exc}") from exc
        key = await asyncio.to_thread(self._store.put_file, path, sha256)
        now = self._now()
        item = OutsideItem(
            id=new_outside_id(),
            request=upload.request,
            link_id=upload.link_id,
            upload_id=upload.id,
            filename=upload.filename,
            media_type=media.mime,
            kind=media.kind.value,
            size=upload.length,
            sha256=sha256,
            store_key=key,
            statement=upload.statement,
            uploaded_at=now,
            uploader_ip=upload.uploader_ip,
            receipt=b"",
            receipt_signature="",
        )
        receipt = canonical_json(receipt_body(item, self._hub_id))
        item = replace(item, receipt=receipt, receipt_signature=sign(self._key, receipt))

        def record(uow: UnitOfWork) -> None:
            uow.outside_items.add(item)
            uow.tus_uploads.end(upload.id, TusState.STORED, now, outside_id=item.id)
            uow.custody.append(
                upload_actor(upload),
                CustodyAction.UPLOAD,
                f"outside:{item.id}",
                {
                    "request": item.request,
                    "link": item.link_id,
                    "filename": item.filename,
                    "media_type": item.media_type,
                    "bytes": item.size,
                    "sha256": item.sha256,
                    "uploader": upload.statement.get("name", ""),
                    "organisation": upload.statement.get("organisation", ""),
                    "address": upload.uploader_ip,
                    "source": item.source,
                },
            )

        await self._storage.awrite(record)
        log.info(
            "upload %s stored as %s for request %s: %s, %s bytes, SHA-256 %s",
            upload.id,
            item.id,
            item.request,
            media.mime,
            item.size,
            sha256,
        )
        return item
