"""What every part of the agent's clip job handling shares: the outbox, the index, the uplink,
and the few acts they all perform (publish a job's progress, pin or unpin its window, fail it).

``JobRunner`` makes one ``JobContext`` and hands it to its ``CutWorker`` and ``ClipUploads``.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from typing import Any, Final

from cctv_common.clock import utc_now
from cctv_common.mqtt.bridge import BridgeError
from cctv_common.refusals import Refusals
from cctv_common.wire.job_state import JobState
from cctv_common.wire.payloads import JobProgress
from cctv_common.wire.topics import progress_topic
from edge_agent.config import AgentConfig
from edge_agent.nvr.coverage import NvrCoverage
from edge_agent.recording.segments import Pin
from edge_agent.store.outbox import Outbox, OutboxJob
from edge_agent.store.segment_index import IndexWriteFailed, SegmentIndex
from edge_agent.uplink.port import UplinkPort
from edge_agent.uplink.window_rules import LinkEstimate, chunk_size_for

log = logging.getLogger(__name__)

# States in which a job names its clip.
WITH_CLIP: Final = frozenset({JobState.UPLOADING, JobState.STORED, JobState.FAILED})


def pin_owner(job_id: str) -> str:
    return f"job-{job_id}"


@dataclass
class JobContext:
    config: AgentConfig
    outbox: Outbox
    index: SegmentIndex
    link: UplinkPort
    # Unsigned, forged and misrouted jobs and acks: counted, logged at most once a minute.
    refusals: Refusals
    # The NVR spans from the last searches (None: no NVR configured, or not searched).
    nvr: NvrCoverage | None = None
    # The last cutting percent published per job (a cut reports in steps).
    cut_percent: dict[str, int] = field(default_factory=dict)
    tasks: set[asyncio.Task[Any]] = field(default_factory=set)
    stopping: bool = False
    # The uplink's rate and round trip, measured from every upload's acks.
    link_estimate: LinkEstimate = field(default_factory=LinkEstimate)

    @property
    def site_id(self) -> str:
        return self.config.site_id

    def chunk_size(self, now: float) -> int:
        """Chunk size for a clip cut now: suited to the measured link, or the configured one."""
        uplink = self.config.uplink
        if not uplink.adaptive_chunks:
            return uplink.chunk_bytes
        return chunk_size_for(
            self.link_estimate, now, largest=uplink.chunk_bytes, default=uplink.chunk_bytes
        )

    # Publishing.

    def publish(self, topic: str, payload: bytes, what: str) -> asyncio.Future[None] | None:
        """Queue a QoS 1 message; the future resolves on the broker's PUBACK (None: the uplink
        is stopping)."""
        try:
            future = self.link.publish_nowait(topic, payload)
        except BridgeError as exc:  # the uplink is stopping
            log.warning("site %s: %s not published: %s", self.site_id, what, exc)
            return None

        def check(done: asyncio.Future[None]) -> None:
            if not done.cancelled() and done.exception() is not None:
                log.warning("site %s: %s not delivered: %s", self.site_id, what, done.exception())

        future.add_done_callback(check)
        return future

    def publish_progress(self, record: OutboxJob, percent: int | None = None) -> None:
        """``JobProgress`` for where the job is at the agent. "stored" is the hub's own decision,
        so it is never reported back; while uploading the percent is the hub's to work out."""
        if record.state is JobState.STORED:
            return
        if percent is None and record.state is JobState.CUTTING:
            percent = self.cut_percent.get(record.job_id)
        clip_id = record.clip_id if record.state in WITH_CLIP else None
        progress = JobProgress(
            job_id=record.job_id,
            state=record.state,
            percent=record.percent if percent is None else percent,
            clip_id=clip_id,
            error=(record.error or "failed")[:1000] if record.state is JobState.FAILED else None,
            sent_at=utc_now(),
        )
        self.publish(
            progress_topic(self.site_id, record.job_id),
            progress.to_bytes(),
            f"job {record.job_id} progress ({record.state})",
        )

    # The job's window in the index, and its end.

    async def pin(self, record: OutboxJob) -> None:
        job = record.job
        try:
            await asyncio.to_thread(
                self.index.pin, Pin(pin_owner(job.job_id), job.camera_id, job.start, job.end)
            )
        except IndexWriteFailed as exc:
            log.error("site %s job %s: window not pinned: %s", self.site_id, job.job_id, exc)

    async def unpin(self, job_id: str) -> None:
        try:
            await asyncio.to_thread(self.index.unpin, pin_owner(job_id))
        except IndexWriteFailed as exc:
            log.error("site %s job %s: window not unpinned: %s", self.site_id, job_id, exc)

    async def fail(self, job_id: str, error: str) -> None:
        log.warning("site %s job %s: failed: %s", self.site_id, job_id, error)
        record = await asyncio.to_thread(self.outbox.fail_job, job_id, error)
        await self.unpin(job_id)
        self.publish_progress(record)

    # Background tasks (intake, stray acks, retries), cancelled by ``JobRunner.stop``.

    def spawn(self, coroutine: Any, name: str) -> None:
        task = asyncio.ensure_future(coroutine)
        task.set_name(name)
        self.tasks.add(task)
        task.add_done_callback(self._task_done)

    def _task_done(self, task: asyncio.Task[Any]) -> None:
        self.tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("site %s: %s failed: %r", self.site_id, task.get_name(), task.exception())
