"""An agent recording the test camera and reporting to the hub stand-in: the setup of the edge
tests that cut real footage (the uplink's end-to-end job, legal holds at the edge).

``recording_site`` writes the agent's config (one camera, ``cam-1``, 2 s segments, any other
sections the test needs), makes the agent's signing key up front so the stand-in can verify its
clips, and returns where everything is; the test starts the agent (``agents`` fixture) when it
wants, and again after a restart.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Final

import av
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from cctv_common.evidence.manifest import Manifest
from cctv_common.evidence.signing import load_or_create_private_key, verify
from cctv_common.wire.payloads import ClipOffer
from devkit.local_broker import MosquittoBroker
from devkit.testcam import TestCamera
from devkit.waiting import wait_until
from tests.support.agent_process import WAIT, write_config
from tests.support.hub_stand_in import HubStandIn
from tests.support.mosquitto_fixtures import MqttTestClient

CAMERA_ID: Final = "cam-1"


@dataclass(frozen=True)
class RecordingSite:
    hub: HubStandIn
    key: Ed25519PrivateKey
    data_dir: Path
    config: Path
    log_path: Path

    def buffer_extent(self) -> tuple[datetime, datetime] | None:
        """The camera's buffer in the newest status that reports one (None: none yet)."""
        with self.hub.lock:
            for status in reversed(self.hub.statuses):
                for camera in status.cameras:
                    if camera.camera_id == CAMERA_ID and camera.buffer_start and camera.buffer_end:
                        return camera.buffer_start, camera.buffer_end
        return None

    def wait_for_footage(self, seconds: float) -> tuple[datetime, datetime]:
        """The buffer once the heartbeat reports at least ``seconds`` of footage."""

        def enough() -> bool:
            extent = self.buffer_extent()
            return extent is not None and extent[1] - extent[0] >= timedelta(seconds=seconds)

        wait_until(enough, f"{seconds:g} s of recorded footage in the heartbeat")
        extent = self.buffer_extent()
        assert extent is not None
        return extent

    def stored_clip(self, path: Path) -> ReceivedClip:
        """The clip the stand-in stored, written to ``path``: its bytes match the offer's
        SHA-256, its manifest the agent's signature, and PyAV reads it as H.264 with frames."""
        assert self.hub.stored.wait(WAIT), "clip not stored"
        upload = self.hub.upload()
        offer, data = upload.offer, bytes(upload.data)
        assert hashlib.sha256(data).hexdigest() == offer.clip_sha256
        verify(self.key.public_key(), offer.manifest_bytes(), offer.signature)
        path.write_bytes(data)
        with av.open(str(path)) as container:
            assert container.streams.video[0].codec_context.name == "h264"
            assert sum(1 for _ in container.demux(container.streams.video[0])) > 0
        return ReceivedClip(offer, Manifest.parse(offer.manifest_bytes()), data)


@dataclass(frozen=True)
class ReceivedClip:
    offer: ClipOffer
    manifest: Manifest
    data: bytes


def recording_site(
    folder: Path,
    broker: MosquittoBroker,
    hub_client: MqttTestClient,
    camera: TestCamera,
    **sections: Any,
) -> RecordingSite:
    """The config and key of an agent recording ``camera`` as ``cam-1`` (``sections``: more
    top-level config sections, e.g. ``retention``) and the stand-in that trusts its key."""
    data_dir = folder / "data"
    key = load_or_create_private_key(data_dir / "agent_key.pem")
    config = write_config(
        folder / "agent.toml",
        broker,
        data_dir,
        cameras=[{"id": CAMERA_ID, "name": "High St north", "rtsp_url": camera.url}],
        recorder={"segment_seconds": 2.0},
        **sections,
    )
    hub = HubStandIn(hub_client, public_key=key.public_key())
    return RecordingSite(hub, key, data_dir, config, folder / "agent.log")
