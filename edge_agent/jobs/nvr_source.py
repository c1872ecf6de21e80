"""A clip job's source at the agent: the ring buffer or one of the NVRs that record its camera.

Gathers what ``source_plan.choose_source`` needs (the buffer's segments over the window, each
NVR channel's spans from the last search) and applies it; a camera only an NVR records always
goes to its NVR. Blocking (index query): call from a worker thread.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from cctv_common.wire.payloads import Job
from edge_agent.config import AgentConfig
from edge_agent.config_nvr import NvrConfig
from edge_agent.jobs.source_plan import Span, choose_source
from edge_agent.nvr.coverage import NvrCoverage
from edge_agent.store.segment_index import SegmentIndex


class SourceRefused(ValueError):
    """The job cannot be served from any source; the message says why."""


@dataclass(frozen=True)
class JobSource:
    nvr: NvrConfig | None  # None: the ring buffer
    why: str


def _within(spans: list[Span], start: datetime, end: datetime) -> timedelta:
    return sum(
        (min(b, end) - max(a, start) for a, b in spans if b > start and a < end), timedelta()
    )


def job_source(
    config: AgentConfig, index: SegmentIndex, coverage: NvrCoverage | None, job: Job
) -> JobSource:
    camera = job.camera_id
    recorded = any(c.id == camera for c in config.cameras)
    channels = config.nvr_channels(camera)
    if not recorded and not channels:
        known = ", ".join([c.id for c in config.cameras] + _nvr_cameras(config))
        raise SourceRefused(f"unknown camera {camera!r}; this site has: {known or 'none'}")
    if job.source == "buffer" and not recorded:
        raise SourceRefused(
            f"camera {camera} is not recorded by this agent (only an NVR records it): ask for"
            " source nvr or auto"
        )
    if job.source == "nvr" and not channels:
        raise SourceRefused(f"no NVR records camera {camera}: ask for source buffer or auto")
    if not channels or job.source == "buffer":
        return JobSource(None, "ring buffer")
    # The NVR whose last search holds most of the window (unsearched NVRs count as none).
    ranked = sorted(
        (
            (
                _within(
                    (coverage.spans(nvr.id, camera) or []) if coverage else [], job.start, job.end
                ),
                order,
                nvr,
            )
            for order, (nvr, _channel) in enumerate(channels)
        ),
        key=lambda item: (-item[0], item[1]),
    )
    nvr = ranked[0][2]
    nvr_spans = (coverage.spans(nvr.id, camera) or []) if coverage else []
    if not recorded:
        return JobSource(nvr, f"only NVR {nvr.id} records camera {camera}")
    buffer = [(s.start, s.end) for s in index.segments_overlapping(camera, job.start, job.end)]
    choice = choose_source(job.start, job.end, buffer, nvr_spans, job.source)
    return JobSource(nvr if choice.source == "nvr" else None, choice.why)


def _nvr_cameras(config: AgentConfig) -> list[str]:
    recorded = {c.id for c in config.cameras}
    return sorted(
        {ch.camera for nvr in config.nvrs for ch in nvr.channels if ch.camera not in recorded}
    )
