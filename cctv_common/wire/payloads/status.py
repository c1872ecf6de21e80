"""Site status (agent -> hub on ``sites/{site}/status``, retained; also the agent's last will)."""

from __future__ import annotations

from typing import Literal, Self

from pydantic import Field, field_validator, model_validator

from cctv_common.wire.ids import CameraId
from cctv_common.wire.payloads.base import (
    MAX_STORED_INT,
    ClockOffset,
    Codec,
    Payload,
    PayloadPart,
    Pixels,
    UtcTime,
)
from cctv_common.wire.payloads.health import MAX_HEALTH_CHECKS, HealthCheck, TimeSyncState
from cctv_common.wire.payloads.holds import MAX_HELD_WINDOWS, HeldWindow
from cctv_common.wire.payloads.nvr_coverage import MAX_NVR_CHANNELS, NvrChannelCoverage


class CameraStatus(PayloadPart):
    camera_id: CameraId = Field(description="Camera id within the site")
    state: Literal["recording", "reconnecting", "stopped", "error", "nvr_only"] = Field(
        description="What the camera's recorder is doing; nvr_only: the agent does not record"
        " this camera, an NVR does (see nvr)"
    )
    buffer_start: UtcTime | None = Field(default=None, description="Oldest recorded footage")
    buffer_end: UtcTime | None = Field(default=None, description="Newest recorded footage")
    codec: Codec | None = Field(default=None, description="Recorded video codec")
    width: Pixels | None = Field(default=None, description="Frame width in pixels")
    height: Pixels | None = Field(default=None, description="Frame height in pixels")
    clock_offset_seconds: ClockOffset | None = Field(
        default=None, description="Camera clock minus agent clock, in seconds"
    )
    last_error: str | None = Field(
        default=None, max_length=1000, description="Most recent error, without credentials"
    )
    live_codec: Codec | None = Field(default=None, description="Codec offered for live view")
    # Health figures (issue 14); absent from older agents.
    fps: float | None = Field(
        default=None, ge=0, le=1000, description="Frame rate recorded over the last hour"
    )
    bitrate_bps: int | None = Field(
        default=None, ge=0, le=MAX_STORED_INT, description="Bits per second recorded, last hour"
    )
    frames_lost_24h: int | None = Field(
        default=None,
        ge=0,
        le=MAX_STORED_INT,
        description="Frames received but not written (dropped) in the last 24 h",
    )
    gap_seconds_24h: float | None = Field(
        default=None, ge=0, le=86400, description="Seconds without footage in the last 24 h"
    )
    nvr: tuple[NvrChannelCoverage, ...] | None = Field(
        default=None,
        max_length=MAX_NVR_CHANNELS,
        description="What each NVR channel mapped to this camera holds (absent when none is)",
    )

    @model_validator(mode="after")
    def _buffer_order(self) -> Self:
        if self.buffer_start and self.buffer_end and self.buffer_end < self.buffer_start:
            raise ValueError("buffer_end is before buffer_start")
        return self


class SiteStatus(Payload):
    """Everything but ``state`` is optional, so the last will ``{"state":"offline"}`` parses."""

    state: Literal["online", "offline"] = Field(description="Whether the agent is connected")
    version: str | None = Field(default=None, max_length=50, description="Agent software version")
    sent_at: UtcTime | None = Field(default=None, description="When the agent sent this")
    cameras: tuple[CameraStatus, ...] = Field(
        default=(), max_length=512, description="One entry per configured camera"
    )
    disk_free_bytes: int | None = Field(
        default=None, ge=0, le=MAX_STORED_INT, description="Free bytes for footage"
    )
    disk_used_bytes: int | None = Field(
        default=None, ge=0, le=MAX_STORED_INT, description="Bytes used by footage"
    )
    clock_offset_seconds: ClockOffset | None = Field(
        default=None, description="Agent clock minus NTP reference, when known"
    )
    holds: tuple[HeldWindow, ...] = Field(
        default=(),
        max_length=MAX_HELD_WINDOWS,
        description="Legal holds the agent has pinned (absent from agents that predate holds)",
    )
    # Site health (issue 14); absent from older agents.
    checks: tuple[HealthCheck, ...] = Field(
        default=(),
        max_length=MAX_HEALTH_CHECKS,
        description="The agent's last run of the site checks (as `cctv-provision check`)",
    )
    checked_at: UtcTime | None = Field(default=None, description="When the checks last ran")
    time_sync: TimeSyncState | None = Field(
        default=None, description="Whether the box's clock is synchronised (NTP)"
    )
    buffer_days_forecast: float | None = Field(
        default=None,
        ge=0,
        le=3650,
        description="Days of footage the disk holds at the bitrate recorded over the last hour",
    )
    disk_total_bytes: int | None = Field(
        default=None, ge=0, le=MAX_STORED_INT, description="Size of the footage disk"
    )
    upload_queue: int | None = Field(
        default=None, ge=0, le=MAX_STORED_INT, description="Clips waiting for the hub's ack"
    )

    @field_validator("cameras")
    @classmethod
    def _unique_cameras(cls, cameras: tuple[CameraStatus, ...]) -> tuple[CameraStatus, ...]:
        ids = [camera.camera_id for camera in cameras]
        if len(set(ids)) != len(ids):
            raise ValueError("a camera id appears more than once")
        return cameras


def offline_status(site_version: str | None = None) -> bytes:
    """The retained last will. No ``sent_at``: it is registered at connect but sent much later."""
    return SiteStatus(state="offline", version=site_version).to_bytes()
