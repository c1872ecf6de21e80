"""Every MQTT payload as a versioned, validated pydantic model (chunks are raw bytes, not models).

Each model has ``parse(bytes)`` (size limit, UTF-8 JSON, version, strict field checks; any failure
is one ``InvalidPayload`` with a one-line reason) and ``to_bytes()`` (compact UTF-8 JSON, fields
that are ``None`` left out). Times are timezone-aware and travel as ISO-8601 UTC with a ``Z``.
"""

from __future__ import annotations

import base64
import binascii
import json
import math
import re
from datetime import UTC, datetime, timedelta
from typing import Annotated, ClassVar, Final, Literal, Self

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    PlainSerializer,
    ValidationError,
    field_validator,
    model_validator,
)

from cctv_common.chunk_ranges import MAX_RANGES, InvalidRanges, Range, validate_ranges
from cctv_common.ids import (
    ID_PATTERN,
    MAX_ID_LENGTH,
    CameraId,
    ClipId,
    JobId,
    SessionId,
    validate_id,
)
from cctv_common.manifest import MAX_MANIFEST_BYTES, iso_utc
from cctv_common.topics import (
    MAX_CHUNK_INDEX,
    AckTopic,
    ChunkTopic,
    EventsTopic,
    JobTopic,
    LiveTopic,
    ManifestTopic,
    ProgressTopic,
    SnapshotTopic,
    StatusTopic,
    Topic,
)

PAYLOAD_VERSION: Final = 1
MAX_PAYLOAD_BYTES: Final = 256 * 1024
# A clip offer carries the whole signed manifest (up to MAX_MANIFEST_BYTES: a 24 h clip lists
# thousands of source segments) plus one SHA-256 per chunk, so it gets a larger limit. It is still
# far below the broker's max_packet_size (16 MiB).
MAX_CLIP_OFFER_BYTES: Final = 4 * 1024 * 1024
MIN_CHUNK_SIZE: Final = 64 * 1024
MAX_CHUNK_SIZE: Final = 8 * 1024 * 1024
MAX_JOB_WINDOW: Final = timedelta(hours=24)
MAX_CLIP_BYTES: Final = MAX_CHUNK_SIZE * (MAX_CHUNK_INDEX + 1)
MAX_SDP_CHARS: Final = 64 * 1024
ED25519_SIGNATURE_BYTES: Final = 64
# A snapshot reply carries one JPEG, base64-encoded (4/3 larger): 8 MiB holds a JPEG of just under
# 6 MiB (1 KiB is left for the other fields), more than a 4K camera's snapshot at high quality,
# and is half the broker's max_packet_size.
MAX_SNAPSHOT_REPLY_BYTES: Final = 8 * 1024 * 1024
MAX_SNAPSHOT_JPEG_BYTES: Final = 6 * 1024 * 1024 - 1024
# A hub-signed message carries its body as a JSON string, in which every quote is escaped.
MAX_HUB_SIGNED_BYTES: Final = 2 * MAX_PAYLOAD_BYTES + 1024
JPEG_MAGIC: Final = b"\xff\xd8"
SHA256_PATTERN: Final = r"^[0-9a-f]{64}$"
# A reason names what is wrong, never echoes what was sent: bounded so that junk cannot flood logs.
MAX_REASON_CHARS: Final = 300
MAX_WHERE_CHARS: Final = 80
# Every whole number on the wire fits a signed 64-bit SQLite INTEGER.
MAX_STORED_INT: Final = 2**63 - 1


class InvalidPayload(ValueError):
    """Bytes that are not a valid payload of the expected model and version."""


def _utc(moment: datetime) -> datetime:
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError("time must carry a time zone (UTC, written with Z)")
    try:
        return moment.astimezone(UTC)
    except OverflowError as exc:  # e.g. 0001-01-01T00:00:00+01:00 is before year 1 in UTC
        raise ValueError("time is out of range once moved to UTC") from exc


UtcTime = Annotated[datetime, AfterValidator(_utc), PlainSerializer(iso_utc, return_type=str)]
Sha256 = Annotated[str, Field(pattern=SHA256_PATTERN, description="SHA-256, 64 lowercase hex")]
ClockOffset = Annotated[
    float,
    Field(
        ge=-366 * 86400,
        le=366 * 86400,
        allow_inf_nan=False,
        description="Camera (or agent) clock minus reference clock, in seconds",
    ),
]
Codec = Annotated[str, Field(min_length=1, max_length=20, description="e.g. h264, h265")]
Pixels = Annotated[int, Field(ge=1, le=16384)]
ChunkRange = Annotated[
    tuple[
        Annotated[int, Field(ge=0, le=MAX_CHUNK_INDEX)],
        Annotated[int, Field(ge=0, le=MAX_CHUNK_INDEX)],
    ],
    Field(description="Inclusive [first, last] chunk indexes"),
]


def _ranges(value: tuple[Range, ...]) -> tuple[Range, ...]:
    try:
        return tuple(validate_ranges(value))
    except InvalidRanges as exc:
        raise ValueError(str(exc)) from exc


ChunkRanges = Annotated[
    tuple[ChunkRange, ...], Field(max_length=MAX_RANGES), AfterValidator(_ranges)
]


def _short(text: str, limit: int) -> str:
    """One line of at most ``limit`` characters: a sender's junk must not flood a log line."""
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _one_line(model: str, exc: ValidationError) -> str:
    errors = exc.errors(include_url=False)
    first = errors[0]
    # A location part may be a key the sender chose (an extra field): keep it short.
    where = _short(".".join(str(part) for part in first["loc"]), MAX_WHERE_CHARS)
    message = _short(str(first["msg"]).removeprefix("Value error, "), MAX_REASON_CHARS)
    more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
    return f"{model} payload: {where + ': ' if where else ''}{message}{more}"


def _ed25519_signature(value: str) -> str:
    try:
        raw = base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise ValueError("signature is not base64") from exc
    if len(raw) != ED25519_SIGNATURE_BYTES:
        raise ValueError(f"signature is {len(raw)} bytes, not {ED25519_SIGNATURE_BYTES}")
    return value


class _DuplicateKey(ValueError):
    pass


def _unique_keys(pairs: list[tuple[str, object]]) -> dict[str, object]:
    # Two values for one key would let two readers see two different messages.
    result: dict[str, object] = {}
    for key, value in pairs:
        if key in result:
            raise _DuplicateKey(repr(key[:40]))
        result[key] = value
    return result


class _Part(BaseModel):
    """A nested object inside a payload."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class Payload(_Part):
    """Base of every top-level payload: versioned, size-limited, parsed strictly."""

    MAX_BYTES: ClassVar[int] = MAX_PAYLOAD_BYTES

    v: Literal[1] = Field(default=1, description="Payload format version")

    @classmethod
    def parse(cls, data: bytes | bytearray) -> Self:
        name = cls.__name__
        if len(data) > cls.MAX_BYTES:
            raise InvalidPayload(f"{name} payload is {len(data)} bytes, over {cls.MAX_BYTES}")
        try:
            raw = json.loads(data.decode("utf-8"), object_pairs_hook=_unique_keys)
        except _DuplicateKey as exc:
            raise InvalidPayload(f"{name} payload has key {exc} twice") from exc
        except RecursionError as exc:
            raise InvalidPayload(f"{name} payload is nested too deeply") from exc
        except ValueError as exc:
            # JSONDecodeError, UnicodeDecodeError, or a number of more than 4300 digits.
            why = (
                "it has a number with too many digits"
                if "digits" in str(exc)
                else _short(str(exc), MAX_REASON_CHARS)
            )
            raise InvalidPayload(f"{name} payload is not UTF-8 JSON: {why}") from exc
        if not isinstance(raw, dict):
            raise InvalidPayload(f"{name} payload is not a JSON object")
        version = raw.get("v", PAYLOAD_VERSION)
        if version != PAYLOAD_VERSION or type(version) is not int:
            raise InvalidPayload(
                f"{name} payload version {_short(repr(version), 20)} is not supported"
                f" (this software reads {PAYLOAD_VERSION})"
            )
        try:
            # Strict JSON rules: no "5" for 5, no 5.0 for 5, no numbers for times.
            return cls.model_validate_json(data, strict=True)
        except ValidationError as exc:
            raise InvalidPayload(_one_line(name, exc)) from exc
        except (ValueError, ArithmeticError, RecursionError) as exc:
            # A validator tripped over something pydantic does not wrap; still the sender's fault.
            raise InvalidPayload(f"{name} payload: {_short(str(exc), MAX_REASON_CHARS)}") from exc

    def to_bytes(self) -> bytes:
        return self.model_dump_json(exclude_none=True).encode("utf-8")


# Site status (agent -> hub, retained; also the last will).


class CameraStatus(_Part):
    camera_id: CameraId = Field(description="Camera id within the site")
    state: Literal["recording", "reconnecting", "stopped", "error"] = Field(
        description="What the camera's recorder is doing"
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


# Jobs (hub -> agent, retained) and their progress (agent -> hub).


class Job(Payload):
    job_id: JobId = Field(description="The hub's id for this clip job")
    camera_id: CameraId = Field(description="Camera to cut the clip from")
    start: UtcTime = Field(description="Requested window start (UTC)")
    end: UtcTime = Field(description="Requested window end (UTC), after start, at most 24 h on")
    priority: int = Field(default=5, ge=0, le=9, description="0 lowest .. 9 most urgent")
    reason: str = Field(max_length=500, description="Why the footage is wanted, e.g. crime ref")
    requested_by: str | None = Field(
        default=None, max_length=200, description="Who asked, for the agent's log"
    )

    @model_validator(mode="after")
    def _window(self) -> Self:
        if self.end <= self.start:
            raise ValueError(
                f"job window end {iso_utc(self.end)} is not after start {iso_utc(self.start)}"
            )
        if self.end - self.start > MAX_JOB_WINDOW:
            raise ValueError(
                f"job window is {(self.end - self.start).total_seconds() / 3600:g} h,"
                " over the 24 h limit: split the request"
            )
        return self


class JobProgress(Payload):
    job_id: JobId = Field(description="The job this is about")
    state: Literal["queued", "cutting", "uploading", "stored", "failed"] = Field(
        description="Where the job is"
    )
    percent: int = Field(default=0, ge=0, le=100, description="Progress of the current state")
    clip_id: ClipId | None = Field(default=None, description="The clip, once cut")
    error: str | None = Field(
        default=None, max_length=1000, description="Why it failed; required when failed"
    )
    sent_at: UtcTime = Field(description="When the agent sent this")

    @model_validator(mode="after")
    def _error_when_failed(self) -> Self:
        if self.state == "failed" and not self.error:
            raise ValueError("a failed job must say why (error)")
        return self


# Clip upload.


class ClipOffer(Payload):
    """The manifest message: the signed manifest and how the clip is cut into chunks."""

    MAX_BYTES: ClassVar[int] = MAX_CLIP_OFFER_BYTES

    clip_id: ClipId = Field(description="The clip being offered")
    job_id: JobId = Field(description="The job it answers")
    manifest: str = Field(
        min_length=2,
        max_length=MAX_MANIFEST_BYTES,
        description="Canonical manifest JSON exactly as signed, decoded as UTF-8",
    )
    signature: str = Field(
        min_length=1, max_length=200, description="Base64 Ed25519 signature over the manifest"
    )
    key_id: str = Field(
        pattern=r"^[0-9a-f]{16}$", description="Agent key id: 16 hex of SHA-256 of the public key"
    )
    clip_bytes: int = Field(ge=1, le=MAX_CLIP_BYTES, description="Size of the clip file")
    clip_sha256: Sha256 = Field(description="SHA-256 of the whole clip file")
    chunk_size: int = Field(
        ge=MIN_CHUNK_SIZE, le=MAX_CHUNK_SIZE, description="Bytes per chunk (the last may be less)"
    )
    chunk_count: int = Field(
        ge=1, le=MAX_CHUNK_INDEX + 1, description="ceil(clip_bytes / chunk_size)"
    )
    chunk_sha256: tuple[Sha256, ...] = Field(description="SHA-256 of each chunk, in order")

    @field_validator("signature")
    @classmethod
    def _signature(cls, value: str) -> str:
        return _ed25519_signature(value)

    @model_validator(mode="after")
    def _chunks(self) -> Self:
        expected = math.ceil(self.clip_bytes / self.chunk_size)
        if self.chunk_count != expected:
            raise ValueError(
                f"chunk_count {self.chunk_count} does not match ceil(clip_bytes / chunk_size)"
                f" = {expected}"
            )
        if len(self.chunk_sha256) != self.chunk_count:
            raise ValueError(
                f"chunk_sha256 has {len(self.chunk_sha256)} entries, chunk_count is"
                f" {self.chunk_count}"
            )
        return self

    def manifest_bytes(self) -> bytes:
        """The exact bytes that were signed."""
        return self.manifest.encode("utf-8")

    def chunk_length(self, index: int) -> int:
        """How many bytes chunk ``index`` must have (the last one holds the remainder)."""
        if not 0 <= index < self.chunk_count:
            raise IndexError(f"chunk {index} is not within 0..{self.chunk_count - 1}")
        return min(self.chunk_size, self.clip_bytes - index * self.chunk_size)


class ClipAck(Payload):
    """The hub's answer to a clip offer; it travels signed by the hub (``HubSigned``)."""

    clip_id: ClipId = Field(description="The clip this is about")
    offer_sha256: Sha256 = Field(
        description="SHA-256 of the offer payload this answers: an agent acts only on answers"
        " to an offer it sent"
    )
    state: Literal["receiving", "stored", "rejected"] = Field(description="What the hub did")
    held: ChunkRanges = Field(default=(), description="Chunk ranges the hub holds and verified")
    missing: ChunkRanges | None = Field(default=None, description="Chunk ranges the hub wants next")
    reason: str | None = Field(default=None, max_length=500, description="Why, when rejected")
    evidence_sha256: Sha256 | None = Field(
        default=None, description="SHA-256 of the stored evidence, when stored"
    )

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        if self.state == "rejected" and not self.reason:
            raise ValueError("a rejected clip must say why (reason)")
        if self.state == "stored" and self.evidence_sha256 is None:
            raise ValueError("a stored clip must carry evidence_sha256")
        return self


# Live view signalling (WebRTC over MQTT).


class IceServer(_Part):
    urls: tuple[Annotated[str, Field(pattern=r"^(stun|turn|turns):", max_length=500)], ...] = Field(
        min_length=1, max_length=10, description="stun:, turn: or turns: URLs"
    )
    username: str | None = Field(default=None, max_length=200, description="TURN username")
    # repr=False: a TURN credential is a secret and must not show up in logs.
    credential: str | None = Field(
        default=None, max_length=500, repr=False, description="TURN credential"
    )


class LiveOffer(Payload):
    session_id: SessionId = Field(description="The viewing session")
    camera_id: CameraId = Field(description="Camera to show")
    sdp: str = Field(min_length=1, max_length=MAX_SDP_CHARS, description="SDP offer")
    ice_servers: tuple[IceServer, ...] = Field(
        default=(), max_length=10, description="STUN/TURN servers for the agent"
    )


class LiveAnswer(Payload):
    session_id: SessionId = Field(description="The viewing session")
    sdp: str | None = Field(
        default=None, min_length=1, max_length=MAX_SDP_CHARS, description="SDP answer"
    )
    error: str | None = Field(
        default=None, max_length=500, description="Why there is no answer, instead of sdp"
    )

    @model_validator(mode="after")
    def _sdp_or_error(self) -> Self:
        if (self.sdp is None) == (self.error is None):
            raise ValueError("a live answer carries either sdp or error, not both or neither")
        return self


class LiveCandidate(Payload):
    session_id: SessionId = Field(description="The viewing session")
    candidate: str = Field(
        max_length=2000, description="ICE candidate line; empty means end of candidates"
    )
    sdp_mid: str | None = Field(default=None, max_length=64, description="Media stream id")
    sdp_mline_index: int | None = Field(
        default=None, ge=0, le=1000, description="Index of the m= line"
    )


class LiveClose(Payload):
    session_id: SessionId = Field(description="The viewing session")
    reason: str | None = Field(default=None, max_length=500, description="Why it closed")


# Snapshots for the hub's camera picker (hub -> agent request, agent -> hub reply).


def _request(value: str) -> str:
    return validate_id("snapshot request", value)


SnapshotSource = Literal["onvif", "rtsp-keyframe"]
RequestId = Annotated[
    str,
    AfterValidator(_request),
    Field(
        description=f"Snapshot request id: letters, digits, _ and -, at most {MAX_ID_LENGTH}",
        json_schema_extra={"pattern": ID_PATTERN, "minLength": 1, "maxLength": MAX_ID_LENGTH},
    ),
]


class SnapshotRequest(Payload):
    request_id: RequestId = Field(description="The hub's id for this request; the reply repeats it")
    camera_id: CameraId = Field(description="Camera whose current picture is wanted")


class SnapshotReply(Payload):
    """A camera's current picture, or why there is none. A preview for choosing cameras, never
    evidence: it is not hashed into any manifest, and one taken from an RTSP keyframe is
    re-encoded."""

    MAX_BYTES: ClassVar[int] = MAX_SNAPSHOT_REPLY_BYTES

    request_id: RequestId = Field(description="The request this answers")
    camera_id: CameraId = Field(description="The camera it shows")
    jpeg_b64: str | None = Field(
        default=None,
        min_length=4,
        max_length=MAX_SNAPSHOT_REPLY_BYTES,
        description="The JPEG image, base64 (standard alphabet, padded); absent with error",
    )
    source: SnapshotSource | None = Field(
        default=None,
        description="onvif: the camera's own snapshot (GetSnapshotUri); rtsp-keyframe: one "
        "keyframe of its stream, decoded and encoded as JPEG by the agent",
    )
    taken_at: UtcTime | None = Field(default=None, description="When the agent got the image")
    error: str | None = Field(
        default=None, max_length=1000, description="Why there is no image, instead of jpeg_b64"
    )

    @field_validator("jpeg_b64")
    @classmethod
    def _jpeg(cls, value: str | None) -> str | None:
        if value is None:
            return value
        try:
            raw = base64.b64decode(value, validate=True)
        except (binascii.Error, ValueError) as exc:
            raise ValueError("jpeg_b64 is not base64") from exc
        if not raw.startswith(JPEG_MAGIC):
            raise ValueError("jpeg_b64 is not a JPEG image")
        if len(raw) > MAX_SNAPSHOT_JPEG_BYTES:
            raise ValueError(f"the JPEG is {len(raw)} bytes, over {MAX_SNAPSHOT_JPEG_BYTES}")
        return value

    @model_validator(mode="after")
    def _image_or_error(self) -> Self:
        if (self.jpeg_b64 is None) == (self.error is None):
            raise ValueError(
                "a snapshot reply carries either jpeg_b64 or error, not both or neither"
            )
        if self.jpeg_b64 is not None and (self.source is None or self.taken_at is None):
            raise ValueError("a snapshot reply with an image must say its source and taken_at")
        return self

    @classmethod
    def with_image(
        cls,
        request_id: str,
        camera_id: str,
        jpeg: bytes,
        source: SnapshotSource,
        taken_at: datetime,
    ) -> SnapshotReply:
        """A reply carrying an image (validated like one parsed from the wire)."""
        return cls.model_validate(
            {
                "request_id": request_id,
                "camera_id": camera_id,
                "jpeg_b64": base64.b64encode(jpeg).decode("ascii"),
                "source": source,
                "taken_at": taken_at,
            }
        )

    def jpeg(self) -> bytes | None:
        """The image's bytes (None for an error reply)."""
        return None if self.jpeg_b64 is None else base64.b64decode(self.jpeg_b64)


# Camera events (agent -> hub on sites/{site}/events): stored motion and tamper, in batches.

MAX_EVENTS_PER_MESSAGE: Final = 100
MAX_EVENT_DATA_ITEMS: Final = 16
MAX_EVENT_KEY_CHARS: Final = 64
MAX_EVENT_VALUE_CHARS: Final = 200
EVENT_KEY_PATTERN: Final = r"^[A-Za-z0-9_.:-]+$"
CameraEventKind = Literal["motion", "tamper"]


def _event_data(value: dict[str, str]) -> dict[str, str]:
    if len(value) > MAX_EVENT_DATA_ITEMS:
        raise ValueError(f"data has {len(value)} items, over {MAX_EVENT_DATA_ITEMS}")
    for key, item in value.items():
        if not 1 <= len(key) <= MAX_EVENT_KEY_CHARS or not re.match(EVENT_KEY_PATTERN, key):
            raise ValueError(
                f"data key {key[:40]!r} is not 1..{MAX_EVENT_KEY_CHARS} letters, digits, _ . : -"
            )
        if len(item) > MAX_EVENT_VALUE_CHARS:
            raise ValueError(f"data {key} is over {MAX_EVENT_VALUE_CHARS} characters")
    return value


class CameraEventItem(_Part):
    """One stored camera event. Its id is the agent's digest of its content, so the same event
    sent twice (after a restart or an outage) has the same id and the hub keeps it once."""

    event_id: str = Field(
        pattern=r"^[0-9a-f]{32}$", description="32 lowercase hex, unique per event of the site"
    )
    camera_id: CameraId = Field(description="Camera within the site")
    at: UtcTime = Field(description="When it happened, on the agent's clock (UTC)")
    kind: CameraEventKind = Field(description="motion or tamper")
    active: bool = Field(description="Whether it began (true) or ended (false)")
    topic: str = Field(min_length=1, max_length=200, description="The ONVIF topic it came on")
    data: Annotated[dict[str, str], AfterValidator(_event_data)] = Field(
        default_factory=dict,
        description=f"The notification's items (at most {MAX_EVENT_DATA_ITEMS}, short strings)",
    )


class CameraEvents(Payload):
    events: tuple[CameraEventItem, ...] = Field(
        min_length=1,
        max_length=MAX_EVENTS_PER_MESSAGE,
        description="Stored events, oldest first, each sent until the broker took it",
    )
    sent_at: UtcTime = Field(description="When the agent sent this")

    @field_validator("events")
    @classmethod
    def _unique_ids(cls, events: tuple[CameraEventItem, ...]) -> tuple[CameraEventItem, ...]:
        ids = [event.event_id for event in events]
        if len(set(ids)) != len(ids):
            raise ValueError("an event id appears more than once")
        return events


# What the hub tells a site (jobs, holds, clip acks) travels signed by the hub's key; see
# cctv_common/hub_signing.py for what is signed and how it is checked.


class HubSigned(Payload):
    """A payload signed with the hub's Ed25519 key and bound to the topic it is published on."""

    MAX_BYTES: ClassVar[int] = MAX_HUB_SIGNED_BYTES

    body: str = Field(
        min_length=2,
        max_length=MAX_PAYLOAD_BYTES,
        description="The signed payload's JSON (a Job, ClipAck, ...), exactly as signed",
    )
    key_id: str = Field(
        pattern=r"^[0-9a-f]{16}$", description="Hub key id: 16 hex of SHA-256 of the public key"
    )
    signature: str = Field(
        min_length=1,
        max_length=200,
        description="Base64 Ed25519 signature over the topic and the body (see hub_signing)",
    )

    @field_validator("signature")
    @classmethod
    def _signature(cls, value: str) -> str:
        return _ed25519_signature(value)


PAYLOAD_MODELS: Final[tuple[type[Payload], ...]] = (
    SiteStatus,
    Job,
    JobProgress,
    ClipOffer,
    ClipAck,
    LiveOffer,
    LiveAnswer,
    LiveCandidate,
    LiveClose,
    SnapshotRequest,
    SnapshotReply,
    CameraEvents,
    HubSigned,
)

_LIVE_MODELS: Final[dict[str, type[Payload]]] = {
    "offer": LiveOffer,
    "answer": LiveAnswer,
    "candidate": LiveCandidate,
    "close": LiveClose,
}


def model_for(topic: Topic) -> type[Payload] | None:
    """The payload model a topic carries; ``None`` for chunks, which are raw bytes."""
    match topic:
        case StatusTopic():
            return SiteStatus
        case JobTopic():
            return Job
        case ProgressTopic():
            return JobProgress
        case ManifestTopic():
            return ClipOffer
        case AckTopic():
            return ClipAck
        case LiveTopic(kind=kind):
            return _LIVE_MODELS[kind]
        case SnapshotTopic(kind="request"):
            return SnapshotRequest
        case SnapshotTopic(kind="reply"):
            return SnapshotReply
        case EventsTopic():
            return CameraEvents
        case ChunkTopic():
            return None
    raise AssertionError(f"no payload model for {topic!r}")  # pragma: no cover


def parse_payload(topic: Topic, data: bytes | bytearray) -> Payload:
    """Parse ``data`` as the model ``topic`` carries; chunks are not payloads."""
    model = model_for(topic)
    if model is None:
        raise InvalidPayload(f"{topic} carries raw chunk bytes, not a JSON payload")
    return model.parse(data)
