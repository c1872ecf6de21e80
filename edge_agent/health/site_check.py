"""Every check of one site, probed now (``cctv-provision check``): cameras in parallel, then the
broker, the disk and the box's clock. Blocking."""

from __future__ import annotations

from collections.abc import Collection
from concurrent.futures import ThreadPoolExecutor
from typing import Final

from edge_agent.config import AgentConfig
from edge_agent.health import checks
from edge_agent.health.broker_login import try_login
from edge_agent.health.checks import CheckResult, StreamFigures
from edge_agent.health.probes import CameraProbe, disk_figures, probe_camera
from edge_agent.health.time_sync import box_time_sync

CHECK_NAMES: Final = ("camera", "clock", "stream", "broker", "disk", "time-sync")
MAX_PARALLEL_CAMERAS: Final = 8


def camera_results(probe: CameraProbe, bound_seconds: float) -> list[CheckResult]:
    results = [checks.camera_reached(probe.camera_id, probe.error, probe.how)]
    if probe.error is None:
        results.append(
            checks.camera_clock(probe.camera_id, probe.clock_offset_seconds, bound_seconds)
        )
        results.append(
            checks.camera_stream(probe.camera_id, probe.stream or StreamFigures(None, None))
        )
    return results


def run_site_checks(config: AgentConfig, skip: Collection[str] = ()) -> list[CheckResult]:
    results: list[CheckResult] = []
    cameras = [camera for camera in config.cameras if camera.enabled]
    probes: list[CameraProbe] = []
    if cameras and "camera" not in skip:
        with ThreadPoolExecutor(min(MAX_PARALLEL_CAMERAS, len(cameras))) as pool:
            probes = list(pool.map(probe_camera, cameras))
        for probe in probes:
            results += [
                result
                for result in camera_results(probe, config.max_clock_offset_seconds)
                if result.check not in skip
            ]
    if "broker" not in skip:
        uplink = config.uplink
        login = try_login(
            host=uplink.host,
            port=uplink.port,
            username=uplink.username or config.site_id,
            password=uplink.password or None,
            client_id=f"agent-{config.site_id}",
            tls=uplink.tls,
            ca_file=uplink.ca_file,
        )
        results.append(
            checks.broker_login(f"{uplink.host}:{uplink.port}", login.outcome, login.detail)
        )
    if "disk" not in skip:
        disk = disk_figures(config.data_dir, config.segments_dir)
        measured = [p.stream.bitrate_bps for p in probes if p.stream and p.stream.bitrate_bps]
        bitrate = sum(measured) if measured else None
        retention = config.retention
        days = checks.buffer_days(
            free_bytes=disk.free_bytes,
            used_bytes=disk.used_bytes,
            bytes_per_day=bitrate / 8 * checks.SECONDS_PER_DAY if bitrate else None,
            min_free_bytes=retention.min_free_bytes,
            max_disk_bytes=retention.max_disk_bytes,
            max_days=retention.max_days,
        )
        results.append(
            checks.disk_buffer(
                free_bytes=disk.free_bytes,
                days=days,
                max_days=retention.max_days,
                bitrate_bps=bitrate,
            )
        )
    if "time-sync" not in skip:
        results.append(checks.box_time_sync(box_time_sync()))
    return results
