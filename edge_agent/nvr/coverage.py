"""The NVR spans the agent reports: every configured NVR searched at start and every
``search_interval_seconds``, the spans of each channel kept for the status and for choosing a
clip job's source (``edge_agent.jobs.source_plan``).

A failed search keeps the spans last found and says why (``error``) until a search answers
again. An NVR configured for vendor playback URLs has no search: its channels are reported with
no spans and that reason, and a job for a camera only it records is still sent to it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from datetime import datetime
from typing import Final

from cctv_common.clock import utc_now
from cctv_common.wire.payloads import NvrChannelCoverage
from edge_agent.config import AgentConfig
from edge_agent.config_nvr import NvrConfig, NvrPasswordError
from edge_agent.nvr.coverage_rules import Span, channel_coverage, recording_spans
from edge_agent.nvr.retrieve import METHODS, NvrRetrievalFailed, match_recording, search_nvr

log = logging.getLogger(__name__)

# All NVR spans of one status together (about 70 bytes each: the status stays well inside the
# payload limit); past it every channel keeps only its newest spans and says so.
MAX_STATUS_NVR_SPANS: Final = 1024


class NvrCoverage:
    """The latest search results per camera; read by the status heartbeat and the cut worker."""

    def __init__(self, config: AgentConfig, now: Callable[[], datetime] = utc_now) -> None:
        self._config = config
        self._now = now
        self._spans: dict[tuple[str, str], list[Span]] = {}  # (nvr id, camera) -> spans
        self._coverage: dict[str, list[NvrChannelCoverage]] = {}
        self.searched = asyncio.Event()  # set after the first round of searches

    def cameras_only_nvr_records(self) -> list[str]:
        recorded = {camera.id for camera in self._config.cameras}
        out: list[str] = []
        for nvr in self._config.nvrs:
            for channel in nvr.channels:
                if channel.camera not in recorded and channel.camera not in out:
                    out.append(channel.camera)
        return out

    def for_camera(self, camera_id: str) -> tuple[NvrChannelCoverage, ...]:
        return tuple(self._coverage.get(camera_id, ()))

    def by_camera(self) -> dict[str, tuple[NvrChannelCoverage, ...]]:
        """Every camera an NVR records (NVR-only cameras too), for the status; bounded."""
        out = {camera: tuple(items) for camera, items in self._coverage.items()}
        for camera in self.cameras_only_nvr_records():
            out.setdefault(camera, ())
        return bound_spans(out, MAX_STATUS_NVR_SPANS)

    def spans(self, nvr_id: str, camera_id: str) -> list[Span] | None:
        """What the NVR's last search found for the camera (None: not known, e.g. no search)."""
        return self._spans.get((nvr_id, camera_id))

    async def run(self, stop: asyncio.Event, on_change: Callable[[], None]) -> None:
        """Search every NVR now and then at the shortest configured interval, until ``stop``."""
        if not self._config.nvrs:
            return
        interval = min(nvr.search_interval_seconds for nvr in self._config.nvrs)
        while not stop.is_set():
            await self.refresh()
            self.searched.set()
            on_change()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), interval)

    async def refresh(self) -> None:
        coverage: dict[str, list[NvrChannelCoverage]] = {}
        for nvr in self._config.nvrs:
            for camera, item in await self._search(nvr):
                coverage.setdefault(camera, []).append(item)
        self._coverage = coverage

    async def _search(self, nvr: NvrConfig) -> list[tuple[str, NvrChannelCoverage]]:
        site = self._config.site_id
        error: str | None = None
        recordings = None
        if nvr.protocol != "onvif":
            error = f"{nvr.protocol} playback URLs have no recording search"
        else:
            try:
                found = await asyncio.wait_for(search_nvr(nvr), nvr.search_timeout_seconds)
                recordings = [item.recording for item in found]
            except TimeoutError:
                error = f"the search did not answer in {nvr.search_timeout_seconds:g} s"
            except (NvrRetrievalFailed, NvrPasswordError, OSError) as exc:
                error = str(exc)
            if error is not None:
                log.warning("site %s NVR %s: recording search failed: %s", site, nvr.id, error)
        searched_at = self._now() if recordings is not None else None
        out = []
        for channel in nvr.channels:
            key = (nvr.id, channel.camera)
            if recordings is not None:
                recording = match_recording(channel, recordings)
                self._spans[key] = recording_spans(recording) if recording else []
            spans = self._spans.get(key, [])
            out.append(
                (
                    channel.camera,
                    channel_coverage(
                        nvr_id=nvr.id,
                        nvr_name=nvr.name,
                        channel=channel.channel,
                        method=METHODS[nvr.protocol],
                        spans=spans,
                        searched_at=searched_at,
                        error=error,
                    ),
                )
            )
        if recordings is not None:
            log.info(
                "site %s NVR %s: %d recording(s), %d channel(s) mapped",
                site,
                nvr.id,
                len(recordings),
                sum(1 for channel in nvr.channels if self._spans.get((nvr.id, channel.camera))),
            )
        return out


def bound_spans(
    coverage: dict[str, tuple[NvrChannelCoverage, ...]], budget: int
) -> dict[str, tuple[NvrChannelCoverage, ...]]:
    """Keep at most ``budget`` spans in all: each channel its newest share, marked truncated."""
    channels = sum(len(items) for items in coverage.values())
    total = sum(len(item.spans) for items in coverage.values() for item in items)
    if total <= budget or channels == 0:
        return coverage
    share = max(1, budget // channels)
    return {
        camera: tuple(
            item.model_copy(update={"spans": item.spans[-share:], "truncated": True})
            if len(item.spans) > share
            else item
            for item in items
        )
        for camera, items in coverage.items()
    }
