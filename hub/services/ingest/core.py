"""The state every part of the hub's ingest shares: uploads in progress, acks, rejection.

``IngestCore`` holds the uploads this process is receiving, sends the signed acks and records
rejections; ``completion``, ``recovery`` and ``service`` build on it.
"""

from __future__ import annotations

import asyncio
import logging
import shutil
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from functools import partial
from pathlib import Path
from typing import Final

from cctv_common.clock import utc_now
from cctv_common.refusals import Refusals
from cctv_common.wire.chunk_ranges import held_count
from cctv_common.wire.hub_signing import HubSigner
from hub.domain.upload_queue import RateMeter
from hub.services.ingest.acks import AckSender
from hub.services.ingest.session import UploadSession, close_staging, hashing_done, writes_done
from hub.services.ingest.staging import hash_and_flush
from hub.services.ingest.transitions import (
    fail_job_in,
    record_held_in,
    record_rejection_in,
)
from hub.services.jobs import JobService, MessagePublisher
from hub.settings import HubSettings
from hub.storage.evidence.store import EvidenceStore
from hub.storage.ports import HubStorage

log = logging.getLogger(__name__)

# Chunks for no upload in progress are logged once per clip id; this many ids are remembered.
MAX_REMEMBERED_UNKNOWN: Final = 10_000
# Chunk bytes an upload may have waiting for the hash worker; past this the chunk consumer waits
# for the oldest, so a slow hash worker slows reception, not memory.
MAX_HASH_BACKLOG_BYTES: Final = 32 * 1024 * 1024


class IngestCore:
    def __init__(
        self,
        *,
        storage: HubStorage,
        store: EvidenceStore,
        settings: HubSettings,
        jobs: JobService,
        publish: MessagePublisher,
        signer: HubSigner,
        now: Callable[[], datetime] = utc_now,
        refusals: Refusals | None = None,
    ) -> None:
        self._storage = storage
        self._store = store
        self._settings = settings
        self._limits = settings.ingest
        self._jobs = jobs
        self.acks = AckSender(publish, signer)
        self._refusals = refusals or Refusals(log)
        self._now = now
        self._actor = f"hub:{settings.hub_id}"
        self._uploads: dict[str, UploadSession] = {}
        # Good chunk bytes per site over the last seconds (the upload queue's rate).
        self._site_rates: dict[str, RateMeter] = {}
        self._closing = False  # set by close(): nothing new is started
        self._tasks: set[asyncio.Task[None]] = set()
        self._unknown_logged: set[str] = set()
        # One thread feeds every running clip hash, so each upload's chunks go in in order; it
        # runs beside the chunk consumer (SHA-256 releases the GIL), not on its path.
        self._hasher = ThreadPoolExecutor(max_workers=1, thread_name_prefix="ingest-hash")
        settings.staging_dir.mkdir(parents=True, exist_ok=True, mode=0o700)

    def _refuse(self, site_id: str, clip_id: str, offer_sha256: str, reason: str) -> None:
        """An offer that is not provably the site's: answered and counted, never a custody row."""
        self._refusals.refuse(
            "offer", "site %s clip %s: unverified offer refused: %s", site_id, clip_id, reason
        )
        self.acks.rejected(site_id, clip_id, offer_sha256, reason)

    def _room_for(self, clip_bytes: int) -> bool:
        free = shutil.disk_usage(self._settings.staging_dir).free
        return free - clip_bytes >= self._limits.min_free_bytes

    # Acks.

    def _arm_timer(self, upload: UploadSession) -> None:
        self._cancel_timer(upload)
        loop = asyncio.get_running_loop()
        upload.timer = loop.call_later(
            self._limits.ack_delay_seconds, lambda: self._spawn(self._ack_receiving(upload))
        )

    @staticmethod
    def _cancel_timer(upload: UploadSession) -> None:
        if upload.timer is not None:
            upload.timer.cancel()
            upload.timer = None

    async def _ack_receiving(self, upload: UploadSession) -> None:
        """Tell the agent what is held and missing, then record the held ranges.

        The ack goes out first: it only steers what the agent sends (the agent keeps its clip
        until "stored"), so it must not wait for SQLite. A hub that crashes before the record is
        written resumes holding a little less, and the agent sends that part again.
        """
        if upload.finalizing or self._uploads.get(upload.clip_id) is not upload:
            return
        book = upload.book
        book.note_acked()
        self.acks.receiving(
            upload.site_id,
            upload.clip_id,
            upload.offer_sha256,
            book.held_ranges(),
            book.missing_ranges(),
        )
        log.debug(
            "site %s clip %s: holding %s/%s chunks",
            upload.site_id,
            upload.clip_id,
            book.held_count,
            book.chunk_count,
        )
        async with upload.lock:
            if not upload.finalizing and self._uploads.get(upload.clip_id) is upload:
                await self._persist_held(upload)

    async def _persist_held(self, upload: UploadSession) -> None:
        """Record what this process holds and take in what other hub processes hold.

        The record is the upload's shared state: every process unions its chunks into it, so
        the last one to record sees the whole clip and completes it. The job's percent is the
        hub's own count of chunks held (an agent's percent is not taken).
        """
        book = upload.book
        if book.held_count == upload.persisted_held:
            return
        # No fsync of the staging file here: after a power cut a "held" chunk may not be on disk,
        # but the restarted process has no running hash, so its completion re-reads and hashes
        # the whole file and asks again for any chunk whose bytes on disk are wrong. Syncing
        # every 16 chunks would stall ingest for nothing.
        now = self._now()
        merged = await self._storage.awrite(
            partial(
                record_held_in,
                clip_id=upload.clip_id,
                job_id=upload.job.id,
                held=book.held_ranges(),
                chunk_count=book.chunk_count,
                replace=upload.persisted_held < 0,
                now=now,
            )
        )
        if merged is None:
            log.info(
                "site %s clip %s: upload ended by another hub process; forgotten here",
                upload.site_id,
                upload.clip_id,
            )
            await self._forget(upload)
            return
        if book.merge(merged):
            # Chunks another process wrote: this process's running hash and early probe did
            # not see them.
            upload.void_early_checks()
            log.debug(
                "clip %s: %s/%s chunks held by all",
                upload.clip_id,
                book.held_count,
                book.chunk_count,
            )
        # What the record holds; chunks that arrived while it was written are recorded next time.
        upload.persisted_held = held_count(merged)
        if book.is_complete and not upload.finalizing and not self._closing:
            upload.finalizing = True
            self._completed(upload)

    def _completed(self, upload: UploadSession) -> None:
        """Every chunk is held (here or by another process): ``IngestCompletion`` stores it."""
        raise NotImplementedError

    async def _forget(self, upload: UploadSession) -> None:
        """Drop this process's session of an upload another process ended (its file is theirs)."""
        self._cancel_timer(upload)
        upload.finalizing = True
        if self._uploads.get(upload.clip_id) is upload:
            del self._uploads[upload.clip_id]
        await writes_done(upload)
        close_staging(upload)

    async def announce(self) -> None:
        """After a (re)connect: tell each agent with an upload in progress what the hub holds."""
        for upload in list(self._uploads.values()):
            if not upload.finalizing:
                await self._ack_receiving(upload)

    # Rejection and discarding.

    async def _reject(
        self, site_id: str, clip_id: str, reason: str, *, job_id: str | None, offer_sha256: str
    ) -> None:
        """A real rejection (the offer is the site's): custody row, job failed, signed ack."""
        reason = reason[:500]
        log.warning("site %s clip %s: rejected: %s", site_id, clip_id, reason)
        active = self._uploads.get(clip_id)
        if active is not None and active.site_id == site_id:
            await self._discard(active, "rejected", reason)
        now = self._now()

        record = partial(
            record_rejection_in,
            actor=self._actor,
            site_id=site_id,
            clip_id=clip_id,
            job_id=job_id,
            reason=reason,
            now=now,
        )

        failed = await self._storage.awrite(record)
        self.acks.rejected(site_id, clip_id, offer_sha256, reason)
        if failed is not None:
            self._jobs.clear(failed.site_id, failed.id)

    async def _discard(self, upload: UploadSession, state: str, reason: str | None) -> None:
        """Forget an upload and delete its staging file (the record keeps ``state``)."""
        self._cancel_timer(upload)
        upload.finalizing = True
        if self._uploads.get(upload.clip_id) is upload:
            del self._uploads[upload.clip_id]
        await writes_done(upload)
        close_staging(upload)
        await asyncio.to_thread(upload.staging.unlink, True)
        now = self._now()
        if state != "receiving":
            await self._storage.awrite(
                lambda uow: uow.uploads.set_state(upload.clip_id, state, reason, now)
            )

    async def _fail_job(self, site_id: str, job_id: str, reason: str) -> None:
        now = self._now()

        fail = partial(fail_job_in, job_id=job_id, reason=reason, now=now)

        if await self._storage.awrite(fail) is not None:
            self._jobs.clear(site_id, job_id)

    # The running clip hash.

    async def _hash_landed(self, upload: UploadSession, index: int, data: bytes) -> None:
        """Hand a verified, written chunk to the hash worker; wait only if it falls behind.

        The worker's futures are not wrapped for the event loop (that would wake the loop once
        per chunk): the backlog is trimmed by looking, and awaited only when it is too long.
        """
        running = upload.running
        if running is None:
            return
        job = self._hasher.submit(
            hash_and_flush, running, upload.fd, index, data, upload.book.offset(index)
        )
        backlog = upload.hashing
        backlog.append(job)
        most = max(1, MAX_HASH_BACKLOG_BYTES // upload.book.chunk_size)
        while backlog and (backlog[0].done() or len(backlog) > most):
            oldest = backlog.popleft()
            if not oldest.done():
                await asyncio.wait([asyncio.wrap_future(oldest)])
            if oldest.cancelled() or oldest.exception() is not None:
                upload.running = None  # the completion reads the file back

    async def _running_digest(self, upload: UploadSession) -> str | None:
        """The clip's SHA-256 from the running hash, or None: read the file back instead."""
        await hashing_done(upload)
        jobs = list(upload.hashing)
        upload.hashing.clear()
        for job in jobs:
            error = job.exception() if not job.cancelled() else asyncio.CancelledError()
            if error is not None:
                log.warning("clip %s: running hash failed (%s); read back", upload.clip_id, error)
                upload.running = None
        return None if upload.running is None else upload.running.digest()

    # Helpers.

    def _staging_path(self, clip_id: str) -> Path:
        return self._settings.staging_dir / f"{clip_id}.part"

    def _spawn(self, coroutine: object) -> None:
        assert asyncio.iscoroutine(coroutine)
        task: asyncio.Task[None] = asyncio.get_running_loop().create_task(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._task_done)

    def _task_done(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("ingest task failed", exc_info=task.exception())
