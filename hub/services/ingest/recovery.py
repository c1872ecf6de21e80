"""Uploads across restarts: resumed at start, expired when stale, persisted at shutdown."""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime, timedelta
from functools import partial

from cctv_common.evidence.manifest import InvalidManifest, Manifest
from cctv_common.wire.payloads import ClipOffer, InvalidPayload
from hub.domain.ingest_rules import (
    ChunkBook,
)
from hub.domain.records import UploadRecord
from hub.services.ingest.acks import offer_digest
from hub.services.ingest.completion import IngestCompletion
from hub.services.ingest.session import UploadSession, close_staging, writes_done
from hub.services.ingest.staging import open_staging
from hub.storage.evidence.store import StoreError
from hub.storage.ports import UnitOfWork

log = logging.getLogger(__name__)


class IngestRecovery(IngestCompletion):
    # Start, stop, expiry.

    async def resume(self) -> int:
        """Reload unfinished uploads after a restart; returns how many."""
        records = await self._storage.aread(lambda uow: uow.uploads.in_state("receiving"))
        resumed = 0
        for record in records:
            if record.clip_id in self._uploads:
                continue
            try:
                upload = await self._reload(record)
            except (InvalidPayload, InvalidManifest, OSError, ValueError, StoreError) as exc:
                # StoreError: the evidence store (S3) is unreachable; the upload stays "receiving"
                # and the agent's next offer resumes it.
                log.error(
                    "site %s clip %s: cannot resume upload: %s", record.site_id, record.clip_id, exc
                )
                continue
            if upload is None:
                continue
            resumed += 1
            if upload.book.is_complete:
                upload.finalizing = True
                self._spawn(self._finalize(upload))
        if resumed:
            log.info("resumed %s unfinished upload(s)", resumed)
        return resumed

    async def _adopt(self, clip_id: str) -> UploadSession | None:
        """An upload in progress that this process has no session of (another hub process took
        its offer, or took it before a restart): its session built from the database record."""
        record = await self._storage.aread(lambda uow: uow.uploads.get(clip_id))
        if record is None or record.state != "receiving" or clip_id in self._uploads:
            return self._uploads.get(clip_id)
        try:
            return await self._reload(record)
        except (InvalidPayload, InvalidManifest, OSError, ValueError, StoreError) as exc:
            log.error("site %s clip %s: cannot take up upload: %s", record.site_id, clip_id, exc)
            return None

    async def _reload(self, record: UploadRecord) -> UploadSession | None:
        offer = ClipOffer.parse(record.offer.encode("utf-8"))
        manifest = Manifest.parse(offer.manifest_bytes())
        job = await self._storage.aread(lambda uow: uow.jobs.get(record.job_id))
        if job is None:
            log.error(
                "site %s clip %s: job %s is gone", record.site_id, record.clip_id, record.job_id
            )
            return None
        staging = self._staging_path(record.clip_id)
        held: tuple[tuple[int, int], ...] = record.held
        exists = await asyncio.to_thread(staging.exists)
        if not exists:
            in_store = await asyncio.to_thread(self._store.exists, record.clip_sha256)
            held = ((0, record.chunk_count - 1),) if in_store else ()
        fd = await asyncio.to_thread(open_staging, staging, record.clip_bytes, not exists)
        book = ChunkBook.for_offer(offer, held=held, ack_every=self._limits.ack_every_chunks)
        upload = UploadSession(
            site_id=record.site_id,
            clip_id=record.clip_id,
            offer=offer,
            offer_json=record.offer,
            offer_sha256=offer_digest(record.offer),
            manifest=manifest,
            job=job,
            book=book,
            staging=staging,
            fd=fd,
            persisted_held=book.held_count,
        )
        if not exists and held:
            close_staging(upload)
            await asyncio.to_thread(staging.unlink, True)
        self._uploads[record.clip_id] = upload
        log.info(
            "site %s clip %s: resuming with %s/%s chunks held",
            record.site_id,
            record.clip_id,
            book.held_count,
            book.chunk_count,
        )
        return upload

    async def expire_stale(self) -> int:
        """Discard uploads untouched for ``stale_upload_hours``; their jobs fail with the reason."""
        cutoff = self._now() - timedelta(hours=self._limits.stale_upload_hours)
        records = await self._storage.aread(lambda uow: uow.uploads.in_state("receiving"))
        expired = 0
        for record in records:
            if record.updated_at >= cutoff:
                continue
            upload = self._uploads.get(record.clip_id)
            if upload is not None and upload.finalizing:
                continue
            reason = (
                f"upload of clip {record.clip_id} did not complete within"
                f" {self._limits.stale_upload_hours:g} h"
            )
            if upload is not None:
                await self._discard(upload, "expired", reason)
            else:
                await asyncio.to_thread(self._staging_path(record.clip_id).unlink, True)
                now = self._now()
                await self._storage.awrite(
                    partial(_expire_in, clip_id=record.clip_id, reason=reason, now=now)
                )
            await self._fail_job(record.site_id, record.job_id, reason)
            log.warning("site %s clip %s: %s; discarded", record.site_id, record.clip_id, reason)
            expired += 1
        await self._forget_ended({record.clip_id for record in records})
        return expired

    async def forget_ended(self) -> int:
        """Drop sessions of uploads another hub process ended; returns how many.

        With two workers on a shared subscription most clips have a session in both (the offer
        on one, some chunks on the other), and only the one that stores the clip drops its own.
        The other's session (offer, manifest, chunk book, and an open file descriptor on what is
        now the stored evidence file) stays until this runs, so it runs often (the hub's
        maintenance), not only with the hourly-scale ``expire_stale``."""
        if not any(not upload.finalizing for upload in self._uploads.values()):
            return 0
        records = await self._storage.aread(lambda uow: uow.uploads.in_state("receiving"))
        return await self._forget_ended({record.clip_id for record in records})

    async def _forget_ended(self, receiving: set[str]) -> int:
        """Drop sessions of uploads another hub process stored, rejected or expired (this one
        learns it only when it records chunks, and an idle session would keep its file open)."""
        forgotten = 0
        for upload in list(self._uploads.values()):
            if upload.finalizing or upload.clip_id in receiving:
                continue
            record = await self._storage.aread(partial(_upload_in, clip_id=upload.clip_id))
            if record is None or record.state != "receiving":
                log.info("site %s clip %s: upload ended elsewhere", upload.site_id, upload.clip_id)
                await self._forget(upload)
                forgotten += 1
        return forgotten

    async def close(self) -> None:
        """Stop timers and tasks, persist what is held, close staging files."""
        self._closing = True
        for task in list(self._tasks):
            task.cancel()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
        for upload in list(self._uploads.values()):
            self._cancel_timer(upload)
            await writes_done(upload)
            if upload.fd >= 0 and not upload.finalizing:
                try:
                    await self._persist_held(upload)
                except OSError as exc:
                    log.error("clip %s: cannot persist held chunks: %s", upload.clip_id, exc)
            close_staging(upload)
        self._uploads.clear()
        self._hasher.shutdown(wait=False)  # idle: every upload's writes were awaited above


def _expire_in(uow: UnitOfWork, *, clip_id: str, reason: str, now: datetime) -> None:
    uow.uploads.set_state(clip_id, "expired", reason, now)


def _upload_in(uow: UnitOfWork, *, clip_id: str) -> UploadRecord | None:
    return uow.uploads.get(clip_id)
