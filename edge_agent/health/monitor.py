"""The agent's own run of the site checks, every ``[health] interval_seconds``.

It judges with the same rules as ``cctv-provision check`` (``checks``) but from what the agent
already knows, so it opens no second stream to a camera and no second broker login: a camera is
reached when its recorder records (else its last error), its clock offset is the one measured at
its last ONVIF connect, its stream figures are those recorded over the last hour
(``recording_stats``), the broker is reached when the uplink is connected, and the disk holds
what the recorded bitrate fills. The box's time sync is asked as the CLI asks it. The report goes
into every status heartbeat (``SiteStatus.checks`` and the health figures) and the /metrics.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import shutil
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from cctv_common.clock import utc_now
from edge_agent.config import AgentConfig
from edge_agent.health import checks
from edge_agent.health.checks import CheckResult, StreamFigures, TimeSync
from edge_agent.health.time_sync import box_time_sync
from edge_agent.store.recording_stats import RecordingStats, recording_stats
from edge_agent.store.segment_index import SegmentIndex
from edge_agent.uplink.connection import CameraState

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class HealthReport:
    checked_at: datetime
    results: tuple[CheckResult, ...]
    time_sync: TimeSync
    buffer_days_forecast: float | None
    disk_total_bytes: int
    cameras: dict[str, RecordingStats] = field(default_factory=dict)


def _footage_disk(path: Path) -> tuple[int, int]:
    """(total, free) bytes of the disk the footage goes to."""
    while not path.exists() and path != path.parent:
        path = path.parent
    usage = shutil.disk_usage(path)
    return usage.total, usage.free


def judge(
    config: AgentConfig,
    *,
    recorders: Sequence[CameraState],
    stats: dict[str, RecordingStats],
    clock_offsets: dict[str, float | None],
    uplink_connected: bool,
    free_bytes: int,
    used_bytes: int,
    time_sync: TimeSync,
) -> tuple[list[CheckResult], float | None]:
    """Pure: the check lines and the forecast days of buffer from the agent's figures."""
    results: list[CheckResult] = []
    for recorder in recorders:
        camera = recorder.camera_id
        reached = str(recorder.state) == "recording"
        error = None if reached else (recorder.last_error or f"recorder {recorder.state}")
        how = "ONVIF and RTSP" if clock_offsets.get(camera) is not None else "RTSP"
        results.append(checks.camera_reached(camera, error, how))
        if not reached:
            continue
        results.append(
            checks.camera_clock(camera, clock_offsets.get(camera), config.max_clock_offset_seconds)
        )
        stat = stats.get(camera)
        figures = StreamFigures(
            recorder.codec,
            stat.fps if stat else None,
            stat.bitrate_bps if stat else None,
            recorder.width,
            recorder.height,
        )
        results.append(checks.camera_stream(camera, figures))
    uplink = config.uplink
    address = f"{uplink.host}:{uplink.port}"
    results.append(
        checks.broker_login(address, "authorised", "the uplink is connected")
        if uplink_connected
        else checks.broker_login(address, "unreachable", "the uplink is not connected")
    )
    rates = [s.bitrate_bps for s in stats.values() if s.bitrate_bps]
    bitrate = float(sum(rates)) if rates else None
    retention = config.retention
    days = checks.buffer_days(
        free_bytes=free_bytes,
        used_bytes=used_bytes,
        bytes_per_day=bitrate / 8 * checks.SECONDS_PER_DAY if bitrate else None,
        min_free_bytes=retention.min_free_bytes,
        max_disk_bytes=retention.max_disk_bytes,
        max_days=retention.max_days,
    )
    results.append(
        checks.disk_buffer(
            free_bytes=free_bytes, days=days, max_days=retention.max_days, bitrate_bps=bitrate
        )
    )
    results.append(checks.box_time_sync(time_sync))
    return results, days


class HealthMonitor:
    def __init__(
        self,
        config: AgentConfig,
        index: SegmentIndex,
        *,
        recorders: Callable[[], Sequence[CameraState]],
        clock_offset: Callable[[str], float | None],
        uplink_connected: Callable[[], bool],
        on_report: Callable[[], None] | None = None,
        now: Callable[[], datetime] = utc_now,
        time_sync: Callable[[], TimeSync] = box_time_sync,
    ) -> None:
        self._config = config
        self._index = index
        self._recorders = recorders
        self._clock_offset = clock_offset
        self._uplink_connected = uplink_connected
        self._on_report = on_report
        self._now = now
        self._time_sync = time_sync
        self.latest: HealthReport | None = None

    def run_once(self) -> HealthReport:
        """Blocking: index reads, statvfs, timedatectl."""
        now = self._now()
        recorders = list(self._recorders())
        stats = {r.camera_id: recording_stats(self._index, r.camera_id, now) for r in recorders}
        offsets = {r.camera_id: self._clock_offset(r.camera_id) for r in recorders}
        total, free = _footage_disk(self._config.segments_dir)
        sync = self._time_sync()
        results, days = judge(
            self._config,
            recorders=recorders,
            stats=stats,
            clock_offsets=offsets,
            uplink_connected=self._uplink_connected(),
            free_bytes=free,
            used_bytes=self._index.total_bytes(),
            time_sync=sync,
        )
        report = HealthReport(now, tuple(results), sync, days, total, stats)
        failing = [r.line() for r in results if r.verdict is checks.Verdict.FAIL]
        if failing:
            log.warning("site %s: checks failing: %s", self._config.site_id, "; ".join(failing))
        self.latest = report
        return report

    async def run(self, stop: asyncio.Event) -> None:
        """Check at once, then every interval, until ``stop``; each report is published."""
        interval = self._config.health.interval_seconds
        while not stop.is_set():
            try:
                await asyncio.to_thread(self.run_once)
            except Exception:
                # A check that breaks must not stop the agent; the next run tries again.
                log.exception("site %s: site checks failed to run", self._config.site_id)
            else:
                if self._on_report is not None:
                    self._on_report()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), interval)
