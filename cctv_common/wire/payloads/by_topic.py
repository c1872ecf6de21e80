"""Which payload model each topic carries, and parsing a message by its topic."""

from __future__ import annotations

from typing import Final

from cctv_common.wire.payloads.base import InvalidPayload, Payload
from cctv_common.wire.payloads.clips import ClipAck, ClipOffer
from cctv_common.wire.payloads.events import CameraEvents
from cctv_common.wire.payloads.holds import HoldOrder
from cctv_common.wire.payloads.jobs import Job, JobProgress
from cctv_common.wire.payloads.live import LiveAnswer, LiveCandidate, LiveClose, LiveOffer
from cctv_common.wire.payloads.signed import HubSigned
from cctv_common.wire.payloads.snapshots import SnapshotReply, SnapshotRequest
from cctv_common.wire.payloads.status import SiteStatus
from cctv_common.wire.payloads.uplink_cap import UplinkCap
from cctv_common.wire.topics import (
    AckTopic,
    ChunkTopic,
    EventsTopic,
    HoldTopic,
    JobTopic,
    LiveTopic,
    ManifestTopic,
    ProgressTopic,
    SnapshotTopic,
    StatusTopic,
    Topic,
    UplinkCapTopic,
)

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
    HoldOrder,
    UplinkCap,
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
        case HoldTopic():
            return HoldOrder
        case UplinkCapTopic():
            return UplinkCap
        case ChunkTopic():
            return None
    raise AssertionError(f"no payload model for {topic!r}")  # pragma: no cover


def parse_payload(topic: Topic, data: bytes | bytearray) -> Payload:
    """Parse ``data`` as the model ``topic`` carries; chunks are not payloads."""
    model = model_for(topic)
    if model is None:
        raise InvalidPayload(f"{topic} carries raw chunk bytes, not a JSON payload")
    return model.parse(data)
