"""ONVIF for the edge agent and the provisioning CLI: our client of ONVIF cameras, over onvif-zeep.

(Named ``cctv_onvif``, not ``onvif``: ``onvif`` is onvif-zeep's own import name.)

Modules, from the wire up:

- `types`: result dataclasses (DeviceInfo, ClockReading, MediaProfile, StreamUri, OnvifEvent, ...),
  settings, OnvifTarget and the named exceptions. No onvif-zeep.
- `http`: sessions, answers read with a size limit and a deadline, snapshot GETs.
- `snapshot_image`: a snapshot in any common image format as a JPEG (OpenCV). No onvif-zeep.
- `soap`: the onvif-zeep / zeep boundary, the only module that imports either.
- `parse`: pure functions from zeep's answers or raw XML to the dataclasses.
- `client`: `OnvifClient`, blocking, one camera, thread-safe.
- `events`: `PullPoint` and the `EventStream` state machine.
- `aio`: `AsyncOnvifClient`, each call in a worker thread under a timeout.

Everything a caller needs is importable from `cctv_onvif`.
"""

from __future__ import annotations

from cctv_common.uris import redact_uri, with_credentials
from cctv_onvif.aio import AsyncOnvifClient
from cctv_onvif.client import OnvifClient
from cctv_onvif.events import EventStream, PullPoint, SubscriptionState
from cctv_onvif.parse import (
    choose_profile,
    classify_event,
    parse_pull_messages,
    parse_pull_messages_xml,
)
from cctv_onvif.soap import describe_fault
from cctv_onvif.types import (
    ClockReading,
    DeviceInfo,
    EventKind,
    EventSettings,
    MediaProfile,
    OnvifAuthError,
    OnvifBadSnapshot,
    OnvifError,
    OnvifEvent,
    OnvifFault,
    OnvifProfileError,
    OnvifProtocolError,
    OnvifSettings,
    OnvifTarget,
    OnvifUnreachable,
    OnvifUnsupported,
    PullBatch,
    RecordingInfo,
    RecordingSummary,
    RecordingTrack,
    SearchSettings,
    ServiceInfo,
    StreamUri,
    UnexpectedAnswer,
)

__all__ = [
    "AsyncOnvifClient",
    "ClockReading",
    "DeviceInfo",
    "EventKind",
    "EventSettings",
    "EventStream",
    "MediaProfile",
    "OnvifAuthError",
    "OnvifBadSnapshot",
    "OnvifClient",
    "OnvifError",
    "OnvifEvent",
    "OnvifFault",
    "OnvifProfileError",
    "OnvifProtocolError",
    "OnvifSettings",
    "OnvifTarget",
    "OnvifUnreachable",
    "OnvifUnsupported",
    "PullBatch",
    "PullPoint",
    "RecordingInfo",
    "RecordingSummary",
    "RecordingTrack",
    "SearchSettings",
    "ServiceInfo",
    "StreamUri",
    "SubscriptionState",
    "UnexpectedAnswer",
    "choose_profile",
    "classify_event",
    "describe_fault",
    "parse_pull_messages",
    "parse_pull_messages_xml",
    "redact_uri",
    "with_credentials",
]
