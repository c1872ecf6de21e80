"""Uploading cut clips, one task per clip, until the hub's signed ack says it is stored.

The ``ClipOffer`` goes on ``clips/{clip}/manifest``; the hub answers with the chunks it holds and
wants; ``UploadTracker`` (``edge_agent.uplink.upload``) decides which chunks to send within the
window, which ones were lost, and when silence means re-offer. Chunks are read from disk in a
worker thread. ``ClipAck(stored)`` ends it: outbox state stored, the window unpinned, and only
then the folder deleted; nothing is published back (the hub decided "stored" itself, and it works
out the upload percent from the chunks it holds: the agent sends no percent while uploading).
``ClipAck(rejected)`` fails the job with the hub's reason and keeps the folder for investigation. An
ack counts only if it names the SHA-256 of the offer this agent sent (``offer_sha256``); a
``stored`` ack must also name the clip's SHA-256. Anything else is refused and changes nothing. On
every reconnect each upload re-offers, and the hub answers with what it holds.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Final

from cctv_common.evidence.verify import CLIP_NAME
from cctv_common.wire.chunk_ranges import InvalidRanges
from cctv_common.wire.payloads import ClipAck
from cctv_common.wire.topics import chunk_topic, manifest_topic
from edge_agent.jobs.context import JobContext
from edge_agent.store.outbox import ClipRecord
from edge_agent.uplink.upload import (
    DEFAULT_WINDOW,
    REOFFER_AFTER_SECONDS,
    UploadTracker,
    read_chunk,
)

log = logging.getLogger(__name__)

# Wait before retrying an upload whose clip file cannot be read (a disk error, a missing file).
READ_RETRY_SECONDS: Final = 30.0


@dataclass
class ClipUpload:
    """One clip on its way to the hub: what was offered, and the acks not yet acted on."""

    clip: ClipRecord
    tracker: UploadTracker
    # The offer as published, and its SHA-256: the hub's acks must name it.
    offer: bytes
    offer_sha256: str
    acks: list[ClipAck] = field(default_factory=list)
    wakeup: asyncio.Event = field(default_factory=asyncio.Event)
    # The connection (``UplinkPort.connects``) the last offer went out on: a new one re-offers.
    offered_on: int = -1
    offer_now: bool = False
    task: asyncio.Task[None] | None = None


class ClipUploads:
    """Every clip not yet stored or rejected, each with the task that uploads it."""

    def __init__(
        self,
        context: JobContext,
        *,
        window: int = DEFAULT_WINDOW,
        reoffer_after: float = REOFFER_AFTER_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._context = context
        self._window = window
        self._reoffer_after = reoffer_after
        self._clock = clock
        self._uploads: dict[str, ClipUpload] = {}

    def tasks(self) -> list[asyncio.Task[None]]:
        return [u.task for u in self._uploads.values() if u.task is not None]

    def wake_all(self) -> None:
        """After a (re)connect: every upload sees the new connection number and re-offers."""
        for upload in self._uploads.values():
            upload.wakeup.set()

    def start(self, clip: ClipRecord) -> ClipUpload:
        existing = self._uploads.get(clip.clip_id)
        if existing is not None:
            return existing
        offer = clip.offer().to_bytes()
        upload = ClipUpload(
            clip=clip,
            tracker=UploadTracker(
                clip.chunk_count, window=self._window, reoffer_after=self._reoffer_after
            ),
            offer=offer,
            offer_sha256=_sha256(offer),
        )
        self._uploads[clip.clip_id] = upload
        upload.task = asyncio.create_task(self._upload(upload), name=f"upload-{clip.clip_id}")
        upload.task.add_done_callback(lambda task: self._upload_done(upload, task))
        return upload

    # Acks (verified for their topic by the runner).

    def deliver(self, ack: ClipAck) -> None:
        upload = self._uploads.get(ack.clip_id)
        if upload is not None:
            if self._answers(upload.offer_sha256, ack):
                upload.acks.append(ack)
                upload.wakeup.set()
            return
        self._context.spawn(self._stray_ack(ack), f"stray-ack-{ack.clip_id}")

    def _answers(self, offer_sha256: str, ack: ClipAck) -> bool:
        """Whether a verified ack answers the offer this agent sent (else it is a replay)."""
        if ack.offer_sha256 == offer_sha256:
            return True
        self._context.refusals.refuse(
            "ack",
            "site %s clip %s: ack (%s) refused: it answers offer %s..., not the %s... this agent"
            " sent",
            self._context.site_id,
            ack.clip_id,
            ack.state,
            ack.offer_sha256[:16],
            offer_sha256[:16],
        )
        return False

    async def _stray_ack(self, ack: ClipAck) -> None:
        site_id = self._context.site_id
        clip = await asyncio.to_thread(self._context.outbox.clip, ack.clip_id)
        if clip is not None and not self._answers(_sha256(clip.offer().to_bytes()), ack):
            return
        if clip is None:
            log.warning(
                "site %s clip %s: ack (%s) for a clip this agent does not know ignored",
                site_id,
                ack.clip_id,
                ack.state,
            )
            return
        if clip.final:
            log.debug(
                "site %s job %s clip %s: ack (%s) after the clip was %s ignored",
                site_id,
                clip.job_id,
                clip.clip_id,
                ack.state,
                clip.state,
            )
            return
        # Pending but without a task (not expected): start one and let it handle the ack.
        upload = self.start(clip)
        upload.acks.append(ack)
        upload.wakeup.set()

    # The upload task.

    def _upload_done(self, upload: ClipUpload, task: asyncio.Task[None]) -> None:
        if self._uploads.get(upload.clip.clip_id) is upload:
            del self._uploads[upload.clip.clip_id]
        if task.cancelled() or task.exception() is None:
            return
        clip = upload.clip
        log.error(
            "site %s job %s clip %s: upload stopped by an error: %r; trying again in %.0f s",
            self._context.site_id,
            clip.job_id,
            clip.clip_id,
            task.exception(),
            READ_RETRY_SECONDS,
        )
        if not self._context.stopping:
            asyncio.get_running_loop().call_later(
                READ_RETRY_SECONDS,
                lambda: self._context.spawn(self._retry(clip.clip_id), f"retry-{clip.clip_id}"),
            )

    async def _retry(self, clip_id: str) -> None:
        if self._context.stopping:
            return
        clip = await asyncio.to_thread(self._context.outbox.clip, clip_id)
        if clip is not None and not clip.final:
            self.start(clip)

    def _offer(self, upload: ClipUpload, offers: int) -> None:
        clip = upload.clip
        site_id = self._context.site_id
        self._context.publish(
            manifest_topic(site_id, clip.clip_id), upload.offer, f"clip {clip.clip_id} offer"
        )
        if offers == 1:
            log.info(
                "site %s job %s clip %s: offered (%d chunks of %d bytes)",
                site_id,
                clip.job_id,
                clip.clip_id,
                clip.chunk_count,
                clip.chunk_size,
            )
        else:
            log.info(
                "site %s job %s clip %s: offered again (#%d; hub held %d of %d)",
                site_id,
                clip.job_id,
                clip.clip_id,
                offers,
                upload.tracker.held_count,
                clip.chunk_count,
            )

    async def _send_chunks(self, upload: ClipUpload, now: float) -> None:
        clip = upload.clip
        link = self._context.link
        clip_path = clip.directory / CLIP_NAME
        for index in upload.tracker.take(now):
            try:
                data = await asyncio.to_thread(read_chunk, clip_path, index, clip.chunk_size)
            except OSError as exc:
                log.error(
                    "site %s job %s clip %s: cannot read chunk %d: %s; retrying in %.0f s",
                    self._context.site_id,
                    clip.job_id,
                    clip.clip_id,
                    index,
                    exc,
                    READ_RETRY_SECONDS,
                )
                await asyncio.sleep(READ_RETRY_SECONDS)
                upload.offer_now = True
                return
            if not link.connected:
                return  # the re-offer after the reconnect sorts out what was lost
            self._context.publish(
                chunk_topic(self._context.site_id, clip.clip_id, index),
                data,
                f"clip {clip.clip_id} chunk {index}",
            )

    async def _upload(self, upload: ClipUpload) -> None:
        clip = upload.clip
        tracker = upload.tracker
        link = self._context.link
        last_percent = -1
        offers = 0
        while True:
            if not link.connected:
                await link.wait_connected()
            now = self._clock()
            connection = link.connects
            if upload.offer_now or upload.offered_on != connection or tracker.reoffer_due(now):
                upload.offer_now = False
                upload.offered_on = connection
                offers += 1
                self._offer(upload, offers)
                tracker.offered(now)
            await self._send_chunks(upload, now)
            if not upload.acks and not upload.offer_now and upload.offered_on == link.connects:
                due = tracker.reoffer_at()
                timeout = None if due is None else max(0.0, due - self._clock())
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(upload.wakeup.wait(), timeout)
            upload.wakeup.clear()
            acks, upload.acks = upload.acks, []
            for ack in acks:
                if ack.state == "stored":
                    await self._stored(upload, ack)
                    return
                if ack.state == "rejected":
                    await self._rejected(upload, ack.reason or "no reason given")
                    return
                try:
                    tracker.acked(ack.held, ack.missing, self._clock())
                except InvalidRanges as exc:
                    log.warning(
                        "site %s job %s clip %s: ack with bad ranges ignored: %s",
                        self._context.site_id,
                        clip.job_id,
                        clip.clip_id,
                        exc,
                    )
                    continue
            # The hub's held ranges are kept at most once per percent of the clip.
            if acks and tracker.answered and tracker.percent != last_percent:
                last_percent = tracker.percent
                await self._receiving(upload)

    # How it ends.

    async def _receiving(self, upload: ClipUpload) -> None:
        context = self._context
        clip = upload.clip
        tracker = upload.tracker
        await asyncio.to_thread(context.outbox.clip_receiving, clip.clip_id, tracker.held_ranges())
        log.debug(
            "site %s job %s clip %s: hub holds %d of %d chunks (%d sent, %d resent)",
            context.site_id,
            clip.job_id,
            clip.clip_id,
            tracker.held_count,
            clip.chunk_count,
            tracker.chunks_sent,
            tracker.chunks_resent,
        )

    async def _stored(self, upload: ClipUpload, ack: ClipAck) -> None:
        context = self._context
        clip = upload.clip
        if ack.evidence_sha256 != clip.sha256:
            await self._rejected(
                upload,
                f"the hub says it stored SHA-256 {ack.evidence_sha256}, but the clip is"
                f" {clip.sha256}",
            )
            return
        # The hub decided "stored" itself: nothing is published back.
        await asyncio.to_thread(context.outbox.clip_stored, clip.clip_id)
        await context.unpin(clip.job_id)
        await asyncio.to_thread(self.delete_clip_files, clip)
        log.info(
            "site %s job %s clip %s: stored by the hub (SHA-256 %s); %d chunks sent, %d resent;"
            " local copy deleted",
            context.site_id,
            clip.job_id,
            clip.clip_id,
            clip.sha256,
            upload.tracker.chunks_sent,
            upload.tracker.chunks_resent,
        )

    async def _rejected(self, upload: ClipUpload, reason: str) -> None:
        context = self._context
        clip = upload.clip
        log.error(
            "site %s job %s clip %s: rejected by the hub: %s; files kept in %s",
            context.site_id,
            clip.job_id,
            clip.clip_id,
            reason,
            clip.directory,
        )
        _, job = await asyncio.to_thread(context.outbox.clip_rejected, clip.clip_id, reason)
        if job is not None:
            context.publish_progress(job)
        await context.unpin(clip.job_id)

    def delete_clip_files(self, clip: ClipRecord) -> None:
        folder = clip.directory
        root = self._context.outbox.clips_dir.resolve()
        if folder.resolve().parent != root:
            log.error(
                "site %s job %s clip %s: folder %s is not in the outbox %s; not deleted",
                self._context.site_id,
                clip.job_id,
                clip.clip_id,
                folder,
                root,
            )
            return
        shutil.rmtree(folder, ignore_errors=True)


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()
