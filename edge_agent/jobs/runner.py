"""Clip jobs on the agent: receive, record, cut, upload resumably, finish (docs/upload-protocol.md).

A job arrives retained on ``jobs/{job}``, signed by the hub for that topic: a job that does not
verify with the hub's public key (``cctv_common.wire.hub_signing``) is refused with a rate-limited
log line and never recorded, pinned or cut. A job is validated, recorded in the outbox (idempotent
on the job id: a job already known only re-publishes its progress), its window is pinned in the
segment index so retention keeps the footage, and ``JobProgress(queued)`` is published. The
``CutWorker`` (``edge_agent.jobs.cutting``) cuts one job at a time and hands each clip to
``ClipUploads`` (``edge_agent.jobs.uploads``), which uploads it until the hub's signed ack. An ack
counts only if it verifies with the hub's key for its topic and names the clip it is on; the
uploads check that it answers the offer this agent sent.

Resume (``start``, before the uplink connects): jobs still queued are queued again; a job that was
being cut when the agent stopped is cut again into a fresh folder after its half-written folder is
removed; every clip not yet stored or rejected gets an upload task, which offers it as soon as the
uplink is connected.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import shutil
import time
from collections.abc import Callable
from typing import Final

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from cctv_common.refusals import Refusals
from cctv_common.wire.hub_signing import HubVerifier
from cctv_common.wire.job_state import JobState
from cctv_common.wire.payloads import ClipAck, InvalidPayload, Job, UplinkCap
from cctv_common.wire.topics import AckTopic, JobTopic, LiveTopic, Topic, UplinkCapTopic
from edge_agent.config import AgentConfig
from edge_agent.jobs.context import JobContext
from edge_agent.jobs.cutting import CutWorker
from edge_agent.jobs.uploads import ClipUploads
from edge_agent.nvr.coverage import NvrCoverage
from edge_agent.store.outbox import ClipRecord, Outbox, OutboxJob
from edge_agent.store.segment_index import SegmentIndex
from edge_agent.uplink.port import UplinkPort
from edge_agent.uplink.upload import REOFFER_AFTER_SECONDS
from edge_agent.uplink.window_rules import LinkEstimate

log = logging.getLogger(__name__)

# Jobs the agent still works on after a restart.
OPEN_STATES: Final = (JobState.QUEUED, JobState.CUTTING, JobState.UPLOADING)


class JobRunner:
    """Receives jobs, cuts one at a time, uploads every clip until the hub stores it."""

    def __init__(
        self,
        *,
        config: AgentConfig,
        outbox: Outbox,
        index: SegmentIndex,
        key: Ed25519PrivateKey,
        publisher: UplinkPort,
        hub: HubVerifier,
        window: int | None = None,
        reoffer_after: float = REOFFER_AFTER_SECONDS,
        clock: Callable[[], float] = time.monotonic,
        link_estimate: LinkEstimate | None = None,
        nvr: NvrCoverage | None = None,
    ) -> None:
        """``link_estimate``: the uplink's measured rate and round trip, kept by the caller when
        it outlives this runner (else a new one)."""
        self.site_id = config.site_id
        self._hub = hub
        # Unsigned, forged and misrouted jobs and acks: counted, logged at most once a minute.
        self.refusals = Refusals(log)
        self._context = JobContext(
            config=config,
            outbox=outbox,
            index=index,
            link=publisher,
            refusals=self.refusals,
            link_estimate=link_estimate or LinkEstimate(),
            nvr=nvr,
        )
        self._uploads = ClipUploads(
            self._context, window=window, reoffer_after=reoffer_after, clock=clock
        )
        self._cutter = CutWorker(self._context, key, on_clip=self.clip_ready)
        self._intake_lock = asyncio.Lock()

    # Life cycle.

    async def start(self) -> None:
        """Resume what the outbox holds, then start the cut worker. Call before connecting."""
        await self._resume()
        self._cutter.start()

    async def stop(self) -> None:
        """Stop cutting (the cut in progress is abandoned and redone at the next start)."""
        self._context.stopping = True
        self._cutter.cancel()
        tasks = [*self._context.tasks, *self._uploads.tasks()]
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        await self._cutter.stop()

    def clip_ready(self, clip: ClipRecord) -> None:
        """A clip is cut and in the outbox: upload it (sharing the link by its job's priority)."""
        self._uploads.start(clip)

    async def on_connected(self, session_present: bool) -> None:
        """After every (re)connect: every clip not yet stored is offered again."""
        self._uploads.wake_all()

    async def _resume(self) -> None:
        context = self._context
        outbox = context.outbox
        open_jobs = await asyncio.to_thread(outbox.jobs, OPEN_STATES)
        for record in open_jobs:
            await context.pin(record)
        for record in open_jobs:
            if record.state is JobState.CUTTING:
                record = await self._restart_cut(record)
            if record.state is JobState.QUEUED:
                self._cutter.enqueue(record)
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
            self._uploads.start(clip)
        if open_jobs or pending:
            log.info(
                "site %s: resumed %d open job(s), %d clip(s) to upload",
                self.site_id,
                len(open_jobs),
                len(pending),
            )

    async def _finish_interrupted_endings(self) -> None:
        """Finish what a stop between "stored" being committed and its clean-up left undone."""
        context = self._context
        for clip in await asyncio.to_thread(context.outbox.clips, ("stored",)):
            if clip.directory.exists():
                log.info(
                    "site %s job %s clip %s: stored by the hub; deleting the local copy left"
                    " by the last run",
                    self.site_id,
                    clip.job_id,
                    clip.clip_id,
                )
                await asyncio.to_thread(self._uploads.delete_clip_files, clip)
        pins = await asyncio.to_thread(context.index.pins)
        for pin in pins:
            if not pin.owner.startswith("job-"):
                continue
            record = await asyncio.to_thread(context.outbox.job, pin.owner.removeprefix("job-"))
            if record is None or record.final:
                await context.unpin(pin.owner.removeprefix("job-"))

    async def _restart_cut(self, record: OutboxJob) -> OutboxJob:
        """A cut interrupted by a stop or crash: remove its half-written folder, queue again."""
        outbox = self._context.outbox
        if record.clip_id is not None:
            known = await asyncio.to_thread(outbox.clip, record.clip_id)
            if known is None:
                folder = outbox.clip_dir(record.clip_id)
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
        return await asyncio.to_thread(outbox.requeue_job, record.job_id)

    # Messages (on the loop).

    def handle_message(self, topic: Topic, payload: bytes, retained: bool = False) -> None:
        """A message from the uplink (its topic parsed there). Anything malformed is logged and
        ignored."""
        if self._context.stopping:
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
            case UplinkCapTopic():
                self._cap_message(str(topic), payload)
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
        self._context.spawn(self._intake(job, retained), f"job-intake-{job_id}")

    def _cap_message(self, topic: str, payload: bytes) -> None:
        if not payload:
            log.debug("site %s: retained upload cap cleared; the cap stays as it is", self.site_id)
            return
        try:
            cap = self._hub.open(topic, payload, UplinkCap)
        except InvalidPayload as exc:
            self.refusals.refuse(
                "cap", "site %s: upload cap refused, not acted on: %s", self.site_id, exc
            )
            return
        self._uploads.cap.set_hub_cap(cap)

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
        self._uploads.deliver(ack)

    async def _intake(self, job: Job, retained: bool) -> None:
        context = self._context
        async with self._intake_lock:
            record, created = await asyncio.to_thread(context.outbox.add_job, job)
            if not created:
                log.info(
                    "site %s job %s: known job (%s); progress published again",
                    self.site_id,
                    job.job_id,
                    record.state,
                )
                context.publish_progress(record)
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
            await context.pin(record)
            context.publish_progress(record)
            self._cutter.enqueue(record)
