"""The hub side of the clip upload (docs/upload-protocol.md): the I/O around ``ingest_rules``.

Entry points, all on the event loop, fed by ``HubService`` from MQTT:

- ``handle_offer(site, clip, payload)``: a ``ClipOffer`` on ``clips/{clip}/manifest``;
- ``handle_chunk(site, clip, index, data)``: raw bytes on ``clips/{clip}/chunk/{n}``;
- ``resume()`` at start (reload unfinished uploads), ``announce()`` after every (re)connect
  (tell agents what is held), ``expire_stale()`` now and then, ``close()`` at shutdown.

Blocking work runs in threads: chunk hashing and ``os.pwrite`` into a staging file (a batch of
one clip's queued chunks per call), the running whole-clip SHA-256 (one hash worker, fed in
order), the early probe (``early_probe``), the fsync, the move into the evidence store, and
SQLite (through the writer thread). Held ranges are persisted every time an ack goes out, so a
restarted hub resumes from what it said it held; a resumed session has no running hash, so the
completion re-reads the file, and a chunk that a power cut lost is found then (every chunk is
hashed again when the whole does not match) and asked for again.
The clip is stored, its evidence item and custody row written in one transaction, and only then
is ``stored`` acked.

Nothing here raises on bad input from a site. An offer that does not verify as the site's
(malformed, unknown site, bad signature, ids that disagree) is answered ``rejected`` and counted,
with a rate-limited log line and no custody row: junk is not evidence of anything. An offer that
does verify but does not answer its job (another camera, a window outside the job's) is a real
rejection: a custody row, the job failed, ``rejected`` with the reason. So is a clip whose bytes
are not the video its manifest declares (``hub.services.ingest.clip_probe``, run on the complete
clip before it is
stored). Bad chunks are dropped with a log line (and asked for again). Every ack is signed with the
hub's key and names the offer it answers (``hub.services.ingest.acks``).
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections.abc import Sequence
from functools import partial

from cctv_common.evidence.manifest import Manifest
from cctv_common.wire.job_state import JobState
from cctv_common.wire.payloads import ClipOffer, InvalidPayload
from hub.domain.clip_digest import RunningClipHash
from hub.domain.ingest_rules import (
    ChunkBook,
    ChunkVerdict,
    OfferUnverified,
    UploadOfferRefused,
    check_against_job,
    verify_offer,
)
from hub.domain.records import ClipJob, EvidenceItem, SiteRecord, UploadRecord
from hub.domain.upload_queue import RateMeter
from hub.services.ingest.acks import offer_digest
from hub.services.ingest.core import MAX_REMEMBERED_UNKNOWN
from hub.services.ingest.early_probe import ChunkGate, EarlyProbe
from hub.services.ingest.recovery import IngestRecovery
from hub.services.ingest.session import UploadSession
from hub.services.ingest.staging import open_staging, read_chunk, verify_and_write_many
from hub.services.ingest.transitions import (
    begin_upload_in,
)
from hub.storage.ports import UnitOfWork

log = logging.getLogger(__name__)


class IngestService(IngestRecovery):
    # Public state, for the API and tests.

    def active_uploads(self) -> dict[str, tuple[int, int]]:
        """Clip id -> (chunks held, chunk count) for uploads in progress."""
        return {c: (u.book.held_count, u.book.chunk_count) for c, u in self._uploads.items()}

    def site_uploads(self, site_id: str) -> dict[str, tuple[str, int, int]]:
        """Job id -> (clip id, bytes held, clip bytes) for the site's uploads in progress."""
        found: dict[str, tuple[str, int, int]] = {}
        for clip_id, upload in self._uploads.items():
            if upload.site_id == site_id:
                total = upload.offer.clip_bytes
                held = min(total, upload.book.held_count * upload.offer.chunk_size)
                found[upload.job.id] = (clip_id, held, total)
        return found

    def site_rate(self, site_id: str) -> float:
        """Bytes per second of good chunks from the site over the last few seconds."""
        meter = self._site_rates.get(site_id)
        return 0.0 if meter is None else meter.rate(time.monotonic())

    # Offers.

    async def handle_offer(self, site_id: str, clip_id: str, payload: bytes) -> None:
        digest = offer_digest(payload)
        try:
            offer = ClipOffer.parse(payload)
        except InvalidPayload as exc:
            self._refuse(site_id, clip_id, digest, f"malformed offer: {exc}")
            return

        def load(
            uow: UnitOfWork,
        ) -> tuple[SiteRecord | None, ClipJob | None, EvidenceItem | None]:
            return (
                uow.sites.get(site_id),
                uow.jobs.get(offer.job_id),
                uow.evidence.get(clip_id),
            )

        site, job, stored = await self._storage.aread(load)
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
        active = self._uploads.get(clip_id) or await self._adopt(clip_id)
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
                raise UploadOfferRefused(
                    f"job {job.id} is already answered by stored clip {job.clip_id}"
                )
        except UploadOfferRefused as exc:
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

    async def _begin(
        self,
        site_id: str,
        clip_id: str,
        offer: ClipOffer,
        offer_json: str,
        offer_sha256: str,
        manifest: Manifest,
        job: ClipJob,
    ) -> UploadSession:
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

        save = partial(begin_upload_in, record=record, job=job, now=now)

        try:
            job = await self._storage.awrite(save)
        except BaseException:
            os.close(fd)
            raise
        book = ChunkBook.for_offer(offer, ack_every=self._limits.ack_every_chunks)
        upload = UploadSession(
            site_id=site_id,
            clip_id=clip_id,
            offer=offer,
            offer_json=offer_json,
            offer_sha256=offer_sha256,
            manifest=manifest,
            job=job,
            book=book,
            staging=staging,
            fd=fd,
        )
        # A fresh upload: this process sees every chunk, so it hashes and probes as they land.
        upload.running = RunningClipHash(book.chunk_count, partial(read_chunk, fd, book))
        upload.early_probe = EarlyProbe.start(
            fd,
            ChunkGate(book.chunk_count, book.chunk_size, book.clip_bytes),
            manifest.codec,
            manifest.width,
            manifest.height,
        )
        self._uploads[clip_id] = upload
        self._unknown_logged.discard(clip_id)
        return upload

    async def _answer_again(self, upload: UploadSession) -> None:
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
        await self.handle_chunks(site_id, clip_id, [(index, data)])

    async def handle_chunks(
        self, site_id: str, clip_id: str, chunks: Sequence[tuple[int, bytes]]
    ) -> None:
        """Chunks of one clip, in the order they came: verified and written in one worker call
        (each against its own SHA-256 in the offer), then counted one by one."""
        upload = self._uploads.get(clip_id) or await self._adopt(clip_id)
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
                    chunks[0][0],
                )
            return
        if upload.finalizing:
            return
        if upload.book.is_complete:  # taken up complete: another process held every chunk
            await self._answer_again(upload)
            return
        book = upload.book
        checks = [book.precheck(index, len(data)) for index, data in chunks]
        wanted = [
            (data, book.offset(index), book.expected_sha256(index))
            for (index, data), check in zip(chunks, checks, strict=True)
            if check.ok
        ]
        digests: list[str] = []
        if wanted:
            writing = asyncio.to_thread(verify_and_write_many, upload.fd, wanted)
            write = asyncio.ensure_future(writing)
            upload.writes.add(write)
            write.add_done_callback(upload.writes.discard)
            try:
                # Shielded: if the consumer is cancelled (shutdown), the writes still finish
                # and close() waits for them before closing the file.
                digests = await asyncio.shield(write)
            except OSError as exc:
                log.error("site %s clip %s: cannot write chunks: %s", site_id, clip_id, exc)
                return
            if self._uploads.get(clip_id) is not upload or upload.finalizing:
                return  # discarded or completed while these chunks were being written
        verified = iter(digests)
        ack_due = False
        for (index, data), check in zip(chunks, checks, strict=True):
            if check.ok:
                check = book.check_digest(index, len(data), next(verified))
                if check.ok:
                    await self._held(upload, index, data)
                    if self._uploads.get(clip_id) is not upload or upload.finalizing:
                        return
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
            ack_due = book.note_received()
            if ack_due:
                # In a task: the consumer goes on with the next chunk while the ack is recorded.
                book.note_acked()
                self._cancel_timer(upload)
                self._spawn(self._ack_receiving(upload))
        if not ack_due:
            self._arm_timer(upload)

    async def _held(self, upload: UploadSession, index: int, data: bytes) -> None:
        """A chunk verified and written here: held, and into the running checks."""
        upload.book.mark_held(index)
        if upload.early_probe is not None:
            upload.early_probe.gate.mark(index)
        meter = self._site_rates.setdefault(upload.site_id, RateMeter())
        meter.add(len(data), time.monotonic())
        await self._hash_landed(upload, index, data)
