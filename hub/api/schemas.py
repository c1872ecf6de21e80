"""Request and response bodies of the API, kept apart from the storage records.

Times are UTC and travel as ISO-8601 with ``Z``. A request time without a time zone is refused
(422) rather than guessed: an evidence window must not move by an hour in summer.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any, Self

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from cctv_common.wire.ids import CameraId, SiteId
from cctv_common.wire.job_state import JobState
from cctv_common.wire.payloads import MAX_JOB_WINDOW, FootageSource
from hub.domain.delivery_rules import Delivery, gap_text
from hub.domain.records import (
    CameraEventRecord,
    CameraRecord,
    ClipJob,
    EvidenceCheck,
    EvidenceItem,
    SiteRecord,
)
from hub.services import delivery as deliveries
from hub.services.custody import CustodyEvent


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid")


class _Out(BaseModel):
    model_config = ConfigDict(frozen=True)


# Sites.


class CameraOut(_Out):
    camera_id: str = Field(description="Camera id within its site")
    state: str = Field(
        description="recording, reconnecting, stopped or error (agent's word); nvr_only: only"
        " an NVR records it (see nvr)"
    )
    buffer_start: datetime | None = Field(description="Oldest footage the agent holds")
    buffer_end: datetime | None = Field(description="Newest footage the agent holds")
    codec: str | None
    width: int | None
    height: int | None
    last_error: str | None = Field(default=None, description="Most recent recorder error")
    updated_at: datetime = Field(description="When the hub last heard about this camera")
    nvr: list[dict[str, Any]] = Field(
        default_factory=list,
        description="What each NVR channel mapped to the camera holds (nvr_id, nvr_name, channel,"
        " method, spans, truncated, searched_at, error), as the site last reported",
    )

    @classmethod
    def of(cls, camera: CameraRecord) -> Self:
        return cls(
            camera_id=camera.camera_id,
            state=camera.state,
            buffer_start=camera.buffer_start,
            buffer_end=camera.buffer_end,
            codec=camera.codec,
            width=camera.width,
            height=camera.height,
            last_error=camera.status.get("last_error"),
            updated_at=camera.updated_at,
            nvr=list(camera.status.get("nvr") or ()),
        )


class SiteOut(_Out):
    site_id: str
    name: str
    key_id: str = Field(
        description="Id of the Ed25519 key the site's manifests must be signed with"
    )
    state: str = Field(
        description="online, offline, unknown (never reported) or revoked (cut off the broker)"
    )
    last_seen: datetime | None = Field(description="When the hub last got a status from the site")
    version: str | None = Field(default=None, description="Agent software version")
    disk_free_bytes: int | None = None
    clock_offset_seconds: float | None = None
    cameras: list[CameraOut]

    @classmethod
    def of(cls, site: SiteRecord, cameras: list[CameraRecord]) -> Self:
        status = site.status or {}
        return cls(
            site_id=site.id,
            name=site.name,
            key_id=site.key_id,
            state=site.state,
            last_seen=site.last_seen,
            version=status.get("version"),
            disk_free_bytes=status.get("disk_free_bytes"),
            clock_offset_seconds=status.get("clock_offset_seconds"),
            cameras=[CameraOut.of(camera) for camera in cameras],
        )


class SiteRegister(_In):
    site_id: SiteId
    name: str = Field(default="", max_length=200, description="Human name, e.g. 'High Street'")
    public_key_pem: str = Field(
        min_length=40, max_length=4000, description="The agent's Ed25519 public key (PEM)"
    )


# Delivery: how much of the asked-for window a stored clip holds.


class DeliveryGapOut(_Out):
    start: datetime = Field(description="Start of the gap, within the requested window")
    end: datetime = Field(description="End of the gap, within the requested window")
    seconds: float = Field(description="Length of the gap")
    length_text: str = Field(description="The length in words, e.g. '12.4 s'")
    cause: str | None = Field(
        description="camera_unreachable, stream_stalled, camera_clock_jump, disk_full,"
        " agent_stopped, before_buffer or retention; null when the manifest gives only words"
    )
    cause_text: str = Field(description="The cause in words, for a reader")
    missing: bool = Field(
        description="Whether footage is missing (false for a camera clock jump: no frame lost)"
    )


class DeliveryOut(_Out):
    requested_start: datetime
    requested_end: datetime
    delivered_start: datetime = Field(description="First frame of the clip (keyframe-aligned)")
    delivered_end: datetime = Field(description="End of the clip's last frame")
    requested_seconds: float = Field(description="Length of the requested window")
    covered_seconds: float = Field(
        description="Seconds of the requested window the clip holds (footage outside the"
        " request does not count)"
    )
    complete: bool = Field(description="Whether the clip holds the whole requested window")
    summary: str = Field(description="e.g. 'all 15 min' or '12 min 40 s of 15 min; 2 gaps'")
    gaps: list[DeliveryGapOut] = Field(description="Gaps within the requested window, in order")
    frames: int | None = Field(description="Video frames in the clip, when the manifest says")
    source: str = Field(
        description="Where the clip came from, from its signed manifest: 'site buffer' or"
        " 'NVR <id>, <make model>, channel <n> (ONVIF replay)' (or the vendor's playback URL)"
    )

    @classmethod
    def of(cls, delivery: Delivery) -> Self:
        return cls(
            requested_start=delivery.requested_start,
            requested_end=delivery.requested_end,
            delivered_start=delivery.delivered_start,
            delivered_end=delivery.delivered_end,
            requested_seconds=round(delivery.requested_seconds, 3),
            covered_seconds=round(delivery.covered_seconds, 3),
            complete=delivery.complete,
            summary=delivery.summary,
            gaps=[
                DeliveryGapOut(
                    start=gap.start,
                    end=gap.end,
                    seconds=round(gap.seconds, 3),
                    length_text=gap_text(gap.seconds),
                    cause=None if gap.cause is None else gap.cause.value,
                    cause_text=gap.words,
                    missing=gap.missing,
                )
                for gap in delivery.gaps
            ],
            frames=delivery.frames,
            source=delivery.source,
        )


# Jobs.


class JobCreate(_In):
    site_id: SiteId
    camera_id: CameraId
    start: datetime = Field(description="Window start, UTC with Z (e.g. 2024-03-01T12:00:00Z)")
    end: datetime = Field(description="Window end, UTC with Z; after start, at most 24 h later")
    reason: str = Field(
        min_length=3, max_length=500, description="Why the footage is wanted, e.g. a crime ref"
    )
    priority: int = Field(default=5, ge=0, le=9, description="0 lowest .. 9 most urgent")
    source: FootageSource = Field(
        default="auto",
        description="Where the agent takes the footage from: auto (its ring buffer where it"
        " covers the window, else an NVR that does), buffer (its ring buffer only) or nvr (an"
        " NVR only); docs/nvr.md",
    )

    @field_validator("start", "end")
    @classmethod
    def _aware(cls, value: datetime) -> datetime:
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError("time has no time zone: give UTC, e.g. 2024-03-01T12:00:00Z")
        try:
            return value.astimezone(UTC)
        except OverflowError as exc:  # e.g. year 1 with a positive offset
            raise ValueError(f"time {value.isoformat()} is out of range in UTC") from exc

    @field_validator("reason")
    @classmethod
    def _reason(cls, value: str) -> str:
        value = value.strip()
        if len(value) < 3:
            raise ValueError("say why the footage is wanted (at least 3 characters)")
        return value

    @model_validator(mode="after")
    def _window(self) -> Self:
        if self.end <= self.start:
            raise ValueError("end must be after start")
        if self.end - self.start > MAX_JOB_WINDOW:
            raise ValueError("the window is over 24 h: split the request")
        return self


class JobOut(_Out):
    job_id: str
    site_id: str
    camera_id: str
    start: datetime
    end: datetime
    reason: str
    priority: int
    source: FootageSource = Field(description="Where the agent takes the footage from")
    requested_by: str
    state: JobState = Field(description="Where the job is (cctv_common.wire.job_state)")
    ended: bool = Field(
        description="Stored or failed: the job has ended and its percent no longer moves"
    )
    percent: int = Field(description="Progress of the current state, 0..100")
    error: str | None = Field(description="Why it failed")
    clip_id: str | None = Field(description="The clip that answers it, once there is one")
    delivery: DeliveryOut | None = Field(
        default=None,
        description="Once stored: how much of the window the clip holds, and its gaps",
    )
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, job: ClipJob, delivery: Delivery | None = None) -> Self:
        return cls(
            job_id=job.id,
            site_id=job.site_id,
            camera_id=job.camera_id,
            start=job.start,
            end=job.end,
            reason=job.reason,
            priority=job.priority,
            source=job.source,
            requested_by=job.requested_by,
            state=job.state,
            ended=job.is_terminal,
            percent=job.percent,
            error=job.error,
            clip_id=job.clip_id,
            delivery=None if delivery is None else DeliveryOut.of(delivery),
            created_at=job.created_at,
            updated_at=job.updated_at,
        )


# Clips.


class CustodyEventOut(_Out):
    seq: int
    at: str
    actor: str
    action: str
    subject: str
    detail: dict[str, Any]
    prev_hash: str
    hash: str

    @classmethod
    def of(cls, row: CustodyEvent) -> Self:
        return cls(**row.as_dict())


class ClipOut(_Out):
    clip_id: str
    sha256: str = Field(description="SHA-256 of the clip, as signed in its manifest and verified")
    site_id: str
    camera_id: str
    job_id: str
    requested_by: str
    bytes: int
    delivered_start: datetime = Field(description="Start of the footage the clip holds")
    delivered_end: datetime = Field(description="End of the footage the clip holds")
    codec: str
    width: int
    height: int
    key_id: str
    stored_at: datetime
    legal_hold: bool
    delivery: DeliveryOut | None = Field(
        default=None, description="How much of the requested window the clip holds, and its gaps"
    )
    video_url: str
    manifest_url: str
    integrity: str = Field(
        default="unchecked",
        description="verified (its bytes last matched the signed SHA-256), damaged (they did"
        " not: the item is not served), or unchecked (not re-checked since it was stored)",
    )
    integrity_checked_at: datetime | None = Field(
        default=None, description="When its bytes were last hashed against the SHA-256"
    )
    integrity_problem: str | None = Field(default=None, description="What is wrong, if damaged")
    deleted_at: datetime | None = Field(default=None, description="When it was deleted, if it was")
    deleted_by: str | None = None

    @classmethod
    def of(cls, item: EvidenceItem, check: EvidenceCheck | None = None) -> Self:
        delivery = deliveries.of_item(item.clip_id, item.sha256, item.job_id, item.manifest)
        return cls(
            integrity="unchecked" if check is None else "verified" if check.ok else "damaged",
            integrity_checked_at=None if check is None else check.checked_at,
            integrity_problem=None if check is None else check.problem,
            deleted_at=item.deleted_at,
            deleted_by=item.deleted_by,
            clip_id=item.clip_id,
            sha256=item.sha256,
            site_id=item.site_id,
            camera_id=item.camera_id,
            job_id=item.job_id,
            requested_by=item.requested_by,
            bytes=item.bytes,
            delivered_start=item.delivered_start,
            delivered_end=item.delivered_end,
            codec=item.codec,
            width=item.width,
            height=item.height,
            key_id=item.key_id,
            stored_at=item.stored_at,
            legal_hold=item.legal_hold,
            delivery=None if delivery is None else DeliveryOut.of(delivery),
            video_url=f"/api/clips/{item.clip_id}/video",
            manifest_url=f"/api/clips/{item.clip_id}/manifest.json",
        )


class ClipDetail(ClipOut):
    manifest: dict[str, Any] = Field(description="The signed manifest, parsed")
    signature: str = Field(description="Base64 Ed25519 signature over manifest.json's exact bytes")
    custody: list[CustodyEventOut] = Field(
        description="Custody log rows about this clip and its job"
    )

    @classmethod
    def with_custody(
        cls, item: EvidenceItem, custody: list[CustodyEvent], check: EvidenceCheck | None = None
    ) -> Self:
        base = ClipOut.of(item, check).model_dump()
        return cls(
            **base,
            manifest=json.loads(item.manifest),
            signature=item.signature,
            custody=[CustodyEventOut.of(row) for row in custody],
        )


# Camera events (motion, tamper) for a camera's timeline.


class CameraEventOut(_Out):
    event_id: str = Field(description="The site's id for the event (a digest of its content)")
    at: datetime = Field(description="When it happened (the agent's clock, UTC)")
    kind: str = Field(description="motion or tamper")
    active: bool = Field(description="true when it began, false when it ended")
    topic: str = Field(description="The ONVIF topic it came on")
    data: dict[str, str] = Field(description="The notification's items, e.g. the rule's name")

    @classmethod
    def of(cls, event: CameraEventRecord) -> Self:
        return cls(
            event_id=event.event_id,
            at=event.at,
            kind=event.kind,
            active=event.active,
            topic=event.topic,
            data=event.data,
        )


class CameraEventsOut(_Out):
    site_id: str
    camera_id: str
    start: datetime = Field(description="The window asked for (UTC)")
    end: datetime
    events: list[CameraEventOut] = Field(description="Oldest first")
    truncated: bool = Field(description="Whether there are more events than ``limit`` allowed")


class ReasonIn(_In):
    reason: str = Field(
        min_length=3, max_length=500, description="Why, for the custody log (e.g. a court order)"
    )

    @field_validator("reason")
    @classmethod
    def _reason(cls, value: str) -> str:
        value = value.strip()
        if len(value) < 3:
            raise ValueError("say why (at least 3 characters)")
        return value


class HoldIn(ReasonIn):
    legal_hold: bool = Field(description="true places a legal hold, false lifts it")


class ReassignIn(ReasonIn):
    owner: str = Field(
        min_length=1, max_length=64, description="User name of the new requester of the item"
    )


# Audit, session, health.


class CheckpointOut(_Out):
    type: str = Field(description="cctv-custody-checkpoint/1")
    hub_id: str
    seq: int = Field(description="The custody log row this checkpoint fixes (the head)")
    hash: str = Field(description="That row's hash: every row before it is fixed with it")
    at: str = Field(description="When the hub signed it (UTC)")
    key_id: str = Field(description="Id of the hub key that signed it")
    signature: str = Field(description="Base64 Ed25519 signature over the canonical JSON of the"
                           " other fields (without signature)")  # fmt: skip
    public_key_pem: str = Field(description="The hub's public key, to check the signature")


class CustodyVerifyOut(_Out):
    ok: bool = Field(description="Whether every row's hash and link to the previous row hold")
    first_bad_seq: int | None = Field(description="The first row that does not, if any")
    problems: list[str] = Field(
        default_factory=list,
        description="Checkpoints that do not match (a cut or rewritten log) and item or job rows"
        " that disagree with the log",
    )


class LoginIn(_In):
    username: str = Field(min_length=1, max_length=64)
    password: str = Field(min_length=1, max_length=1024)


class MeOut(_Out):
    username: str
    role: str
    permissions: dict[str, str] = Field(description="Each permission and its scope: all, own, none")
    user: str = Field(default="", description="The user name again (the issue 11 contract)")
    landing: str = Field(default="", description="The page this role starts on, e.g. #requests")
    display_name: str = Field(default="", description="The user's name, e.g. DC Jane Smith")
    email: str = Field(default="", description="Where the hub mails them")
    force: str = Field(default="", description="Police users: their force")
    collar_number: str = Field(default="", description="Police users: their collar number")


class HealthOut(_Out):
    status: str = Field(description="ok while the hub serves requests")
    mqtt: str = Field(description="connected, connecting, or disabled (no broker configured)")
    version: str
    refused_messages: int = Field(
        default=0,
        description="MQTT messages refused since the hub started: malformed, unverified offers,"
        " unknown topics (each kind logged at most once a minute)",
    )
