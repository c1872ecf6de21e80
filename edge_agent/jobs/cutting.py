"""Cutting clip jobs, one at a time: most urgent first, then in order of arrival.

``make_evidence_clip`` writes the clip, manifest and signature into ``data_dir/outbox/{clip_id}/``
in a worker thread, and the clip's chunk hashes are computed in another; the clip is then recorded
in the outbox and handed on (``on_clip``) to be uploaded. A cut that fails fails its job with the
reason in one line and leaves no folder behind. ``stop`` abandons the running cut at its next
segment boundary (it is cut again at the next start).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import shutil
import threading
import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any, Final

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from cctv_common.wire.job_state import JobState
from edge_agent.cameras.camera_facts import facts_from_config
from edge_agent.clips.cut_errors import CutFailed
from edge_agent.clips.cut_plan import CutRefused
from edge_agent.clips.evidence_clip import (
    EvidenceClip,
    OutputExists,
    make_evidence_clip,
    new_clip_id,
    plan_for,
)
from edge_agent.config_nvr import NvrPasswordError
from edge_agent.jobs.context import JobContext
from edge_agent.jobs.nvr_source import SourceRefused, job_source
from edge_agent.nvr.retrieve import NvrRetrievalFailed, retrieve_from_nvr
from edge_agent.store.outbox import ClipRecord, NewClip, OutboxError, OutboxJob
from edge_agent.store.segment_index import IndexWriteFailed
from edge_agent.uplink.upload import chunk_hashes

log = logging.getLogger(__name__)

# Publish cutting progress only in steps of this many percent (a cut reports up to 100 times).
CUT_PERCENT_STEP: Final = 5
# How long ``stop`` waits for a running cut to notice it should stop (it checks per segment).
CUT_STOP_TIMEOUT_SECONDS: Final = 30.0
# How long a job waits at start for the first NVR search before choosing its source without it.
FIRST_SEARCH_WAIT_SECONDS: Final = 90.0


class CutCancelled(Exception):
    """Raised inside a running cut (from its progress callback) when the agent stops."""


class CutWorker:
    """The queue of jobs to cut and the one task that cuts them."""

    def __init__(
        self,
        context: JobContext,
        key: Ed25519PrivateKey,
        on_clip: Callable[[ClipRecord], object],
    ) -> None:
        self._context = context
        self._key = key
        self._on_clip = on_clip
        self._queue: asyncio.PriorityQueue[tuple[int, int, str]] = asyncio.PriorityQueue()
        self._queued: set[str] = set()
        self._task: asyncio.Task[None] | None = None
        self._cut_future: asyncio.Future[Any] | None = None
        self._stop_cut = threading.Event()
        self._loop: asyncio.AbstractEventLoop | None = None

    def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._task = asyncio.create_task(self._run(), name="job-cut-worker")

    def cancel(self) -> None:
        """Cancel the worker and tell the running cut to stop at its next segment boundary."""
        self._stop_cut.set()
        if self._task is not None:
            self._task.cancel()

    async def stop(self) -> None:
        """Cancel, then wait for the worker and for the cut thread to let go (it is redone at
        the next start)."""
        self.cancel()
        if self._task is not None:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task
        if self._cut_future is not None and not self._cut_future.done():
            # The cut thread stops at its next segment boundary; wait so the index stays open
            # for it and its .part files are cleaned up.
            with contextlib.suppress(TimeoutError, asyncio.CancelledError, Exception):
                await asyncio.wait_for(asyncio.shield(self._cut_future), CUT_STOP_TIMEOUT_SECONDS)

    def enqueue(self, record: OutboxJob) -> None:
        if record.job_id in self._queued:
            return
        self._queued.add(record.job_id)
        self._queue.put_nowait((-record.job.priority, record.arrival, record.job_id))

    async def _run(self) -> None:
        context = self._context
        while True:
            _, _, job_id = await self._queue.get()
            self._queued.discard(job_id)
            record = await asyncio.to_thread(context.outbox.job, job_id)
            if record is None or record.state is not JobState.QUEUED:
                continue
            try:
                await self._cut(record)
            except OutboxError as exc:
                log.error("site %s job %s: outbox write failed: %s", context.site_id, job_id, exc)

    async def _cut(self, record: OutboxJob) -> None:
        context = self._context
        config = context.config
        site_id = context.site_id
        job = record.job
        job_id = job.job_id
        clip_id = new_clip_id()
        record = await asyncio.to_thread(context.outbox.start_cut, job_id, clip_id)
        context.publish_progress(record)
        if context.nvr is not None and config.nvrs and not context.nvr.searched.is_set():
            # A job that arrives as the agent starts waits for the first NVR search.
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(context.nvr.searched.wait(), FIRST_SEARCH_WAIT_SECONDS)
        try:
            source = await asyncio.to_thread(job_source, config, context.index, context.nvr, job)
        except SourceRefused as exc:
            await context.fail(job_id, str(exc))
            return
        out_dir = context.outbox.clip_dir(clip_id)
        log.info(
            "site %s job %s clip %s: camera %s from %s (%s) into %s",
            site_id,
            job_id,
            clip_id,
            job.camera_id,
            "the ring buffer" if source.nvr is None else f"NVR {source.nvr.id}",
            source.why,
            out_dir,
        )
        try:
            if source.nvr is None:
                clip = await self._cut_buffer(record, clip_id, out_dir)
            else:
                clip = await retrieve_from_nvr(
                    source.nvr,
                    job.camera_id,
                    job.start,
                    job.end,
                    out_dir,
                    self._key,
                    site_id,
                    clip_id=clip_id,
                    job_id=job_id,
                )
            hashes = await asyncio.to_thread(
                chunk_hashes, clip.clip_path, context.chunk_size(time.monotonic())
            )
        except CutCancelled:
            log.info("site %s job %s clip %s: cut abandoned (stopping)", site_id, job_id, clip_id)
            return
        except CutRefused as exc:
            await context.fail(job_id, str(exc))
            return
        except (NvrRetrievalFailed, NvrPasswordError) as exc:
            await asyncio.to_thread(shutil.rmtree, out_dir, True)
            await context.fail(job_id, f"NVR retrieval failed: {exc}")
            return
        except (CutFailed, OutputExists, IndexWriteFailed, OSError) as exc:
            await asyncio.to_thread(shutil.rmtree, out_dir, True)
            await context.fail(job_id, f"cut failed: {exc}")
            return
        finally:
            context.cut_percent.pop(job_id, None)
        if hashes.sha256 != clip.manifest.sha256 or hashes.size != clip.manifest.bytes:
            await asyncio.to_thread(shutil.rmtree, out_dir, True)
            await context.fail(
                job_id,
                f"clip {clip_id} changed on disk after the cut (SHA-256 {hashes.sha256},"
                f" manifest {clip.manifest.sha256})",
            )
            return
        stored = await asyncio.to_thread(
            context.outbox.add_clip,
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
            site_id,
            job_id,
            clip_id,
            stored.clip_bytes,
            stored.chunk_count,
        )
        job_record = await asyncio.to_thread(context.outbox.job, job_id)
        if job_record is not None:
            context.publish_progress(job_record)
        self._on_clip(stored)

    async def _cut_buffer(self, record: OutboxJob, clip_id: str, out_dir: Path) -> EvidenceClip:
        """Cut the job's window from the ring buffer (stream copy, in worker threads)."""
        context = self._context
        config = context.config
        job = record.job
        camera = config.camera(job.camera_id)
        plan = await asyncio.to_thread(
            plan_for,
            context.index,
            camera.id,
            job.start,
            job.end,
            timedelta(seconds=config.recorder.gap_tolerance_seconds),
        )
        facts = await asyncio.to_thread(facts_from_config, camera, context.index)
        self._cut_future = asyncio.ensure_future(
            asyncio.to_thread(
                make_evidence_clip,
                index=context.index,
                segments_dir=config.segments_dir,
                site_id=context.site_id,
                camera=facts,
                plan=plan,
                out_dir=out_dir,
                key=self._key,
                clip_id=clip_id,
                job_id=job.job_id,
                progress=self._progress_callback(record),
            )
        )
        clip: EvidenceClip = await asyncio.shield(self._cut_future)
        return clip

    def _progress_callback(self, record: OutboxJob) -> Callable[[float], None]:
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
                    loop.call_soon_threadsafe(self._progress, record, percent)

        return progress

    def _progress(self, record: OutboxJob, percent: int) -> None:
        self._context.cut_percent[record.job_id] = percent
        self._context.publish_progress(record, percent)
