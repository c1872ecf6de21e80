"""Snapshots for the camera picker: ONVIF JPEGs from the fake camera, keyframe previews from the
real RTSP test camera, and a clear error reply for everything that cannot give a picture."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

import cv2
import numpy as np
import pytest

from cctv_common.wire.payloads import SnapshotReply, SnapshotRequest
from cctv_onvif import OnvifSettings
from devkit.testcam import TestCamera
from edge_agent.cameras.onvif_cameras import OnvifCameras
from edge_agent.config import AgentConfig
from edge_agent.snapshots.service import Snapshots
from edge_agent.store.segment_index import SegmentIndex
from tests.support.onvif_device import FakeOnvifDevice

FAST = OnvifSettings(timeout=2.0)
GUARD = 60.0
NOW = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)


def onvif_camera(device: FakeOnvifDevice, password: str | None = None) -> dict[str, Any]:
    return {
        "id": "dome",
        "name": "Dome",
        "onvif": {
            "host": device.host,
            "port": device.port,
            "user": device.user,
            "password": device.password if password is None else password,
        },
    }


def service(tmp_path: Path, *cameras: dict[str, Any]) -> tuple[Snapshots, OnvifCameras]:
    config = AgentConfig.model_validate(
        {"site_id": "site-a", "data_dir": str(tmp_path), "cameras": list(cameras)}
    )
    onvif = OnvifCameras(config, SegmentIndex(None), settings=FAST)
    return Snapshots(config, onvif, rtsp_timeout=10.0, now=lambda: NOW), onvif


def ask(snapshots: Snapshots, camera_id: str) -> SnapshotReply:
    request = SnapshotRequest(request_id="req-1", camera_id=camera_id)

    async def run() -> SnapshotReply:
        return await asyncio.wait_for(snapshots.handle_snapshot_request(request), GUARD)

    reply = asyncio.run(run())
    assert reply.request_id == "req-1" and reply.camera_id == camera_id
    assert SnapshotReply.parse(reply.to_bytes()) == reply  # it travels as it is
    return reply


def test_onvif_camera_snapshot(onvif_device: FakeOnvifDevice, tmp_path: Path) -> None:
    snapshots, cameras = service(tmp_path, onvif_camera(onvif_device))
    reply = ask(snapshots, "dome")
    assert reply.error is None
    assert reply.jpeg() == onvif_device.snapshot
    assert (reply.source, reply.taken_at) == ("onvif", NOW)
    assert onvif_device.count("GetSnapshotUri") == 1
    cameras.close()


def test_onvif_camera_with_the_wrong_password(
    onvif_device: FakeOnvifDevice, tmp_path: Path
) -> None:
    snapshots, cameras = service(tmp_path, onvif_camera(onvif_device, password="nope/n@pe"))
    reply = ask(snapshots, "dome")
    assert reply.jpeg() is None
    assert reply.error is not None
    assert reply.error.startswith("wrong user or password for camera dome at 127.0.0.1:")
    assert "nope" not in reply.to_bytes().decode()
    cameras.close()


def test_unknown_camera(tmp_path: Path) -> None:
    snapshots, _cameras = service(tmp_path)
    reply = ask(snapshots, "nope")
    assert reply.error == "site site-a has no camera nope"


def test_rtsp_camera_that_does_not_answer(tmp_path: Path) -> None:
    secret = "Pa55/w@rd"
    url = f"rtsp://admin:{quote(secret, safe='')}@127.0.0.1:9/stream"
    snapshots, _cameras = service(tmp_path, {"id": "plain", "rtsp_url": url})
    reply = ask(snapshots, "plain")
    assert reply.error is not None and reply.error.startswith("cannot read the stream: ")
    assert quote(secret, safe="") not in reply.error and "admin" not in reply.error


def _decoded(jpeg: bytes | None) -> Any:
    assert jpeg is not None
    image = cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR)
    assert image is not None
    return image


@pytest.mark.slow
def test_plain_rtsp_camera_gives_a_keyframe_preview(
    rtsp_camera: TestCamera, tmp_path: Path
) -> None:
    snapshots, _cameras = service(tmp_path, {"id": "plain", "rtsp_url": rtsp_camera.url})
    reply = ask(snapshots, "plain")
    assert reply.error is None, reply.error
    assert reply.source == "rtsp-keyframe"
    assert _decoded(reply.jpeg()).shape == (360, 640, 3)


@pytest.mark.slow
def test_onvif_camera_without_a_snapshot_uri_falls_back_to_its_stream(
    onvif_device: FakeOnvifDevice, rtsp_camera: TestCamera, tmp_path: Path
) -> None:
    onvif_device.unsupported.add("GetSnapshotUri")
    onvif_device.set_stream_uri("Profile_1", rtsp_camera.url)
    snapshots, cameras = service(tmp_path, onvif_camera(onvif_device))
    reply = ask(snapshots, "dome")
    assert reply.error is None, reply.error
    assert reply.source == "rtsp-keyframe"
    assert _decoded(reply.jpeg()).shape == (360, 640, 3)
    cameras.close()


def test_onvif_camera_that_sends_a_png_gives_a_jpeg(
    onvif_device: FakeOnvifDevice, tmp_path: Path
) -> None:
    # Third-party devices answer the snapshot URI with a PNG, against the standard.
    ok, png = cv2.imencode(".png", _decoded(onvif_device.snapshot))
    assert ok
    onvif_device.snapshot, onvif_device.snapshot_type = bytes(png.tobytes()), "image/png"
    snapshots, cameras = service(tmp_path, onvif_camera(onvif_device))
    reply = ask(snapshots, "dome")
    assert reply.error is None, reply.error
    assert reply.source == "onvif"
    jpeg = reply.jpeg()
    assert jpeg is not None and jpeg.startswith(b"\xff\xd8")
    assert _decoded(jpeg).shape == _decoded(onvif_device.snapshot).shape
    cameras.close()


@pytest.mark.slow
def test_onvif_camera_whose_snapshot_is_no_image_falls_back_to_its_stream(
    onvif_device: FakeOnvifDevice, rtsp_camera: TestCamera, tmp_path: Path
) -> None:
    onvif_device.snapshot, onvif_device.snapshot_type = b"<html>log in</html>", "text/html"
    onvif_device.set_stream_uri("Profile_1", rtsp_camera.url)
    snapshots, cameras = service(tmp_path, onvif_camera(onvif_device))
    reply = ask(snapshots, "dome")
    assert reply.error is None, reply.error
    assert reply.source == "rtsp-keyframe"
    assert _decoded(reply.jpeg()).shape == (360, 640, 3)
    cameras.close()
