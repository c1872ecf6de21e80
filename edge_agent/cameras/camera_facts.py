"""A camera's identity and clock offset as they go into a manifest.

For an ONVIF camera the agent saves what the device reported (manufacturer, model, serial,
firmware, clock offset) in the index each time it connects, so a clip cut while the camera is down
still names the device. A plain RTSP camera is named by its id, name and redacted stream URI.
"""

from __future__ import annotations

from dataclasses import dataclass

from cctv_common.evidence.manifest import CameraIdentity
from cctv_common.uris import redact_uri
from edge_agent.config import CameraConfig
from edge_agent.store.segment_index import SegmentIndex


@dataclass(frozen=True)
class CameraFacts:
    """What the agent knows of a camera when it cuts: identity and clock offset."""

    identity: CameraIdentity
    clock_offset_seconds: float | None = None


IDENTITY_FIELDS = ("manufacturer", "model", "serial", "firmware", "stream_uri")


def facts_from_config(camera: CameraConfig, index: SegmentIndex) -> CameraFacts:
    stream_uri = redact_uri(camera.rtsp_url) if camera.rtsp_url else ""
    identity = {"id": camera.id, "name": camera.name, "stream_uri": stream_uri}
    clock_offset = None
    saved = index.camera_facts(camera.id)
    if saved is not None:
        reported, clock_offset = saved
        identity.update({k: v for k, v in reported.items() if k in IDENTITY_FIELDS and v})
        identity["stream_uri"] = redact_uri(identity.get("stream_uri", ""))
    return CameraFacts(CameraIdentity(**identity), clock_offset)
