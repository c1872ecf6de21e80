"""The site view's upload queue (``GET /api/sites/{id}/uploads``) and upload cap
(``/api/sites/{id}/uplink-cap``)."""

from __future__ import annotations

from datetime import datetime
from typing import Self

from pydantic import BaseModel, ConfigDict, Field

from cctv_common.wire.payloads import MAX_CAP_WINDOWS, UplinkCap
from cctv_common.wire.payloads.uplink_cap import MAX_MBPS
from hub.domain.upload_queue import QueueRow
from hub.services.uplink_caps import describe
from hub.services.upload_queue import SiteUploadQueue


class _QueueOut(BaseModel):
    model_config = ConfigDict(frozen=True)


class QueuedClipOut(_QueueOut):
    position: int = Field(description="1 is sent first: most urgent, then oldest")
    job_id: str
    camera_id: str
    priority: int = Field(description="0 lowest .. 9 most urgent (threat to life)")
    state: str = Field(description="The job's state: dispatched, queued, cutting, uploading")
    clip_id: str | None
    bytes_acked: int = Field(description="Bytes of the clip the hub holds")
    bytes_total: int | None = Field(description="The clip's size, once cut and offered")
    seconds_left: float | None = Field(
        description="Estimate: this clip and every one ahead of it at the measured rate"
    )
    created_at: datetime

    @classmethod
    def of(cls, row: QueueRow) -> Self:
        clip = row.clip
        return cls(
            position=row.position,
            job_id=clip.job_id,
            camera_id=clip.camera_id,
            priority=clip.priority,
            state=clip.state,
            clip_id=clip.clip_id,
            bytes_acked=clip.bytes_held,
            bytes_total=clip.bytes_total,
            seconds_left=None if row.seconds_left is None else round(row.seconds_left, 1),
            created_at=clip.created_at,
        )


class UploadQueueOut(_QueueOut):
    site_id: str
    rate_mbps: float = Field(description="Measured over the last 10 s at the hub, Mbit/s")
    clips: list[QueuedClipOut]

    @classmethod
    def of(cls, queue: SiteUploadQueue) -> Self:
        return cls(
            site_id=queue.site_id,
            rate_mbps=round(queue.bytes_per_second * 8 / 1e6, 2),
            clips=[QueuedClipOut.of(row) for row in queue.rows],
        )


class CapWindowIn(_QueueOut):
    days: str = Field(max_length=40, description='"mon-fri", "sat,sun", "daily"...')
    start: str = Field(max_length=5, description="Site's local time HH:MM the window starts")
    end: str = Field(max_length=5, description="Local time HH:MM it ends (before start: next day)")
    mbps: float = Field(gt=0, le=MAX_MBPS, description="Cap in Mbit/s during the window")


class UplinkCapIn(_QueueOut):
    max_mbps: float | None = Field(
        default=None, gt=0, le=MAX_MBPS, description="Cap at all times, Mbit/s (none: no cap)"
    )
    windows: list[CapWindowIn] = Field(
        default_factory=list, max_length=MAX_CAP_WINDOWS, description="Lower caps at set hours"
    )


class UplinkCapOut(_QueueOut):
    site_id: str
    source: str = Field(description='"hub": set here and sent to the site; "site": its config')
    max_mbps: float | None
    windows: list[CapWindowIn]
    summary: str
    set_at: datetime | None
    set_by: str | None

    @classmethod
    def of(cls, site_id: str, cap: UplinkCap | None) -> Self:
        if cap is None or cap.cleared:
            return cls(
                site_id=site_id,
                source="site",
                max_mbps=None,
                windows=[],
                summary="as the site's config says",
                set_at=None if cap is None else cap.set_at,
                set_by=None if cap is None else cap.set_by,
            )
        return cls(
            site_id=site_id,
            source="hub",
            max_mbps=cap.max_mbps,
            windows=[CapWindowIn(**w.model_dump()) for w in cap.windows],
            summary=describe(cap),
            set_at=cap.set_at,
            set_by=cap.set_by,
        )
