"""The hub's ``[alerts]`` and ``[metrics]`` settings: when fleet health raises an alert, who is
mailed, and who may scrape ``/metrics``."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from hub.domain.fleet_rules import AlertBounds


class _StrictFleet(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class AlertSettings(_StrictFleet):
    engineer_emails: tuple[str, ...] = Field(
        default=(),
        max_length=25,
        description="Engineers mailed once per alert episode (needs [smtp]; none: logged only)",
    )
    camera_down_minutes: float = Field(
        default=10.0, ge=1.0, le=1440.0, description="A camera not recording this long alerts"
    )
    clock_drift_seconds: float = Field(
        default=2.0, gt=0, le=3600.0, description="A camera clock off the box by more alerts"
    )
    buffer_target_days: float = Field(
        default=31.0, gt=0, le=3650.0, description="A disk holding fewer days of footage alerts"
    )
    disk_free_min_percent: float = Field(
        default=5.0, ge=0, le=100.0, description="A footage disk with less free alerts"
    )
    site_silent_minutes: float = Field(
        default=5.0, ge=1.0, le=1440.0, description="A site with no status this long is down"
    )
    sweep_seconds: float = Field(
        default=60.0, ge=1.0, le=3600.0, description="How often the alerts are worked out"
    )

    def bounds(self) -> AlertBounds:
        return AlertBounds(
            camera_down_minutes=self.camera_down_minutes,
            clock_drift_seconds=self.clock_drift_seconds,
            buffer_target_days=self.buffer_target_days,
            disk_free_min_percent=self.disk_free_min_percent,
            site_silent_minutes=self.site_silent_minutes,
        )


class MetricsSettings(_StrictFleet):
    token_file: Path | None = Field(
        default=None,
        description="File holding a bearer token for /metrics (mode 0600); without it only"
        " loopback clients may scrape",
    )
