"""The evidence manifest: what a clip is, where it came from, and how it was made.

Serialised canonically (sorted keys, UTF-8, no insignificant whitespace) so that the signature is
over exact, reproducible bytes. The bytes that were signed are what is stored and shipped; a reader
parses those bytes and never re-serialises them for verification.
"""

from __future__ import annotations

import builtins
import json
from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any, Literal, Self

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PlainSerializer,
    ValidationError,
    field_validator,
)

from cctv_common.clock import iso_utc

FORMAT_VERSION = 1
MAX_MANIFEST_BYTES = 1024 * 1024
SHA256_PATTERN = r"^[0-9a-f]{64}$"


UtcTime = Annotated[datetime, PlainSerializer(iso_utc, return_type=str)]
Sha256 = Annotated[str, Field(pattern=SHA256_PATTERN, description="SHA-256, lowercase hex")]


class InvalidManifest(ValueError):
    """The manifest bytes are not a manifest of a version this software reads."""


class _Part(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    @field_validator("*", mode="after")
    @classmethod
    def _aware(cls, value: Any) -> Any:
        if isinstance(value, datetime) and value.tzinfo is None:
            raise ValueError("times must carry a time zone (UTC)")
        return value


class Window(_Part):
    start: UtcTime
    end: UtcTime


class GapCause(StrEnum):
    """Why a stretch of a clip's window has no footage: a closed list, so a reader can count them.

    ``camera_clock_jump`` marks a jump of the camera's own timestamps in which no frame was lost
    (listed so that a reader who sees the times jump knows why); every other cause is footage the
    recorder does not have.
    """

    CAMERA_UNREACHABLE = "camera_unreachable"
    STREAM_STALLED = "stream_stalled"
    CAMERA_CLOCK_JUMP = "camera_clock_jump"
    DISK_FULL = "disk_full"
    AGENT_STOPPED = "agent_stopped"
    BEFORE_BUFFER = "before_buffer"
    RETENTION = "retention"
    NVR_NOT_RECORDED = "nvr_not_recorded"  # the NVR holds no recording of this time
    NVR_REPLAY_LOST = "nvr_replay_lost"  # frames the NVR sent that were lost on the way


class ManifestGap(_Part):
    start: UtcTime
    end: UtcTime
    reason: str = Field(max_length=200, description="In words, for a reader")
    cause: GapCause | None = Field(
        default=None, description="From the closed list; absent in manifests made before it"
    )


class CameraIdentity(_Part):
    """Who made the footage. ONVIF fields are empty for a camera given as a plain RTSP URL."""

    id: str = Field(max_length=64)
    name: str = Field(default="", max_length=200)
    manufacturer: str = Field(default="", max_length=200)
    model: str = Field(default="", max_length=200)
    serial: str = Field(default="", max_length=200)
    firmware: str = Field(default="", max_length=200)
    stream_uri: str = Field(default="", max_length=2000, description="Without credentials")


class SourceSegment(_Part):
    path: str = Field(max_length=500)
    start: UtcTime
    end: UtcTime
    bytes: int = Field(ge=0)
    sha256: Sha256


class Software(_Part):
    name: str = Field(max_length=100)
    version: str = Field(max_length=50)


class NvrReplay(_Part):
    """Where a clip retrieved from an NVR came from. Absent for a clip of the agent's own buffer.

    ``time_source`` says where the frame times come from: ``onvif-rtp-extension`` is the NVR's
    own time of every frame (ONVIF replay, RTP header extension 0xABAC); with
    ``request-start-plus-rtp-clock`` (vendor playback URLs) the first frame is taken to be at
    the requested start and later ones follow the RTP clock, which can be off by up to a
    keyframe interval.
    """

    method: Literal["onvif-replay", "hikvision-playback", "dahua-playback"]
    nvr_id: str = Field(max_length=64)
    address: str = Field(max_length=300, description="host:port of the NVR's ONVIF service")
    manufacturer: str = Field(default="", max_length=200)
    model: str = Field(default="", max_length=200)
    serial: str = Field(default="", max_length=200)
    firmware: str = Field(default="", max_length=200)
    recording_token: str = Field(default="", max_length=200)
    track_token: str = Field(default="", max_length=200)
    source_id: str = Field(default="", max_length=500)
    channel: int | None = Field(default=None, ge=0, le=10000)
    replay_uri: str = Field(max_length=2000, description="Without credentials")
    time_source: Literal["onvif-rtp-extension", "request-start-plus-rtp-clock"]
    first_frame: UtcTime
    last_frame: UtcTime
    sections: int = Field(ge=0, description="Contiguous stretches of recording in the clip")
    lost_packets: int = Field(default=0, ge=0)
    rate_control: bool = Field(description="Asked for real-time pacing (false: as fast as sent)")
    clock_offset_seconds: float | None = Field(
        default=None, description="NVR clock minus agent clock when the clip was retrieved"
    )
    server: str = Field(default="", max_length=200, description="The RTSP Server header")


class Manifest(_Part):
    format_version: Literal[1] = 1
    clip_id: str = Field(max_length=64)
    job_id: str | None = Field(default=None, max_length=64)
    site_id: str = Field(max_length=64)
    camera: CameraIdentity
    requested: Window
    delivered: Window
    gaps: tuple[ManifestGap, ...] = ()
    clock_offset_seconds: float | None = Field(
        default=None, description="Camera clock minus agent clock, when the camera tells it"
    )
    codec: str = Field(max_length=20)
    width: int = Field(ge=0, le=16384)
    height: int = Field(ge=0, le=16384)
    fps: float | None = Field(default=None, ge=0, le=1000)
    frames: int | None = Field(
        default=None, ge=0, description="Video frames in the clip (absent in older manifests)"
    )
    bytes: int = Field(ge=1)
    sha256: Sha256
    source_segments: tuple[SourceSegment, ...] = ()
    derived_from_sha256: Sha256 | None = Field(
        default=None, description="For a derived item (redacted, transcoded, still): its source"
    )
    nvr: NvrReplay | None = Field(
        default=None, description="Set when the clip was retrieved from an NVR by replay"
    )
    software: Software
    method: Literal["stream-copy", "derived"] = "stream-copy"
    created_at: UtcTime
    key_id: str = Field(max_length=64)

    def canonical_bytes(self) -> builtins.bytes:
        return canonical_json(self.model_dump(mode="json", exclude_none=True))

    @classmethod
    def parse(cls, data: builtins.bytes) -> Self:
        if len(data) > MAX_MANIFEST_BYTES:
            raise InvalidManifest(f"manifest is {len(data)} bytes, over {MAX_MANIFEST_BYTES}")
        try:
            raw = json.loads(data.decode("utf-8"))
        except RecursionError as exc:
            raise InvalidManifest("manifest is nested too deeply") from exc
        except ValueError as exc:  # also UnicodeDecodeError and numbers of over 4300 digits
            raise InvalidManifest(f"manifest is not UTF-8 JSON: {str(exc)[:200]}") from exc
        if not isinstance(raw, dict):
            raise InvalidManifest("manifest is not a JSON object")
        if raw.get("format_version") != FORMAT_VERSION:
            raise InvalidManifest(
                f"manifest format_version {repr(raw.get('format_version'))[:20]} is not supported"
                f" (this software reads {FORMAT_VERSION})"
            )
        try:
            return cls.model_validate(raw)
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(p) for p in first["loc"])[:80]
            raise InvalidManifest(f"manifest field {where}: {str(first['msg'])[:200]}") from exc
        except (ValueError, ArithmeticError, RecursionError) as exc:
            raise InvalidManifest(f"manifest: {str(exc)[:200]}") from exc


def canonical_json(value: Any) -> bytes:
    return json.dumps(
        value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    ).encode("utf-8")
