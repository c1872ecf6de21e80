"""The end of an upload: the staging file checked, probed, moved into the store and recorded."""

from __future__ import annotations

import asyncio
import logging
import os
import time
from datetime import timedelta
from functools import partial
from typing import Final

from hub.services.ingest.clip_probe import ClipUnreadable, probe_clip
from hub.services.ingest.core import IngestCore
from hub.services.ingest.session import UploadSession, close_staging
from hub.services.ingest.staging import bad_chunks, sync_and_hash
from hub.services.ingest.transitions import (
    record_stored_in,
)
from hub.services.leases import PROCESS
from hub.storage.evidence.store import StoreError
from hub.storage.ports import StorageFailure

log = logging.getLogger(__name__)

# A completion claim older than this is taken over: its hub process died before it finished.
# Longer than a large clip's hash, probe and upload to the store take.
CLAIM_STALE_AFTER: Final = timedelta(minutes=5)
# Who completes an upload: this process (several hub workers may hold every chunk at once).
CLAIMANT: Final = PROCESS


class IngestCompletion(IngestCore):
    # Completion.

    def _completed(self, upload: UploadSession) -> None:
        self._spawn(self._finalize(upload))

    async def _finalize(self, upload: UploadSession) -> None:
        async with upload.lock:
            if self._uploads.get(upload.clip_id) is not upload:
                return
            upload.finalizing = True
            self._cancel_timer(upload)
            if not await self._claim(upload):
                log.info(
                    "site %s clip %s: being completed by another hub process; forgotten here",
                    upload.site_id,
                    upload.clip_id,
                )
                await self._forget(upload)
                return
            try:
                await self._store_clip(upload)
            except (StoreError, OSError, StorageFailure) as exc:
                # Keep the upload: the agent's next offer tries again.
                log.error(
                    "site %s clip %s: could not store: %s", upload.site_id, upload.clip_id, exc
                )
                upload.finalizing = False
            finally:
                # Stored or rejected: the claim no longer matters; otherwise any process may
                # try again.
                await self._release(upload)

    async def _claim(self, upload: UploadSession) -> bool:
        now = self._now()
        clip_id = upload.clip_id
        return await self._storage.awrite(
            lambda uow: uow.uploads.claim_completion(
                clip_id, CLAIMANT, now, now - CLAIM_STALE_AFTER
            )
        )

    async def _release(self, upload: UploadSession) -> None:
        clip_id = upload.clip_id
        try:
            await self._storage.awrite(
                lambda uow: uow.uploads.release_completion(clip_id, CLAIMANT)
            )
        except StorageFailure as exc:  # the claim goes stale and is taken over
            log.warning("site %s clip %s: claim not released: %s", upload.site_id, clip_id, exc)

    async def _store_clip(self, upload: UploadSession) -> None:
        site_id, clip_id, offer = upload.site_id, upload.clip_id, upload.offer
        expected = offer.clip_sha256
        if upload.staging.exists():
            # The running hash and the early probe (if this process saw every chunk) are
            # awaited with the fsync; otherwise the file is read back and probed now.
            started = time.perf_counter()
            probing = asyncio.ensure_future(asyncio.to_thread(self._probe, upload))
            digest = await self._running_digest(upload)
            how = "running" if digest is not None else "read back"
            size = offer.clip_bytes
            try:
                if digest is None:
                    digest, size = await asyncio.to_thread(sync_and_hash, upload.fd)
                else:
                    await asyncio.to_thread(os.fsync, upload.fd)
                if digest != expected or size != offer.clip_bytes:
                    # Read back every chunk: find the bad ones on disk, or reject the clip.
                    digest, size = await asyncio.to_thread(sync_and_hash, upload.fd)
                hashed = time.perf_counter() - started
            finally:
                # The probe's thread reads the file: it is done before anything is closed.
                await asyncio.wait([probing])
            log.info(
                "site %s clip %s: checked in %.3f s (SHA-256 %s and fsync %.3f s, probe %s)",
                site_id,
                clip_id,
                time.perf_counter() - started,
                how,
                hashed,
                probing.result()[1] if not probing.exception() else "failed",
            )
            if digest != expected or size != offer.clip_bytes:
                bad = await asyncio.to_thread(bad_chunks, upload.fd, upload.book)
                if bad:
                    log.warning(
                        "site %s clip %s: %s chunk(s) on disk do not match; asking again: %s",
                        site_id,
                        clip_id,
                        len(bad),
                        bad[:20],
                    )
                    for index in bad:
                        upload.drop_chunk(index)
                    upload.persisted_held = -1
                    upload.finalizing = False
                    self._spawn(self._ack_receiving(upload))
                    return
                await self._reject(
                    site_id,
                    clip_id,
                    f"every chunk matches the offer, but the clip's SHA-256 is {digest}, not the"
                    f" {expected} the manifest names",
                    job_id=upload.job.id,
                    offer_sha256=upload.offer_sha256,
                )
                return
            unreadable = probing.result()[0]
            if unreadable is not None:
                if not await asyncio.to_thread(upload.staging.exists):
                    # Not the clip's fault: its file went (a stale claim taken over by another
                    # hub process that stored it). The agent's next offer finds it stored.
                    log.warning("site %s clip %s: staging file went while probed", site_id, clip_id)
                    upload.finalizing = False
                    return
                await self._reject(
                    site_id,
                    clip_id,
                    f"the clip is not the video its manifest declares: {unreadable}",
                    job_id=upload.job.id,
                    offer_sha256=upload.offer_sha256,
                )
                return
            close_staging(upload)
            key = await asyncio.to_thread(self._store.put_file, upload.staging, expected)
        elif await asyncio.to_thread(self._store.exists, expected):
            # Moved into the store just before a crash; the record was not written yet.
            close_staging(upload)
            key = expected
        else:
            log.warning("site %s clip %s: staging file is gone; starting again", site_id, clip_id)
            await self._discard(upload, "receiving", None)
            return
        await self._record_stored(upload, key)

    @staticmethod
    def _probe(upload: UploadSession) -> tuple[ClipUnreadable | None, str]:
        """Blocking: the content check's verdict (None: the clip is the video it declares) and
        which probe gave it: the early one if it ran to the end on bytes still trusted, else a
        probe of the file now."""
        if upload.early_probe is not None:
            outcome = upload.early_probe.outcome()
            if outcome is not None:
                return (outcome if isinstance(outcome, ClipUnreadable) else None), "early"
        manifest = upload.manifest
        try:
            probe_clip(upload.staging, manifest.codec, manifest.width, manifest.height)
        except ClipUnreadable as exc:
            return exc, "at end"
        return None, "at end"

    async def _record_stored(self, upload: UploadSession, key: str) -> None:
        site_id, clip_id, offer = upload.site_id, upload.clip_id, upload.offer
        now = self._now()
        record = partial(record_stored_in, actor=self._actor, upload=upload, key=key, now=now)

        job, created = await self._storage.awrite(record)
        self._uploads.pop(clip_id, None)
        if created:
            log.info(
                "site %s clip %s: verified and stored, SHA-256 %s (%s bytes) for job %s",
                site_id,
                clip_id,
                offer.clip_sha256,
                offer.clip_bytes,
                upload.job.id,
            )
        self.acks.stored(
            site_id, clip_id, upload.offer_sha256, offer.chunk_count, offer.clip_sha256
        )
        if job is not None:
            self._jobs.clear(job.site_id, job.id)
