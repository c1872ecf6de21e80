"""Uploading cut clips, one task per clip, until the hub's signed ack says it is stored.

The ``ClipOffer`` goes on ``clips/{clip}/manifest``; the hub answers with the chunks it holds and
wants; ``UploadTracker`` (``edge_agent.uplink.upload``) decides which chunks to send within the
window, which ones were lost, and when silence means re-offer. Chunks are read from disk in a
worker thread, a batch per call, the next batch while one is sent (``chunk_reader``).
``ClipAck(stored)`` ends it: outbox state stored, the window unpinned, and only then the folder
deleted; nothing is published back (the hub decided "stored" itself, and it works out the upload
percent from the chunks it holds: the agent sends no percent while uploading).
``ClipAck(rejected)`` fails the job with the hub's reason and keeps the folder for investigation. An
ack counts only if it names the SHA-256 of the offer this agent sent (``offer_sha256``); a
``stored`` ack must also name the clip's SHA-256. Anything else is refused and changes nothing. On
every reconnect each upload re-offers, and the hub answers with what it holds.

The uploads share the link (``edge_agent.uplink.window_rules``): one ``LinkEstimate`` of its rate
and round trip, fed by every upload's acks, sizes the in-flight window (unless a fixed window is
given), and the window goes to the most urgent uploads first (the job's priority); less urgent
ones pause where they are and resume when nothing more urgent wants chunks. The site's bandwidth
cap (``edge_agent.uplink.cap_rules``) paces every chunk through one token bucket.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import hashlib
import logging
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Final

from cctv_common.evidence.verify import CLIP_NAME
from cctv_common.wire.chunk_ranges import InvalidRanges
from cctv_common.wire.payloads import ClipAck
from cctv_common.wire.topics import chunk_topic, manifest_topic
from edge_agent.jobs.context import JobContext
from edge_agent.jobs.upload_cap import UploadCap
from edge_agent.store.outbox import ClipRecord
from edge_agent.uplink.chunk_reader import batches_of, read_ahead
from edge_agent.uplink.upload import (
    DEFAULT_WINDOW,
    REOFFER_AFTER_SECONDS,
    UploadTracker,
)
from edge_agent.uplink.window_rules import Demand, SendStamp, share_window, window_chunks

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
    # The job's priority (0 lowest .. 9 most urgent) and the order the uploads started in.
    priority: int = 5
    order: int = 0
    # When each outstanding chunk was sent, for the link estimate.
    stamps: dict[int, SendStamp] = field(default_factory=dict)
    # Chunks published and not yet PUBACKed: the MQTT session delivers them after a reconnect.
    publishing: dict[int, asyncio.Future[None]] = field(default_factory=dict)


class ClipUploads:
    """Every clip not yet stored or rejected, each with the task that uploads it."""

    def __init__(
        self,
        context: JobContext,
        *,
        window: int | None = None,
        reoffer_after: float = REOFFER_AFTER_SECONDS,
        clock: Callable[[], float] = time.monotonic,
        local_now: Callable[[], datetime] | None = None,
    ) -> None:
        """``window``: a fixed in-flight window; None: sized to the link (``adaptive_chunks``)
        or ``DEFAULT_WINDOW``."""
        self._context = context
        uplink = context.config.uplink
        self._adaptive = window is None and uplink.adaptive_chunks
        self._window = window or DEFAULT_WINDOW
        self._reoffer_after = reoffer_after
        self._clock = clock
        self.cap = UploadCap(context, clock=clock, local_now=local_now)
        self._uploads: dict[str, ClipUpload] = {}
        self._started = 0

    def tasks(self) -> list[asyncio.Task[None]]:
        return [u.task for u in self._uploads.values() if u.task is not None]

    def wake_all(self) -> None:
        """After a (re)connect: every upload sees the new connection number and re-offers."""
        if self._context.link.connects > 1:
            self._context.link_estimate.lossy(self._clock())
        for upload in self._uploads.values():
            upload.wakeup.set()

    def _wake_others(self, upload: ClipUpload) -> None:
        """Room in the shared window may have changed for the others."""
        for other in self._uploads.values():
            if other is not upload:
                other.wakeup.set()

    # The shared link: window, priorities, cap.

    def window_for(self, upload: ClipUpload) -> int:
        if not self._adaptive:
            return self._window
        return window_chunks(self._context.link_estimate, upload.clip.chunk_size)

    def _room(self, upload: ClipUpload) -> int:
        demands = [
            Demand(
                key=other.clip.clip_id,
                priority=other.priority,
                order=other.order,
                outstanding=other.tracker.outstanding,
                wants=other.tracker.sendable,
            )
            for other in self._uploads.values()
        ]
        return share_window(self.window_for(upload), demands).get(upload.clip.clip_id, 0)

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
        self._started += 1
        upload.order = self._started
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
        self._wake_others(upload)
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
        tracker = upload.tracker
        tracker.window = self.window_for(upload)
        room = self._room(upload)
        if room <= 0 and not self._busy():
            # Nothing in flight anywhere: idle time must not count against the rate.
            self._context.link_estimate.idle(now)
        taken = tracker.take(now, room)
        # Bytes outstanding before this batch: the queue in front of its first chunk.
        queued = self._outstanding_bytes() - len(taken) * clip.chunk_size
        batches = batches_of(taken, clip.chunk_size)
        position = 0
        unreadable = False
        async with contextlib.aclosing(read_ahead(clip_path, batches, clip.chunk_size)) as reads:
            try:
                async for chunks in reads:
                    for data in chunks:
                        index = taken[position]
                        await self.cap.pace(len(data))
                        if not link.connected:
                            return  # the re-offer after the reconnect sorts out what was lost
                        ahead = max(0, queued + position * clip.chunk_size)
                        self._publish_chunk(upload, index, data, ahead)
                        position += 1
            except OSError as exc:
                unreadable = True
                log.error(
                    "site %s job %s clip %s: cannot read chunk %d: %s; retrying in %.0f s",
                    self._context.site_id,
                    clip.job_id,
                    clip.clip_id,
                    taken[position],
                    exc,
                    READ_RETRY_SECONDS,
                )
        if unreadable:
            await asyncio.sleep(READ_RETRY_SECONDS)
            upload.offer_now = True

    def _publish_chunk(self, upload: ClipUpload, index: int, data: bytes, ahead: int) -> None:
        clip = upload.clip
        upload.stamps[index] = self._context.link_estimate.stamp(self._clock(), ahead)
        future = self._context.publish(
            chunk_topic(self._context.site_id, clip.clip_id, index),
            data,
            f"clip {clip.clip_id} chunk {index}",
        )
        if future is not None:
            upload.publishing[index] = future
            future.add_done_callback(functools.partial(_forget, upload.publishing, index))
            future.add_done_callback(functools.partial(self._passed_on, upload))

    async def _upload(self, upload: ClipUpload) -> None:
        clip = upload.clip
        tracker = upload.tracker
        link = self._context.link
        last_percent = -1
        offers = 0
        job = await asyncio.to_thread(self._context.outbox.job, clip.job_id)
        if job is not None:
            upload.priority = job.job.priority
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
                tracker.offered(now, self._still_sending(upload))
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
                    self._arrived(upload, tracker.acked(ack.held, ack.missing, self._clock()))
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
                # The window has room again: fill it before the outbox write, not after.
                if link.connected and not upload.offer_now:
                    await self._send_chunks(upload, self._clock())
                await self._receiving(upload)

    def _arrived(self, upload: ClipUpload, indices: list[int]) -> None:
        """Feed the link estimate with the chunks an ack first showed held."""
        estimate = self._context.link_estimate
        now = self._clock()
        stamps = [upload.stamps.pop(index) for index in indices if index in upload.stamps]
        if stamps:
            estimate.delivered_chunks(len(stamps) * upload.clip.chunk_size, stamps[-1], now)
        # Chunks no longer outstanding (lost, or the offer was renewed) need no stamp.
        if len(upload.stamps) > upload.tracker.outstanding:
            upload.stamps = {i: s for i, s in upload.stamps.items() if upload.tracker.is_sent(i)}
        self._wake_others(upload)

    def _passed_on(self, upload: ClipUpload, done: asyncio.Future[None]) -> None:
        if not done.cancelled() and done.exception() is None:
            upload.tracker.passed_on(self._clock())

    @staticmethod
    def _still_sending(upload: ClipUpload) -> set[int]:
        """Chunks paho still has (published, no PUBACK, not failed): not to be sent twice."""
        upload.publishing = {i: f for i, f in upload.publishing.items() if not f.done()}
        return set(upload.publishing)

    def _outstanding_bytes(self) -> int:
        return sum(u.tracker.outstanding * u.clip.chunk_size for u in self._uploads.values())

    def _busy(self) -> bool:
        return any(other.tracker.outstanding for other in self._uploads.values())

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


def _forget(
    publishing: dict[int, asyncio.Future[None]], index: int, done: asyncio.Future[None]
) -> None:
    if publishing.get(index) is done:
        del publishing[index]


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()
