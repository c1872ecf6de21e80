"""The health report into the status heartbeat: ``SiteStatus`` with its optional health fields
(``checks``, ``time_sync``, ``buffer_days_forecast``, each camera's figures) filled in."""

from __future__ import annotations

from cctv_common.wire.payloads import CameraStatus, HealthCheck, SiteStatus
from cctv_common.wire.payloads.health import MAX_HEALTH_CHECKS
from edge_agent.health.monitor import HealthReport


def with_health(
    status: SiteStatus,
    report: HealthReport | None,
    *,
    upload_queue: int | None = None,
    clock_offsets: dict[str, float | None] | None = None,
) -> SiteStatus:
    offsets = clock_offsets or {}
    cameras: list[CameraStatus] = []
    for camera in status.cameras:
        update: dict[str, object] = {}
        offset = offsets.get(camera.camera_id)
        if offset is not None and camera.clock_offset_seconds is None:
            update["clock_offset_seconds"] = offset
        stats = report.cameras.get(camera.camera_id) if report else None
        if stats is not None:
            update |= {
                "fps": stats.fps,
                "bitrate_bps": stats.bitrate_bps,
                "frames_lost_24h": stats.frames_lost_24h,
                "gap_seconds_24h": stats.gap_seconds_24h,
            }
        cameras.append(camera.model_copy(update=update) if update else camera)
    update_site: dict[str, object] = {"cameras": tuple(cameras), "upload_queue": upload_queue}
    if report is not None:
        update_site |= {
            "checks": tuple(
                HealthCheck(
                    check=r.check,  # type: ignore[arg-type]
                    subject=r.subject[:300],
                    verdict=r.verdict.value,
                    figure=r.figure[:500],
                )
                for r in report.results[:MAX_HEALTH_CHECKS]
            ),
            "checked_at": report.checked_at,
            "time_sync": report.time_sync.state,
            "buffer_days_forecast": (
                round(min(report.buffer_days_forecast, 3650.0), 2)
                if report.buffer_days_forecast is not None
                else None
            ),
            "disk_total_bytes": report.disk_total_bytes,
        }
    return status.model_copy(update=update_site)
