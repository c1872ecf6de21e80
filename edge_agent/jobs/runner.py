"""Clip jobs on the agent: receive, record, cut, upload resumably, finish (docs/upload-protocol.md).

A job arrives retained on ``jobs/{job}``, signed by the hub for that topic: a job that does not
verify with the hub's public key (``cctv_common.wire.hub_signing``) is refused with a rate-limited
log line and never recorded, pinned or cut. A job is validated, recorded in the outbox (idempotent
on the job id: a job already known only re-publishes its progress), its window is pinned in the
segment index so retention keeps the footage, and ``JobProgress(queued)`` is published. One cut runs
at a time, most urgent job first, then in order of arrival: ``make_evidence_clip`` writes the clip,
manifest and signature into ``data_dir/outbox/{clip_id}/`` in a worker thread, and the clip's chunk
hashes are computed in another. The clip is then recorded in the outbox and offered.

Upload, one task per clip: the ``ClipOffer`` goes on ``clips/{clip}/manifest``; the hub answers
with the chunks it holds and wants; ``UploadTracker`` (``edge_agent.uplink.upload``) decides which
chunks to send within the window, which ones were lost, and when silence means re-offer. Chunks are
read from disk in a worker thread. ``ClipAck(stored)`` ends it: outbox state stored, ``JobProgress
(stored)``, the window unpinned, and only then the folder deleted. ``ClipAck(rejected)`` fails the
job with the hub's reason and keeps the folder for investigation. An ack counts only if it verifies
with the hub's key for its topic and names the SHA-256 of the offer this agent sent
(``offer_sha256``); a ``stored`` ack must also name the clip's SHA-256. Anything else is refused
and changes nothing: the clip stays in the outbox until the hub really has it.

Resume (``start``, before the uplink connects): jobs still queued are queued again; a job that was
being cut when the agent stopped is cut again into a fresh folder after its half-written folder is
removed; every clip not yet stored or rejected gets an upload task, which offers it as soon as the
uplink is connected. On every reconnect each upload re-offers, and the hub answers with what it
holds.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import shutil
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, Final, Protocol

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from cctv_common.clock import utc_now
from cctv_common.evidence.verify import CLIP_NAME
from cctv_common.mqtt.bridge import BridgeError
from cctv_common.refusals import Refusals
from cctv_common.wire.chunk_ranges import InvalidRanges
from cctv_common.wire.hub_signing import HubVerifier
from cctv_common.wire.job_state import JobState
from cctv_common.wire.payloads import ClipAck, InvalidPayload, Job, JobProgress
from cctv_common.wire.topics import (
    AckTopic,
    JobTopic,
    LiveTopic,
    Topic,
    chunk_topic,
    manifest_topic,
    progress_topic,
)
from edge_agent.cameras.camera_facts import facts_from_config
from edge_agent.clips.cut_errors import CutFailed
from edge_agent.clips.cut_plan import CutRefused
from edge_agent.clips.evidence_clip import OutputExists, make_evidence_clip, new_clip_id, plan_for
from edge_agent.config import AgentConfig
from edge_agent.recording.segments import Pin
from edge_agent.store.outbox import ClipRecord, JobRecord, NewClip, Outbox, OutboxError
from edge_agent.store.segment_index import IndexWriteFailed, SegmentIndex
from edge_agent.uplink.upload import (
    DEFAULT_WINDOW,
    REOFFER_AFTER_SECONDS,
    UploadTracker,
    chunk_hashes,
    read_chunk,
)

log = logging.getLogger(__name__)

# Jobs the agent still works on after a restart, and states in which a job names its clip.
OPEN_STATES: Final = (JobState.QUEUED, JobState.CUTTING, JobState.UPLOADING)
WITH_CLIP: Final = frozenset({JobState.UPLOADING, JobState.STORED, JobState.FAILED})
# Publish cutting progress only in steps of this many percent (a cut reports up to 100 times).
CUT_PERCENT_STEP: Final = 5
# Wait before retrying an upload whose clip file cannot be read (a disk error, a missing file).
READ_RETRY_SECONDS: Final = 30.0
# How long ``stop`` waits for a running cut to notice it should stop (it checks per segment).
CUT_STOP_TIMEOUT_SECONDS: Final = 30.0


class Publisher(Protocol):
    """What the job runner needs of the uplink (``edge_agent.uplink.connection.Uplink``)."""

    @property
    def connected(self) -> bool: ...

    @property
    def connects(self) -> int:
        """How many times the connection has been (re)established."""
        ...

    async def wait_connected(self) -> None: ...

    def publish_nowait(
        self, topic: str, payload: bytes, *, retain: bool = False
    ) -> asyncio.Future[None]: ...


class CutCancelled(Exception):
    """Raised inside a running cut (from its progress callback) when the agent stops."""


def pin_owner(job_id: str) -> str:
    return f"job-{job_id}"


@dataclass
class _Upload:
    clip: ClipRecord
    tracker: UploadTracker
    # The offer as published, and its SHA-256: the hub's acks must name it.
    offer: bytes
    offer_sha256: str
    acks: list[ClipAck] = field(default_factory=list)
    wakeup: asyncio.Event = field(default_factory=asyncio.Event)
    # The connection (``Publisher.connects``) the last offer went out on: a new one re-offers.
    offered_on: int = -1
    offer_now: bool = False
    task: asyncio.Task[None] | None = None


class JobRunner:
    """Receives jobs, cuts one at a time, uploads every clip until the hub stores it."""

    def __init__(
        self,
        *,
        config: AgentConfig,
        outbox: Outbox,
        index: SegmentIndex,
        key: Ed25519PrivateKey,
        publisher: Publisher,
        hub: HubVerifier,
        window: int = DEFAULT_WINDOW,
        reoffer_after: float = REOFFER_AFTER_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._config = config
        self.site_id = config.site_id
        self._outbox = outbox
        self._index = index
        self._key = key
        self._publisher = publisher
        self._hub = hub
        # Unsigned, forged and misrouted jobs and acks: counted, logged at most once a minute.
        self.refusals = Refusals(log)
        self._window = window
        self._reoffer_after = reoffer_after
        self._clock = clock
        self._queue: asyncio.PriorityQueue[tuple[int, int, str]] = asyncio.PriorityQueue()
        self._queued: set[str] = set()
        self._uploads: dict[str, _Upload] = {}
        self._tasks: set[asyncio.Task[Any]] = set()
        self._intake_lock = asyncio.Lock()
        self._worker: asyncio.Task[None] | None = None
        self._cut_future: asyncio.Future[Any] | None = None
        self._stop_cut = threading.Event()
        self._cut_percent: dict[str, int] = {}
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stopping = False

    # Life cycle.

    async def start(self) -> None:
        """Resume what the outbox holds, then start the cut worker. Call before connecting."""
        self._loop = asyncio.get_running_loop()
        await self._resume()
        self._worker = asyncio.create_task(self._cut_worker(), name="job-cut-worker")

    async def stop(self) -> None:
        """Stop cutting (the cut in progress is abandoned and redone at the next start)."""
        self._stopping = True
        self._stop_cut.set()
        tasks = [t for t in (self._worker, *self._tasks) if t is not None]
        tasks += [u.task for u in self._uploads.values() if u.task is not None]
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        if self._cut_future is not None and not self._cut_future.done():
            # The cut thread stops at its next segment boundary; wait so the index stays open
            # for it and its .part files are cleaned up.
            with contextlib.suppress(TimeoutError, asyncio.CancelledError, Exception):
                await asyncio.wait_for(asyncio.shield(self._cut_future), CUT_STOP_TIMEOUT_SECONDS)

    async def on_connected(self, session_present: bool) -> None:
        """After every (re)connect: every clip not yet stored is offered again."""
        for upload in self._uploads.values():
            upload.wakeup.set()  # it sees the new connection number and re-offers

    async def _resume(self) -> None:
        outbox = self._outbox
        open_jobs = await asyncio.to_thread(outbox.jobs, OPEN_STATES)
        for record in open_jobs:
            await self._pin(record)
        for record in open_jobs:
            if record.state is JobState.CUTTING:
                record = await self._restart_cut(record)
            if record.state is JobState.QUEUED:
                self._enqueue(record)
        await self._finish_interrupted_endings()
        pending = await asyncio.to_thread(outbox.pending_clips)
        for clip in pending:
            log.info(
                "site %s job %s clip %s: resuming upload (%s, hub held %s)",
                self.site_id,
                clip.job_id,
                clip.clip_id,
                clip.state,
                list(clip.hub_held),
            )
            self._start_upload(clip)
        if open_jobs or pending:
            log.info(
                "site %s: resumed %d open job(s), %d clip(s) to upload",
                self.site_id,
                len(open_jobs),
                len(pending),
            )

    async def _finish_interrupted_endings(self) -> None:
        """Finish what a stop between "stored" being committed and its clean-up left undone."""
        for clip in await asyncio.to_thread(self._outbox.clips, ("stored",)):
            if clip.directory.exists():
                log.info(
                    "site %s job %s clip %s: stored by the hub; deleting the local copy left"
                    " by the last run",
                    self.site_id,
                    clip.job_id,
                    clip.clip_id,
                )
                await asyncio.to_thread(self._delete_clip_files, clip)
        pins = await asyncio.to_thread(self._index.pins)
        for pin in pins:
            if not pin.owner.startswith("job-"):
                continue
            record = await asyncio.to_thread(self._outbox.job, pin.owner.removeprefix("job-"))
            if record is None or record.final:
                await self._unpin(pin.owner.removeprefix("job-"))

    async def _restart_cut(self, record: JobRecord) -> JobRecord:
        """A cut interrupted by a stop or crash: remove its half-written folder, queue again."""
        if record.clip_id is not None:
            known = await asyncio.to_thread(self._outbox.clip, record.clip_id)
            if known is None:
                folder = self._outbox.clip_dir(record.clip_id)
                if folder.exists():
                    log.warning(
                        "site %s job %s clip %s: removing half-written folder %s",
                        self.site_id,
                        record.job_id,
                        record.clip_id,
                        folder,
                    )
                    await asyncio.to_thread(shutil.rmtree, folder, True)
        log.info("site %s job %s: cut was interrupted; cutting again", self.site_id, record.job_id)
        return await asyncio.to_thread(self._outbox.requeue_job, record.job_id)

    # Messages (on the loop).

    def handle_message(self, topic: Topic, payload: bytes, retained: bool = False) -> None:
        """A message from the uplink (its topic parsed there). Anything malformed is logged and
        ignored."""
        if self._stopping:
            return
        if topic.site != self.site_id:
            log.warning(
                "site %s: message for site %s ignored (topic %s)", self.site_id, topic.site, topic
            )
            return
        match topic:
            case JobTopic(job=job_id):
                self._job_message(str(topic), job_id, payload, retained)
            case AckTopic(clip=clip_id):
                self._ack_message(str(topic), clip_id, payload)
            case LiveTopic():
                log.debug("site %s: live message on %s not handled here", self.site_id, topic)
            case _:
                log.warning("site %s: unexpected message on %s ignored", self.site_id, topic)

    def _job_message(self, topic: str, job_id: str, payload: bytes, retained: bool) -> None:
        if not payload:
            log.debug("site %s job %s: job cleared by the hub", self.site_id, job_id)
            return
        try:
            job = self._hub.open(topic, payload, Job)
        except InvalidPayload as exc:
            self.refusals.refuse(
                "job", "site %s job %s: job refused, not acted on: %s", self.site_id, job_id, exc
            )
            return
        if job.job_id != job_id:
            log.warning(
                "site %s job %s: job ignored: its payload names job %s",
                self.site_id,
                job_id,
                job.job_id,
            )
            return
        self._spawn(self._intake(job, retained), f"job-intake-{job_id}")

    def _ack_message(self, topic: str, clip_id: str, payload: bytes) -> None:
        try:
            ack = self._hub.open(topic, payload, ClipAck)
        except InvalidPayload as exc:
            self.refusals.refuse(
                "ack", "site %s clip %s: ack refused, not acted on: %s", self.site_id, clip_id, exc
            )
            return
        if ack.clip_id != clip_id:
            log.warning(
                "site %s clip %s: ack ignored: its payload names clip %s",
                self.site_id,
                clip_id,
                ack.clip_id,
            )
            return
        upload = self._uploads.get(clip_id)
        if upload is not None:
            if self._answers(upload.offer_sha256, ack):
                upload.acks.append(ack)
                upload.wakeup.set()
            return
        self._spawn(self._stray_ack(ack), f"stray-ack-{clip_id}")

    def _answers(self, offer_sha256: str, ack: ClipAck) -> bool:
        """Whether a verified ack answers the offer this agent sent (else it is a replay)."""
        if ack.offer_sha256 == offer_sha256:
            return True
        self.refusals.refuse(
            "ack",
            "site %s clip %s: ack (%s) refused: it answers offer %s..., not the %s... this agent"
            " sent",
            self.site_id,
            ack.clip_id,
            ack.state,
            ack.offer_sha256[:16],
            offer_sha256[:16],
        )
        return False

    async def _stray_ack(self, ack: ClipAck) -> None:
        clip = await asyncio.to_thread(self._outbox.clip, ack.clip_id)
        if clip is not None and not self._answers(_sha256(clip.offer().to_bytes()), ack):
            return
        if clip is None:
            log.warning(
                "site %s clip %s: ack (%s) for a clip this agent does not know ignored",
                self.site_id,
                ack.clip_id,
                ack.state,
            )
            return
        if clip.final:
            log.debug(
                "site %s job %s clip %s: ack (%s) after the clip was %s ignored",
                self.site_id,
                clip.job_id,
                clip.clip_id,
                ack.state,
                clip.state,
            )
            return
        # Pending but without a task (not expected): start one and let it handle the ack.
        upload = self._start_upload(clip)
        upload.acks.append(ack)
        upload.wakeup.set()

    def _spawn(self, coroutine: Any, name: str) -> None:
        task = asyncio.ensure_future(coroutine)
        task.set_name(name)
        self._tasks.add(task)
        task.add_done_callback(self._task_done)

    def _task_done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("site %s: %s failed: %r", self.site_id, task.get_name(), task.exception())

    # Jobs.

    async def _intake(self, job: Job, retained: bool) -> None:
        async with self._intake_lock:
            record, created = await asyncio.to_thread(self._outbox.add_job, job)
            if not created:
                log.info(
                    "site %s job %s: known job (%s); progress published again",
                    self.site_id,
                    job.job_id,
                    record.state,
                )
                self._publish_progress(record)
                return
            log.info(
                "site %s job %s: received: camera %s, %s to %s, priority %s, reason %r",
                self.site_id,
                job.job_id,
                job.camera_id,
                job.start.isoformat(),
                job.end.isoformat(),
                job.priority,
                job.reason,
            )
            await self._pin(record)
            self._publish_progress(record)
            self._enqueue(record)

    async def _pin(self, record: JobRecord) -> None:
        job = record.job
        try:
            await asyncio.to_thread(
                self._index.pin, Pin(pin_owner(job.job_id), job.camera_id, job.start, job.end)
            )
        except IndexWriteFailed as exc:
            log.error("site %s job %s: window not pinned: %s", self.site_id, job.job_id, exc)

    async def _unpin(self, job_id: str) -> None:
        try:
            await asyncio.to_thread(self._index.unpin, pin_owner(job_id))
        except IndexWriteFailed as exc:
            log.error("site %s job %s: window not unpinned: %s", self.site_id, job_id, exc)

    def _enqueue(self, record: JobRecord) -> None:
        if record.job_id in self._queued:
            return
        self._queued.add(record.job_id)
        self._queue.put_nowait((-record.job.priority, record.arrival, record.job_id))

    def _publish_progress(self, record: JobRecord, percent: int | None = None) -> None:
        if percent is None and record.state is JobState.CUTTING:
            percent = self._cut_percent.get(record.job_id)
        clip_id = record.clip_id if record.state in WITH_CLIP else None
        progress = JobProgress(
            job_id=record.job_id,
            state=record.state,
            percent=record.percent if percent is None else percent,
            clip_id=clip_id,
            error=(record.error or "failed")[:1000] if record.state is JobState.FAILED else None,
            sent_at=utc_now(),
        )
        self._publish(
            progress_topic(self.site_id, record.job_id),
            progress.to_bytes(),
            f"job {record.job_id} progress ({record.state})",
        )

    def _publish(self, topic: str, payload: bytes, what: str) -> None:
        try:
            future = self._publisher.publish_nowait(topic, payload)
        except BridgeError as exc:  # the uplink is stopping
            log.warning("site %s: %s not published: %s", self.site_id, what, exc)
            return

        def check(done: asyncio.Future[None]) -> None:
            if not done.cancelled() and done.exception() is not None:
                log.warning("site %s: %s not delivered: %s", self.site_id, what, done.exception())

        future.add_done_callback(check)

    async def _fail(self, job_id: str, error: str) -> None:
        log.warning("site %s job %s: failed: %s", self.site_id, job_id, error)
        record = await asyncio.to_thread(self._outbox.fail_job, job_id, error)
        await self._unpin(job_id)
        self._publish_progress(record)

    # Cutting (one at a time).

    async def _cut_worker(self) -> None:
        while True:
            _, _, job_id = await self._queue.get()
            self._queued.discard(job_id)
            record = await asyncio.to_thread(self._outbox.job, job_id)
            if record is None or record.state is not JobState.QUEUED:
                continue
            try:
                await self._cut(record)
            except OutboxError as exc:
                log.error("site %s job %s: outbox write failed: %s", self.site_id, job_id, exc)

    async def _cut(self, record: JobRecord) -> None:
        job = record.job
        job_id = job.job_id
        clip_id = new_clip_id()
        record = await asyncio.to_thread(self._outbox.start_cut, job_id, clip_id)
        self._publish_progress(record)
        try:
            camera = self._config.camera(job.camera_id)
        except KeyError:
            known = ", ".join(c.id for c in self._config.cameras) or "none"
            await self._fail(job_id, f"unknown camera {job.camera_id!r}; this site has: {known}")
            return
        out_dir = self._outbox.clip_dir(clip_id)
        log.info(
            "site %s job %s clip %s: cutting camera %s into %s",
            self.site_id,
            job_id,
            clip_id,
            camera.id,
            out_dir,
        )
        try:
            plan = await asyncio.to_thread(
                plan_for,
                self._index,
                camera.id,
                job.start,
                job.end,
                timedelta(seconds=self._config.recorder.gap_tolerance_seconds),
            )
            facts = await asyncio.to_thread(facts_from_config, camera, self._index)
            self._cut_future = asyncio.ensure_future(
                asyncio.to_thread(
                    make_evidence_clip,
                    index=self._index,
                    segments_dir=self._config.segments_dir,
                    site_id=self.site_id,
                    camera=facts,
                    plan=plan,
                    out_dir=out_dir,
                    key=self._key,
                    clip_id=clip_id,
                    job_id=job_id,
                    progress=self._cut_progress_callback(record),
                )
            )
            clip = await asyncio.shield(self._cut_future)
            hashes = await asyncio.to_thread(
                chunk_hashes, clip.clip_path, self._config.uplink.chunk_bytes
            )
        except CutCancelled:
            log.info(
                "site %s job %s clip %s: cut abandoned (stopping)", self.site_id, job_id, clip_id
            )
            return
        except CutRefused as exc:
            await self._fail(job_id, str(exc))
            return
        except (CutFailed, OutputExists, IndexWriteFailed, OSError) as exc:
            await asyncio.to_thread(shutil.rmtree, out_dir, True)
            await self._fail(job_id, f"cut failed: {exc}")
            return
        finally:
            self._cut_percent.pop(job_id, None)
        if hashes.sha256 != clip.manifest.sha256 or hashes.size != clip.manifest.bytes:
            await asyncio.to_thread(shutil.rmtree, out_dir, True)
            await self._fail(
                job_id,
                f"clip {clip_id} changed on disk after the cut (SHA-256 {hashes.sha256},"
                f" manifest {clip.manifest.sha256})",
            )
            return
        stored = await asyncio.to_thread(
            self._outbox.add_clip,
            NewClip(
                clip_id=clip_id,
                job_id=job_id,
                directory=out_dir,
                manifest=clip.manifest_bytes,
                signature=clip.signature,
                key_id=clip.manifest.key_id,
                clip_bytes=hashes.size,
                sha256=hashes.sha256,
                chunk_size=hashes.chunk_size,
                chunk_sha256=hashes.chunk_sha256,
            ),
        )
        log.info(
            "site %s job %s clip %s: cut, %d bytes in %d chunk(s); uploading",
            self.site_id,
            job_id,
            clip_id,
            stored.clip_bytes,
            stored.chunk_count,
        )
        job_record = await asyncio.to_thread(self._outbox.job, job_id)
        if job_record is not None:
            self._publish_progress(job_record)
        self._start_upload(stored)

    def _cut_progress_callback(self, record: JobRecord) -> Callable[[float], None]:
        """Called in the cut's thread: hands the percent to the loop, or stops the cut."""
        loop = self._loop
        assert loop is not None
        stop = self._stop_cut
        state = {"last": 0}

        def progress(fraction: float) -> None:
            if stop.is_set():
                raise CutCancelled("the agent is stopping")
            percent = max(0, min(100, int(fraction * 100)))
            if percent - state["last"] >= CUT_PERCENT_STEP:
                state["last"] = percent
                with contextlib.suppress(RuntimeError):
                    loop.call_soon_threadsafe(self._cut_progress, record, percent)

        return progress

    def _cut_progress(self, record: JobRecord, percent: int) -> None:
        self._cut_percent[record.job_id] = percent
        self._publish_progress(record, percent)

    # Uploading (one task per clip).

    def _start_upload(self, clip: ClipRecord) -> _Upload:
        existing = self._uploads.get(clip.clip_id)
        if existing is not None:
            return existing
        offer = clip.offer().to_bytes()
        upload = _Upload(
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

    def _upload_done(self, upload: _Upload, task: asyncio.Task[None]) -> None:
        if self._uploads.get(upload.clip.clip_id) is upload:
            del self._uploads[upload.clip.clip_id]
        if task.cancelled() or task.exception() is None:
            return
        clip = upload.clip
        log.error(
            "site %s job %s clip %s: upload stopped by an error: %r; trying again in %.0f s",
            self.site_id,
            clip.job_id,
            clip.clip_id,
            task.exception(),
            READ_RETRY_SECONDS,
        )
        if not self._stopping and self._loop is not None:
            self._loop.call_later(
                READ_RETRY_SECONDS,
                lambda: self._spawn(self._retry_upload(clip.clip_id), f"retry-{clip.clip_id}"),
            )

    async def _retry_upload(self, clip_id: str) -> None:
        if self._stopping:
            return
        clip = await asyncio.to_thread(self._outbox.clip, clip_id)
        if clip is not None and not clip.final:
            self._start_upload(clip)

    async def _upload(self, upload: _Upload) -> None:
        clip = upload.clip
        tracker = upload.tracker
        offer = upload.offer
        clip_path = clip.directory / CLIP_NAME
        last_percent = -1
        offers = 0
        while True:
            if not self._publisher.connected:
                await self._publisher.wait_connected()
            now = self._clock()
            connection = self._publisher.connects
            if upload.offer_now or upload.offered_on != connection or tracker.reoffer_due(now):
                upload.offer_now = False
                upload.offered_on = connection
                offers += 1
                self._publish(
                    manifest_topic(self.site_id, clip.clip_id), offer, f"clip {clip.clip_id} offer"
                )
                tracker.offered(now)
                if offers == 1:
                    log.info(
                        "site %s job %s clip %s: offered (%d chunks of %d bytes)",
                        self.site_id,
                        clip.job_id,
                        clip.clip_id,
                        clip.chunk_count,
                        clip.chunk_size,
                    )
                else:
                    log.info(
                        "site %s job %s clip %s: offered again (#%d; hub held %d of %d)",
                        self.site_id,
                        clip.job_id,
                        clip.clip_id,
                        offers,
                        tracker.held_count,
                        clip.chunk_count,
                    )
            for index in tracker.take(now):
                try:
                    data = await asyncio.to_thread(read_chunk, clip_path, index, clip.chunk_size)
                except OSError as exc:
                    log.error(
                        "site %s job %s clip %s: cannot read chunk %d: %s; retrying in %.0f s",
                        self.site_id,
                        clip.job_id,
                        clip.clip_id,
                        index,
                        exc,
                        READ_RETRY_SECONDS,
                    )
                    await asyncio.sleep(READ_RETRY_SECONDS)
                    upload.offer_now = True
                    break
                if not self._publisher.connected:
                    break  # the re-offer after the reconnect sorts out what was lost
                self._publish(
                    chunk_topic(self.site_id, clip.clip_id, index),
                    data,
                    f"clip {clip.clip_id} chunk {index}",
                )
            if (
                not upload.acks
                and not upload.offer_now
                and upload.offered_on == self._publisher.connects
            ):
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
                        self.site_id,
                        clip.job_id,
                        clip.clip_id,
                        exc,
                    )
                    continue
            if acks and tracker.answered and tracker.percent != last_percent:
                last_percent = tracker.percent
                await self._receiving(upload)

    async def _receiving(self, upload: _Upload) -> None:
        clip = upload.clip
        tracker = upload.tracker
        await asyncio.to_thread(
            self._outbox.clip_receiving, clip.clip_id, tracker.held_ranges(), tracker.percent
        )
        job = await asyncio.to_thread(self._outbox.job, clip.job_id)
        if job is not None and not job.final:
            self._publish_progress(job)
        log.debug(
            "site %s job %s clip %s: hub holds %d of %d chunks (%d sent, %d resent)",
            self.site_id,
            clip.job_id,
            clip.clip_id,
            tracker.held_count,
            clip.chunk_count,
            tracker.chunks_sent,
            tracker.chunks_resent,
        )

    async def _stored(self, upload: _Upload, ack: ClipAck) -> None:
        clip = upload.clip
        if ack.evidence_sha256 != clip.sha256:
            await self._rejected(
                upload,
                f"the hub says it stored SHA-256 {ack.evidence_sha256}, but the clip is"
                f" {clip.sha256}",
            )
            return
        _, job = await asyncio.to_thread(self._outbox.clip_stored, clip.clip_id)
        if job is not None:
            self._publish_progress(job)
        await self._unpin(clip.job_id)
        await asyncio.to_thread(self._delete_clip_files, clip)
        log.info(
            "site %s job %s clip %s: stored by the hub (SHA-256 %s); %d chunks sent, %d resent;"
            " local copy deleted",
            self.site_id,
            clip.job_id,
            clip.clip_id,
            clip.sha256,
            upload.tracker.chunks_sent,
            upload.tracker.chunks_resent,
        )

    async def _rejected(self, upload: _Upload, reason: str) -> None:
        clip = upload.clip
        log.error(
            "site %s job %s clip %s: rejected by the hub: %s; files kept in %s",
            self.site_id,
            clip.job_id,
            clip.clip_id,
            reason,
            clip.directory,
        )
        _, job = await asyncio.to_thread(self._outbox.clip_rejected, clip.clip_id, reason)
        if job is not None:
            self._publish_progress(job)
        await self._unpin(clip.job_id)

    def _delete_clip_files(self, clip: ClipRecord) -> None:
        folder = clip.directory
        root = self._outbox.clips_dir.resolve()
        if folder.resolve().parent != root:
            log.error(
                "site %s job %s clip %s: folder %s is not in the outbox %s; not deleted",
                self.site_id,
                clip.job_id,
                clip.clip_id,
                folder,
                root,
            )
            return
        shutil.rmtree(folder, ignore_errors=True)


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()
