"""Every MQTT payload as a versioned, validated pydantic model, one module per kind (chunks are raw
bytes, not models). Callers import from here: ``from cctv_common.wire.payloads import ClipAck``.

``base`` holds ``Payload`` (``parse(bytes)`` with its size limit and strict checks, ``to_bytes()``)
and ``InvalidPayload``; ``by_topic`` says which model each topic carries.
"""

from cctv_common.wire.payloads.base import (
    MAX_PAYLOAD_BYTES,
    MAX_STORED_INT,
    PAYLOAD_VERSION,
    SHA256_PATTERN,
    InvalidPayload,
    Payload,
    PayloadPart,
    UtcTime,
)
from cctv_common.wire.payloads.by_topic import PAYLOAD_MODELS, model_for, parse_payload
from cctv_common.wire.payloads.clips import (
    MAX_CHUNK_SIZE,
    MAX_CLIP_BYTES,
    MAX_CLIP_OFFER_BYTES,
    MIN_CHUNK_SIZE,
    ClipAck,
    ClipOffer,
)
from cctv_common.wire.payloads.events import (
    EVENT_KEY_PATTERN,
    MAX_EVENT_DATA_ITEMS,
    MAX_EVENT_KEY_CHARS,
    MAX_EVENT_VALUE_CHARS,
    MAX_EVENTS_PER_MESSAGE,
    CameraEventItem,
    CameraEventKind,
    CameraEvents,
)
from cctv_common.wire.payloads.health import HealthCheck
from cctv_common.wire.payloads.holds import MAX_HELD_WINDOWS, HeldWindow, HoldOrder
from cctv_common.wire.payloads.jobs import (
    MAX_JOB_WINDOW,
    FootageSource,
    Job,
    JobProgress,
)
from cctv_common.wire.payloads.live import (
    MAX_SDP_CHARS,
    IceServer,
    LiveAnswer,
    LiveCandidate,
    LiveClose,
    LiveOffer,
)
from cctv_common.wire.payloads.nvr_coverage import (
    MAX_NVR_CHANNELS,
    MAX_NVR_SPANS,
    NvrChannelCoverage,
    NvrSpan,
)
from cctv_common.wire.payloads.signed import MAX_HUB_SIGNED_BYTES, HubSigned
from cctv_common.wire.payloads.snapshots import (
    MAX_SNAPSHOT_JPEG_BYTES,
    MAX_SNAPSHOT_REPLY_BYTES,
    SnapshotReply,
    SnapshotRequest,
    SnapshotSource,
)
from cctv_common.wire.payloads.status import CameraStatus, SiteStatus, offline_status
from cctv_common.wire.payloads.uplink_cap import MAX_CAP_WINDOWS, CapWindowPart, UplinkCap

__all__ = [
    "EVENT_KEY_PATTERN",
    "MAX_CAP_WINDOWS",
    "MAX_CHUNK_SIZE",
    "MAX_CLIP_BYTES",
    "MAX_CLIP_OFFER_BYTES",
    "MAX_EVENTS_PER_MESSAGE",
    "MAX_EVENT_DATA_ITEMS",
    "MAX_EVENT_KEY_CHARS",
    "MAX_EVENT_VALUE_CHARS",
    "MAX_HELD_WINDOWS",
    "MAX_HUB_SIGNED_BYTES",
    "MAX_JOB_WINDOW",
    "MAX_NVR_CHANNELS",
    "MAX_NVR_SPANS",
    "MAX_PAYLOAD_BYTES",
    "MAX_SDP_CHARS",
    "MAX_SNAPSHOT_JPEG_BYTES",
    "MAX_SNAPSHOT_REPLY_BYTES",
    "MAX_STORED_INT",
    "MIN_CHUNK_SIZE",
    "PAYLOAD_MODELS",
    "PAYLOAD_VERSION",
    "SHA256_PATTERN",
    "CameraEventItem",
    "CameraEventKind",
    "CameraEvents",
    "CameraStatus",
    "CapWindowPart",
    "ClipAck",
    "ClipOffer",
    "FootageSource",
    "HealthCheck",
    "HeldWindow",
    "HoldOrder",
    "HubSigned",
    "IceServer",
    "InvalidPayload",
    "Job",
    "JobProgress",
    "LiveAnswer",
    "LiveCandidate",
    "LiveClose",
    "LiveOffer",
    "NvrChannelCoverage",
    "NvrSpan",
    "Payload",
    "PayloadPart",
    "SiteStatus",
    "SnapshotReply",
    "SnapshotRequest",
    "SnapshotSource",
    "UplinkCap",
    "UtcTime",
    "model_for",
    "offline_status",
    "parse_payload",
]
