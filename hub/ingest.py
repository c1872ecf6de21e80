"""The hub side of the clip upload (docs/upload-protocol.md): the I/O around ``ingest_rules``.

Entry points, all on the event loop, fed by ``HubService`` from MQTT:

- ``handle_offer(site, clip, payload)``: a ``ClipOffer`` on ``clips/{clip}/manifest``;
- ``handle_chunk(site, clip, index, data)``: raw bytes on ``clips/{clip}/chunk/{n}``;
- ``resume()`` at start (reload unfinished uploads), ``announce()`` after every (re)connect
  (tell agents what is held), ``expire_stale()`` now and then, ``close()`` at shutdown.

Blocking work runs in threads: chunk hashing and ``os.pwrite`` into a staging file, the fsync and
whole-clip SHA-256 of the staging file as it is on disk, the move into the evidence store, and
SQLite (through the writer thread). Held ranges are persisted every time an ack goes out, so a
restarted hub resumes from what it said it held; a chunk that a power cut lost is found by the
final re-read (every chunk is hashed again when the whole does not match) and asked for again.
The clip is stored, its evidence item and custody row written in one transaction, and only then
is ``stored`` acked.

Nothing here raises on bad input from a site. An offer that does not verify as the site's
(malformed, unknown site, bad signature, ids that disagree) is answered ``rejected`` and counted,
with a rate-limited log line and no custody row: junk is not evidence of anything. An offer that
does verify but does not answer its job (another camera, a window outside the job's) is a real
rejection: a custody row, the job failed, ``rejected`` with the reason. So is a clip whose bytes
are not the video its manifest declares (``hub.clip_probe``, run on the complete clip before it is
stored). Bad chunks are dropped with a log line (and asked for again). Every ack is signed with the
hub's key and names the offer it answers (``hub.ingest_acks``).
"""

from __future__ import annotations

import asyncio
import logging
import os
import shutil
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Final

from sqlite_utils import Database

from cctv_common.clock import utc_now
from cctv_common.evidence.manifest import InvalidManifest, Manifest
from cctv_common.refusals import Refusals
from cctv_common.wire.hub_signing import HubSigner
from cctv_common.wire.job_state import JobState, can_move
from cctv_common.wire.payloads import ClipOffer, InvalidPayload
from hub import repository as repo
from hub.audit import AuditAction, append_in
from hub.clip_probe import ClipUnreadable, probe_clip
from hub.db import HubDatabase
from hub.evidence_store import EvidenceStore, StoreError
from hub.ingest_acks import AckSender, offer_digest
from hub.ingest_rules import (
    ChunkBook,
    ChunkVerdict,
    OfferRejected,
    OfferUnverified,
    check_against_job,
    verify_offer,
)
from hub.jobs import JobService, Publisher
from hub.repository import EvidenceRecord, JobRecord, UploadRecord
from hub.settings import HubSettings
from hub.staging import bad_chunks, open_staging, sync_and_hash, verify_and_write

log = logging.getLogger(__name__)

# Chunks for no upload in progress are logged once per clip id; this many ids are remembered.
MAX_REMEMBERED_UNKNOWN: Final = 10_000


@dataclass
class _Upload:
    """One clip being received (in memory; ``uploads`` in the database is the durable copy)."""

    site_id: str
    clip_id: str
    offer: ClipOffer
    offer_json: str
    # SHA-256 of the offer payload last received for this upload: every ack names it.
    offer_sha256: str
    manifest: Manifest
    job: JobRecord
    book: ChunkBook
    staging: Path
    fd: int
    persisted_held: int = 0
    timer: asyncio.TimerHandle | None = None
    finalizing: bool = False
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    # Chunk writes running in worker threads: the staging fd is closed only once they are done,
    # so a write can never land in whatever file reuses the fd number.
    writes: set[asyncio.Future[str]] = field(default_factory=set)

    def same_offer(self, offer: ClipOffer) -> bool:
        return (
            offer.manifest == self.offer.manifest
            and offer.signature == self.offer.signature
            and offer.clip_sha256 == self.offer.clip_sha256
            and offer.chunk_size == self.offer.chunk_size
            and offer.chunk_sha256 == self.offer.chunk_sha256
        )


class IngestService:
    def __init__(
        self,
        *,
        database: HubDatabase,
        store: EvidenceStore,
        settings: HubSettings,
        jobs: JobService,
        publish: Publisher,
        signer: HubSigner,
        now: Callable[[], datetime] = utc_now,
        refusals: Refusals | None = None,
    ) -> None:
        self._database = database
        self._store = store
        self._settings = settings
        self._limits = settings.ingest
        self._jobs = jobs
        self.acks = AckSender(publish, signer)
        self._refusals = refusals or Refusals(log)
        self._now = now
        self._actor = f"hub:{settings.hub_id}"
        self._uploads: dict[str, _Upload] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._unknown_logged: set[str] = set()
        settings.staging_dir.mkdir(parents=True, exist_ok=True, mode=0o700)

    # Public state, for the API and tests.

    def active_uploads(self) -> dict[str, tuple[int, int]]:
        """Clip id -> (chunks held, chunk count) for uploads in progress."""
        return {c: (u.book.held_count, u.book.chunk_count) for c, u in self._uploads.items()}

    # Offers.

    async def handle_offer(self, site_id: str, clip_id: str, payload: bytes) -> None:
        digest = offer_digest(payload)
        try:
            offer = ClipOffer.parse(payload)
        except InvalidPayload as exc:
            self._refuse(site_id, clip_id, digest, f"malformed offer: {exc}")
            return

        def load(
            db: Database,
        ) -> tuple[repo.SiteRecord | None, JobRecord | None, EvidenceRecord | None]:
            return (
                repo.get_site(db, site_id),
                repo.get_job(db, offer.job_id),
                repo.get_evidence(db, clip_id),
            )

        site, job, stored = await self._database.aread(load)
        try:
            manifest = verify_offer(
                site_id=site_id,
                clip_id=clip_id,
                offer=offer,
                site_public_key_pem=None if site is None else site.public_key_pem,
            )
        except OfferUnverified as exc:
            self._refuse(site_id, clip_id, digest, exc.reason)
            return
        if stored is not None:
            if stored.site_id != site_id:
                reason = f"clip id {clip_id} is used by another site"
            elif stored.sha256 == offer.clip_sha256:
                log.info("site %s clip %s: offered again, already stored; acking", site_id, clip_id)
                self.acks.stored(site_id, clip_id, digest, offer.chunk_count, stored.sha256)
                return
            else:
                reason = (
                    f"clip {clip_id} is already stored with SHA-256 {stored.sha256}; this offer"
                    f" has {offer.clip_sha256}"
                )
            await self._reject(site_id, clip_id, reason, job_id=None, offer_sha256=digest)
            return
        active = self._uploads.get(clip_id)
        if active is not None and active.site_id != site_id:
            await self._reject(
                site_id,
                clip_id,
                f"clip id {clip_id} is used by another site",
                job_id=None,
                offer_sha256=digest,
            )
            return
        if active is not None and active.same_offer(offer):
            active.offer_sha256 = digest
            await self._answer_again(active)
            return
        try:
            check_against_job(
                site_id=site_id,
                offer=offer,
                manifest=manifest,
                job=job,
                max_clip_bytes=self._limits.max_clip_bytes,
            )
            if (
                job is not None
                and job.state is JobState.STORED
                and job.clip_id not in (None, clip_id)
            ):
                raise OfferRejected(
                    f"job {job.id} is already answered by stored clip {job.clip_id}"
                )
        except OfferRejected as exc:
            await self._reject(
                site_id, clip_id, exc.reason, job_id=offer.job_id, offer_sha256=digest
            )
            return
        assert job is not None
        if active is not None:
            log.warning(
                "site %s clip %s: offered with different content; starting its upload again",
                site_id,
                clip_id,
            )
            await self._discard(active, "receiving", None)
        if not await asyncio.to_thread(self._room_for, offer.clip_bytes):
            log.error(
                "site %s clip %s: not enough disk for %s bytes; offer ignored until there is",
                site_id,
                clip_id,
                offer.clip_bytes,
            )
            return
        upload = await self._begin(
            site_id, clip_id, offer, payload.decode("utf-8"), digest, manifest, job
        )
        log.info(
            "site %s clip %s: receiving %s bytes in %s chunks for job %s",
            site_id,
            clip_id,
            offer.clip_bytes,
            offer.chunk_count,
            job.id,
        )
        await self._answer_again(upload)

    def _refuse(self, site_id: str, clip_id: str, offer_sha256: str, reason: str) -> None:
        """An offer that is not provably the site's: answered and counted, never a custody row."""
        self._refusals.refuse(
            "offer", "site %s clip %s: unverified offer refused: %s", site_id, clip_id, reason
        )
        self.acks.rejected(site_id, clip_id, offer_sha256, reason)

    def _room_for(self, clip_bytes: int) -> bool:
        free = shutil.disk_usage(self._settings.staging_dir).free
        return free - clip_bytes >= self._limits.min_free_bytes

    async def _begin(
        self,
        site_id: str,
        clip_id: str,
        offer: ClipOffer,
        offer_json: str,
        offer_sha256: str,
        manifest: Manifest,
        job: JobRecord,
    ) -> _Upload:
        now = self._now()
        staging = self._staging_path(clip_id)
        fd = await asyncio.to_thread(open_staging, staging, offer.clip_bytes, True)
        record = UploadRecord(
            clip_id=clip_id,
            site_id=site_id,
            job_id=job.id,
            offer=offer_json,
            clip_sha256=offer.clip_sha256,
            clip_bytes=offer.clip_bytes,
            chunk_count=offer.chunk_count,
            chunk_size=offer.chunk_size,
            held=(),
            state="receiving",
            reason=None,
            created_at=now,
            updated_at=now,
        )

        def save(db: Database) -> JobRecord:
            repo.put_upload(db, record)
            current = repo.get_job(db, job.id)
            if current is None or current.is_terminal:
                return current or job
            return repo.update_job(
                db,
                job.id,
                state=JobState.UPLOADING,
                percent=current.percent if current.state is JobState.UPLOADING else 0,
                error=None,
                clip_id=clip_id,
                now=now,
            )

        try:
            job = await self._database.awrite(save)
        except BaseException:
            os.close(fd)
            raise
        upload = _Upload(
            site_id=site_id,
            clip_id=clip_id,
            offer=offer,
            offer_json=offer_json,
            offer_sha256=offer_sha256,
            manifest=manifest,
            job=job,
            book=ChunkBook.for_offer(offer, ack_every=self._limits.ack_every_chunks),
            staging=staging,
            fd=fd,
        )
        self._uploads[clip_id] = upload
        self._unknown_logged.discard(clip_id)
        return upload

    async def _answer_again(self, upload: _Upload) -> None:
        """Answer an offer for an upload in progress: what is held and what is missing."""
        if upload.finalizing:
            return
        if upload.book.is_complete:
            upload.finalizing = True
            self._spawn(self._finalize(upload))
            return
        await self._ack_receiving(upload)

    # Chunks.

    async def handle_chunk(self, site_id: str, clip_id: str, index: int, data: bytes) -> None:
        upload = self._uploads.get(clip_id)
        if upload is None or upload.site_id != site_id:
            if clip_id not in self._unknown_logged:
                if len(self._unknown_logged) >= MAX_REMEMBERED_UNKNOWN:
                    self._unknown_logged.clear()  # bounded: a site cannot grow it for ever
                self._unknown_logged.add(clip_id)
                log.info(
                    "site %s clip %s: chunk %s for no upload in progress dropped (the agent will"
                    " re-offer)",
                    site_id,
                    clip_id,
                    index,
                )
            return
        if upload.finalizing:
            return
        book = upload.book
        check = book.precheck(index, len(data))
        if check.ok:
            write = asyncio.ensure_future(
                asyncio.to_thread(
                    verify_and_write,
                    upload.fd,
                    data,
                    book.offset(index),
                    book.expected_sha256(index),
                )
            )
            upload.writes.add(write)
            write.add_done_callback(upload.writes.discard)
            try:
                # Shielded: if the consumer is cancelled (shutdown), the write still finishes
                # and close() waits for it before closing the file.
                digest = await asyncio.shield(write)
            except OSError as exc:
                log.error(
                    "site %s clip %s: cannot write chunk %s: %s", site_id, clip_id, index, exc
                )
                return
            if self._uploads.get(clip_id) is not upload or upload.finalizing:
                return  # discarded or completed while this chunk was being written
            check = book.check_digest(index, len(data), digest)
            if check.ok:
                book.mark_held(index)
        if check.verdict in (
            ChunkVerdict.WRONG_HASH,
            ChunkVerdict.WRONG_SIZE,
            ChunkVerdict.BAD_INDEX,
        ):
            log.warning(
                "site %s clip %s: chunk discarded, %s; it stays missing",
                site_id,
                clip_id,
                check.reason,
            )
        if book.is_complete:
            self._cancel_timer(upload)
            upload.finalizing = True
            self._spawn(self._finalize(upload))
            return
        if book.note_received():
            # In a task: the consumer goes on with the next chunk while the ack is recorded.
            book.note_acked()
            self._cancel_timer(upload)
            self._spawn(self._ack_receiving(upload))
        else:
            self._arm_timer(upload)

    # Acks.

    def _arm_timer(self, upload: _Upload) -> None:
        self._cancel_timer(upload)
        loop = asyncio.get_running_loop()
        upload.timer = loop.call_later(
            self._limits.ack_delay_seconds, lambda: self._spawn(self._ack_receiving(upload))
        )

    @staticmethod
    def _cancel_timer(upload: _Upload) -> None:
        if upload.timer is not None:
            upload.timer.cancel()
            upload.timer = None

    async def _ack_receiving(self, upload: _Upload) -> None:
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

    async def _persist_held(self, upload: _Upload) -> None:
        book = upload.book
        if book.held_count == upload.persisted_held:
            return
        held_count = book.held_count
        held = book.held_ranges()
        # No fsync of the staging file here: after a power cut a "held" chunk may not be on disk,
        # but completion re-reads and hashes the whole file and asks again for any chunk whose
        # bytes on disk are wrong. Syncing every 16 chunks would stall ingest for nothing.
        now = self._now()
        await self._database.awrite(lambda db: repo.set_upload_held(db, upload.clip_id, held, now))
        upload.persisted_held = held_count

    async def announce(self) -> None:
        """After a (re)connect: tell each agent with an upload in progress what the hub holds."""
        for upload in list(self._uploads.values()):
            if not upload.finalizing:
                await self._ack_receiving(upload)

    # Completion.

    async def _finalize(self, upload: _Upload) -> None:
        async with upload.lock:
            if self._uploads.get(upload.clip_id) is not upload:
                return
            upload.finalizing = True
            self._cancel_timer(upload)
            try:
                await self._store_clip(upload)
            except (StoreError, OSError, sqlite3.Error) as exc:
                # Keep the upload: the agent's next offer tries again.
                log.error(
                    "site %s clip %s: could not store: %s", upload.site_id, upload.clip_id, exc
                )
                upload.finalizing = False

    async def _store_clip(self, upload: _Upload) -> None:
        site_id, clip_id, offer = upload.site_id, upload.clip_id, upload.offer
        expected = offer.clip_sha256
        if upload.staging.exists():
            digest, size = await asyncio.to_thread(sync_and_hash, upload.fd)
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
                        upload.book.drop(index)
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
            manifest = upload.manifest
            try:
                await asyncio.to_thread(
                    probe_clip, upload.staging, manifest.codec, manifest.width, manifest.height
                )
            except ClipUnreadable as exc:
                await self._reject(
                    site_id,
                    clip_id,
                    f"the clip is not the video its manifest declares: {exc}",
                    job_id=upload.job.id,
                    offer_sha256=upload.offer_sha256,
                )
                return
            _close(upload)
            key = await asyncio.to_thread(self._store.put_file, upload.staging, expected)
        elif await asyncio.to_thread(self._store.exists, expected):
            # Moved into the store just before a crash; the record was not written yet.
            _close(upload)
            key = expected
        else:
            log.warning("site %s clip %s: staging file is gone; starting again", site_id, clip_id)
            await self._discard(upload, "receiving", None)
            return
        await self._record_stored(upload, key)

    async def _record_stored(self, upload: _Upload, key: str) -> None:
        site_id, clip_id, manifest, offer = (
            upload.site_id,
            upload.clip_id,
            upload.manifest,
            upload.offer,
        )
        now = self._now()

        def record(db: Database) -> tuple[JobRecord | None, bool]:
            if repo.get_evidence(db, clip_id) is not None:
                return repo.get_job(db, upload.job.id), False
            job = repo.get_job(db, upload.job.id)
            requested_by = job.requested_by if job is not None else upload.job.requested_by
            repo.insert_evidence(
                db,
                EvidenceRecord(
                    clip_id=clip_id,
                    sha256=offer.clip_sha256,
                    store_key=key,
                    site_id=site_id,
                    camera_id=manifest.camera.id,
                    job_id=upload.job.id,
                    requested_by=requested_by,
                    manifest=offer.manifest,
                    signature=offer.signature,
                    key_id=manifest.key_id,
                    bytes=offer.clip_bytes,
                    delivered_start=manifest.delivered.start,
                    delivered_end=manifest.delivered.end,
                    codec=manifest.codec,
                    width=manifest.width,
                    height=manifest.height,
                    stored_at=now,
                ),
            )
            repo.set_upload_state(db, clip_id, "stored", None, now)
            job_after = None
            if job is not None:
                job_after = repo.update_job(
                    db,
                    job.id,
                    state=JobState.STORED,
                    percent=100,
                    error=None,
                    clip_id=clip_id,
                    now=now,
                )
            append_in(
                db,
                self._actor,
                AuditAction.STORED,
                f"clip:{clip_id}",
                {
                    "site_id": site_id,
                    "job_id": upload.job.id,
                    "sha256": offer.clip_sha256,
                    "bytes": offer.clip_bytes,
                    "key_id": manifest.key_id,
                },
                at=now,
            )
            return job_after, True

        job, created = await self._database.awrite(record)
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

        def record(db: Database) -> JobRecord | None:
            failed = None
            job = None if job_id is None else repo.get_job(db, job_id)
            if job is not None and job.site_id == site_id and can_move(job.state, JobState.FAILED):
                if job.state is not JobState.FAILED or job.error != reason:
                    failed = repo.update_job(
                        db,
                        job.id,
                        state=JobState.FAILED,
                        percent=100,
                        error=reason,
                        clip_id=clip_id,
                        now=now,
                    )
            append_in(
                db,
                self._actor,
                AuditAction.REJECTED,
                f"clip:{clip_id}",
                {"site_id": site_id, "job_id": job_id, "reason": reason},
                at=now,
            )
            return failed

        failed = await self._database.awrite(record)
        self.acks.rejected(site_id, clip_id, offer_sha256, reason)
        if failed is not None:
            self._jobs.clear(failed.site_id, failed.id)

    async def _discard(self, upload: _Upload, state: str, reason: str | None) -> None:
        """Forget an upload and delete its staging file (the record keeps ``state``)."""
        self._cancel_timer(upload)
        upload.finalizing = True
        if self._uploads.get(upload.clip_id) is upload:
            del self._uploads[upload.clip_id]
        await _writes_done(upload)
        _close(upload)
        await asyncio.to_thread(upload.staging.unlink, True)
        now = self._now()
        if state != "receiving":
            await self._database.awrite(
                lambda db: repo.set_upload_state(db, upload.clip_id, state, reason, now)
            )

    # Start, stop, expiry.

    async def resume(self) -> int:
        """Reload unfinished uploads after a restart; returns how many."""
        records = await self._database.aread(lambda db: repo.uploads_in_state(db, "receiving"))
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

    async def _reload(self, record: UploadRecord) -> _Upload | None:
        offer = ClipOffer.parse(record.offer.encode("utf-8"))
        manifest = Manifest.parse(offer.manifest_bytes())
        job = await self._database.aread(lambda db: repo.get_job(db, record.job_id))
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
        upload = _Upload(
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
            _close(upload)
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
        records = await self._database.aread(lambda db: repo.uploads_in_state(db, "receiving"))
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
                await self._database.awrite(
                    partial(
                        repo.set_upload_state,
                        clip_id=record.clip_id,
                        state="expired",
                        reason=reason,
                        now=now,
                    )
                )
            await self._fail_job(record.site_id, record.job_id, reason)
            log.warning("site %s clip %s: %s; discarded", record.site_id, record.clip_id, reason)
            expired += 1
        return expired

    async def _fail_job(self, site_id: str, job_id: str, reason: str) -> None:
        now = self._now()

        def fail(db: Database) -> JobRecord | None:
            job = repo.get_job(db, job_id)
            if job is None or job.is_terminal:
                return None
            return repo.update_job(
                db,
                job_id,
                state=JobState.FAILED,
                percent=100,
                error=reason,
                clip_id=job.clip_id,
                now=now,
            )

        if await self._database.awrite(fail) is not None:
            self._jobs.clear(site_id, job_id)

    async def close(self) -> None:
        """Stop timers and tasks, persist what is held, close staging files."""
        for task in list(self._tasks):
            task.cancel()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
        for upload in list(self._uploads.values()):
            self._cancel_timer(upload)
            await _writes_done(upload)
            if upload.fd >= 0 and not upload.finalizing:
                try:
                    await self._persist_held(upload)
                except OSError as exc:
                    log.error("clip %s: cannot persist held chunks: %s", upload.clip_id, exc)
            _close(upload)
        self._uploads.clear()

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


async def _writes_done(upload: _Upload) -> None:
    if upload.writes:
        await asyncio.gather(*upload.writes, return_exceptions=True)


def _close(upload: _Upload) -> None:
    if upload.fd >= 0:
        os.close(upload.fd)
        upload.fd = -1
