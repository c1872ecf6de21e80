"""The fleet page's API models (``GET /api/fleet``): health only, never footage."""

from __future__ import annotations

from datetime import datetime
from typing import Self

from pydantic import BaseModel, ConfigDict, Field

from hub.domain.fleet_rules import Alert, CameraHealth, SiteHealth


class _FleetOut(BaseModel):
    model_config = ConfigDict(frozen=True)


class AlertOut(_FleetOut):
    kind: str = Field(description="camera_down, clock_drift, buffer_short or disk_filling")
    site_id: str
    camera_id: str | None
    message: str
    since: datetime | None

    @classmethod
    def of(cls, alert: Alert) -> Self:
        return cls(
            kind=alert.kind.value,
            site_id=alert.site_id,
            camera_id=alert.camera_id,
            message=alert.message,
            since=alert.since,
        )


class FleetCameraOut(_FleetOut):
    camera_id: str
    state: str = Field(description="recording, reconnecting, stopped, error or offline")
    needs_attention: bool
    down_since: datetime | None
    last_error: str | None
    frames_lost_24h: int | None
    days_now: float | None = Field(description="Days of footage retrievable now")
    days_forecast: float | None = Field(description="Days the disk holds at the recorded bitrate")
    clock_offset_seconds: float | None
    last_retrieval: datetime | None = Field(description="Last clip stored from this camera")
    last_event: datetime | None = Field(description="Last motion or tamper event")
    agent_version: str | None
    alerts: list[AlertOut]

    @classmethod
    def of(cls, camera: CameraHealth) -> Self:
        return cls(
            camera_id=camera.camera_id,
            state=camera.state,
            needs_attention=camera.needs_attention,
            down_since=camera.down_since,
            last_error=camera.last_error,
            frames_lost_24h=camera.frames_lost_24h,
            days_now=camera.days_now,
            days_forecast=camera.days_forecast,
            clock_offset_seconds=camera.clock_offset_seconds,
            last_retrieval=camera.last_retrieval,
            last_event=camera.last_event,
            agent_version=camera.agent_version,
            alerts=[AlertOut.of(a) for a in camera.alerts],
        )


class FleetSiteOut(_FleetOut):
    site_id: str
    name: str
    state: str = Field(description="online, offline, silent (no status lately) or never")
    last_seen: datetime | None
    agent_version: str | None
    time_sync: str | None
    buffer_days_forecast: float | None
    disk_free_bytes: int | None
    disk_total_bytes: int | None
    upload_queue: int | None
    checks_failing: list[str]
    checked_at: datetime | None
    alerts: list[AlertOut] = Field(description="The site's own alerts (disk, buffer, time sync)")
    cameras: list[FleetCameraOut]

    @classmethod
    def of(cls, site: SiteHealth) -> Self:
        return cls(
            site_id=site.site_id,
            name=site.name,
            state=site.state,
            last_seen=site.last_seen,
            agent_version=site.agent_version,
            time_sync=site.time_sync,
            buffer_days_forecast=site.buffer_days_forecast,
            disk_free_bytes=site.disk_free_bytes,
            disk_total_bytes=site.disk_total_bytes,
            upload_queue=site.upload_queue,
            checks_failing=list(site.checks_failing),
            checked_at=site.checked_at,
            alerts=[AlertOut.of(a) for a in site.alerts],
            cameras=[FleetCameraOut.of(c) for c in site.cameras],
        )


class FleetOut(_FleetOut):
    generated_at: datetime
    alerts: int = Field(description="Alerts open across the fleet")
    sites: list[FleetSiteOut] = Field(description="Sorted by what needs attention first")
