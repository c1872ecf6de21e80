"""Fleet health for engineers: each camera's health from its site's last status, and the alerts
(camera down for more than N minutes, clock drift over the bound, buffer under the 31-day target,
disk filling). Pure: records and the time in, rows and alerts out; never footage.

A camera is down when its recorder is not recording, or when its site is offline or silent
(no status for ``site_silent_minutes``). It has been down since the newest footage it holds
(``buffer_end``), which is exactly when recording stopped, or since the site was last heard from
when it holds none. Each alert has a ``key`` that stays the same for as long as the condition
lasts: one e-mail per alert episode is sent per key.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any, Final

from hub.domain.records import CameraRecord, SiteRecord

BUFFER_TARGET_DAYS: Final = 31.0
DAY_SECONDS: Final = 86400.0


class AlertKind(StrEnum):
    CAMERA_DOWN = "camera_down"
    CLOCK_DRIFT = "clock_drift"
    BUFFER_SHORT = "buffer_short"
    DISK_FILLING = "disk_filling"


@dataclass(frozen=True)
class AlertBounds:
    camera_down_minutes: float = 10.0
    clock_drift_seconds: float = 2.0
    buffer_target_days: float = BUFFER_TARGET_DAYS
    disk_free_min_percent: float = 5.0
    site_silent_minutes: float = 5.0


@dataclass(frozen=True)
class Alert:
    kind: AlertKind
    site_id: str
    camera_id: str | None
    message: str
    since: datetime | None = None

    @property
    def key(self) -> str:
        return f"{self.kind.value}:{self.site_id}:{self.camera_id or ''}"


@dataclass(frozen=True)
class CameraHealth:
    site_id: str
    site_name: str
    camera_id: str
    state: str  # recording, reconnecting, stopped, error, or offline (the site is)
    down_since: datetime | None
    last_error: str | None
    frames_lost_24h: int | None
    days_now: float | None  # footage held now, oldest to newest
    days_forecast: float | None  # what the site's disk holds at the recorded bitrate
    clock_offset_seconds: float | None
    last_retrieval: datetime | None
    last_event: datetime | None
    agent_version: str | None
    alerts: tuple[Alert, ...] = ()

    @property
    def needs_attention(self) -> bool:
        return bool(self.alerts) or self.state != "recording"


@dataclass(frozen=True)
class SiteHealth:
    site_id: str
    name: str
    state: str  # online, offline, silent, never (no status yet)
    last_seen: datetime | None
    agent_version: str | None
    time_sync: str | None
    buffer_days_forecast: float | None
    disk_free_bytes: int | None
    disk_total_bytes: int | None
    upload_queue: int | None
    checks_failing: tuple[str, ...]
    checked_at: datetime | None
    alerts: tuple[Alert, ...] = ()
    cameras: tuple[CameraHealth, ...] = field(default=())

    @property
    def all_alerts(self) -> tuple[Alert, ...]:
        return self.alerts + tuple(a for c in self.cameras for a in c.alerts)


def _num(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def _time(value: Any) -> datetime | None:
    if isinstance(value, datetime):
        return value
    if isinstance(value, str):
        try:
            return datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return None
    return None


def site_state(site: SiteRecord, now: datetime, bounds: AlertBounds) -> str:
    if site.last_seen is None:
        return "never"
    if site.state != "online":
        return "offline"
    if now - site.last_seen > timedelta(minutes=bounds.site_silent_minutes):
        return "silent"
    return "online"


def _camera(
    site: SiteRecord,
    state: str,
    camera: CameraRecord,
    *,
    now: datetime,
    bounds: AlertBounds,
    forecast: float | None,
    last_retrieval: datetime | None,
    last_event: datetime | None,
) -> CameraHealth:
    status = camera.status or {}
    recording = state == "online" and camera.state == "recording"
    shown = camera.state if state == "online" else "offline"
    down_since = None
    if not recording:
        candidates = [t for t in (camera.buffer_end, site.last_seen) if t is not None]
        down_since = min(candidates) if candidates else None
    offset = _num(status.get("clock_offset_seconds"))
    days_now = None
    if camera.buffer_start and camera.buffer_end:
        days_now = (camera.buffer_end - camera.buffer_start).total_seconds() / DAY_SECONDS
    alerts: list[Alert] = []
    if down_since is not None and now - down_since > timedelta(minutes=bounds.camera_down_minutes):
        minutes = (now - down_since).total_seconds() / 60
        why = "the site is offline" if state != "online" else (status.get("last_error") or shown)
        alerts.append(
            Alert(
                AlertKind.CAMERA_DOWN,
                site.id,
                camera.camera_id,
                f"not recording for {minutes:.0f} min ({why})",
                down_since,
            )
        )
    if offset is not None and abs(offset) > bounds.clock_drift_seconds:
        alerts.append(
            Alert(
                AlertKind.CLOCK_DRIFT,
                site.id,
                camera.camera_id,
                f"camera clock {offset:+.1f} s off the box"
                f" (bound {bounds.clock_drift_seconds:g} s)",
            )
        )
    lost = _num(status.get("frames_lost_24h"))
    return CameraHealth(
        site_id=site.id,
        site_name=site.name,
        camera_id=camera.camera_id,
        state=shown,
        down_since=down_since,
        last_error=status.get("last_error") if isinstance(status.get("last_error"), str) else None,
        frames_lost_24h=int(lost) if lost is not None else None,
        days_now=days_now,
        days_forecast=forecast,
        clock_offset_seconds=offset,
        last_retrieval=last_retrieval,
        last_event=last_event,
        agent_version=(site.status or {}).get("version"),
        alerts=tuple(alerts),
    )


def site_health(
    site: SiteRecord,
    cameras: list[CameraRecord],
    *,
    now: datetime,
    bounds: AlertBounds,
    last_retrievals: dict[tuple[str, str], datetime],
    last_events: dict[tuple[str, str], datetime],
) -> SiteHealth:
    status = site.status or {}
    state = site_state(site, now, bounds)
    forecast = _num(status.get("buffer_days_forecast"))
    free = _num(status.get("disk_free_bytes"))
    total = _num(status.get("disk_total_bytes"))
    listed = status.get("checks")
    checks: list[Any] = listed if isinstance(listed, list) else []
    failing = tuple(
        f"{c.get('check')} {c.get('subject')}: {c.get('figure')}"
        for c in checks
        if isinstance(c, dict) and c.get("verdict") == "FAIL"
    )
    alerts: list[Alert] = []
    if forecast is not None and forecast + 1e-9 < bounds.buffer_target_days:
        alerts.append(
            Alert(
                AlertKind.BUFFER_SHORT,
                site.id,
                None,
                f"the disk holds {forecast:.1f} days at the recorded bitrate"
                f" (target {bounds.buffer_target_days:g})",
            )
        )
    if free is not None and total:
        percent = 100 * free / total
        if percent < bounds.disk_free_min_percent:
            alerts.append(
                Alert(
                    AlertKind.DISK_FILLING,
                    site.id,
                    None,
                    f"{percent:.1f} % of the disk free ({free / 1e9:.1f} GB;"
                    f" alert under {bounds.disk_free_min_percent:g} %)",
                )
            )
    if status.get("time_sync") == "unsynchronised":
        alerts.append(
            Alert(AlertKind.CLOCK_DRIFT, site.id, None, "the box's clock is not synchronised")
        )
    rows = tuple(
        _camera(
            site,
            state,
            camera,
            now=now,
            bounds=bounds,
            forecast=forecast,
            last_retrieval=last_retrievals.get((site.id, camera.camera_id)),
            last_event=last_events.get((site.id, camera.camera_id)),
        )
        for camera in cameras
    )
    total_int = int(total) if total is not None else None
    queue = _num(status.get("upload_queue"))
    return SiteHealth(
        site_id=site.id,
        name=site.name,
        state=state,
        last_seen=site.last_seen,
        agent_version=status.get("version"),
        time_sync=status.get("time_sync"),
        buffer_days_forecast=forecast,
        disk_free_bytes=int(free) if free is not None else None,
        disk_total_bytes=total_int,
        upload_queue=int(queue) if queue is not None else None,
        checks_failing=failing,
        checked_at=_time(status.get("checked_at")),
        alerts=tuple(alerts),
        cameras=tuple(sorted(rows, key=camera_attention_order)),
    )


def camera_attention_order(camera: CameraHealth) -> tuple[int, int, int, str]:
    """Alerts first, then cameras not recording, then the rest; within each, cameras not
    recording first, then the most alerts, then by camera id."""
    rank = 0 if camera.alerts else 1 if camera.needs_attention else 2
    down = 0 if camera.state != "recording" else 1
    return (rank, down, -len(camera.alerts), camera.camera_id)


def site_attention_order(site: SiteHealth) -> tuple[int, int, str]:
    alerts = len(site.all_alerts)
    attention = site.state != "online" or any(c.needs_attention for c in site.cameras)
    rank = 0 if alerts else 1 if attention or site.checks_failing else 2
    return (rank, -alerts, site.site_id)


def fleet_health(
    sites: list[tuple[SiteRecord, list[CameraRecord]]],
    *,
    now: datetime,
    bounds: AlertBounds,
    last_retrievals: dict[tuple[str, str], datetime],
    last_events: dict[tuple[str, str], datetime],
) -> list[SiteHealth]:
    """Every site with its cameras, sorted by what needs attention first."""
    rows = [
        site_health(
            site,
            cameras,
            now=now,
            bounds=bounds,
            last_retrievals=last_retrievals,
            last_events=last_events,
        )
        for site, cameras in sites
    ]
    return sorted(rows, key=site_attention_order)


def new_and_cleared(alerts: list[Alert], open_keys: set[str]) -> tuple[list[Alert], set[str]]:
    """Alerts that start an episode (not open before) and the keys of episodes that ended."""
    now_keys = {alert.key for alert in alerts}
    return [a for a in alerts if a.key not in open_keys], open_keys - now_keys
