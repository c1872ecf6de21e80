"""Snapshots for the hub's camera picker: a camera's current picture as a ``SnapshotReply``.

Transport-agnostic: ``Snapshots.handle_snapshot_request(request)`` takes a ``SnapshotRequest`` and
always returns a ``SnapshotReply`` (an image or a one-line error, never an exception); whoever
carries the messages (the uplink's ``snapshots/{request}/request`` topic, a test) publishes it.

- ONVIF cameras: the camera's own JPEG (GetSnapshotUri, then an authenticated HTTP GET), through
  ``OnvifCameras.snapshot``; a PNG, GIF, BMP or WebP that some devices send instead is converted
  to JPEG (``cctv_onvif.snapshot_image``). A camera without a snapshot URI, or whose
  snapshot is no image that can be converted (an HTML login page, a TIFF), falls back to its
  stream, as below.
- Plain RTSP cameras: one keyframe of the stream, decoded with PyAV and encoded as JPEG with
  OpenCV. Chosen over answering "snapshots need ONVIF" because a site's plain RTSP cameras are
  often the old ones an operator most needs to recognise in the picker, and a keyframe costs one
  short extra RTSP session and one decoded frame. This JPEG is a derived preview: it is re-encoded,
  is marked ``source = "rtsp-keyframe"``, goes into no manifest and is never evidence. The
  recorder's stream copy is untouched (it has its own connection).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from datetime import datetime

import av
import av.error
import cv2

from cctv_common.clock import utc_now
from cctv_common.wire.payloads import (
    MAX_SNAPSHOT_JPEG_BYTES,
    SnapshotReply,
    SnapshotRequest,
    SnapshotSource,
)
from cctv_onvif import OnvifBadSnapshot, OnvifError, OnvifUnsupported
from edge_agent.cameras.onvif_cameras import OnvifCameras
from edge_agent.config import AgentConfig, CameraConfig
from edge_agent.recording.recorder import CameraUnreachable, redact_text

log = logging.getLogger(__name__)

# Time to open the stream and wait for a keyframe: cameras send one every 1-4 s, some up to 10 s.
RTSP_SNAPSHOT_SECONDS = 15.0
JPEG_QUALITY = 85


class SnapshotFailed(Exception):
    """No picture could be had; the message says why (without credentials)."""


def keyframe_jpeg(url: str, timeout: float = RTSP_SNAPSHOT_SECONDS) -> bytes:
    """Blocking: open an RTSP stream (TCP), decode its first keyframe and encode it as JPEG."""
    deadline = time.monotonic() + timeout
    options = {
        "rtsp_transport": "tcp",
        "allowed_media_types": "video",
        "timeout": str(round(timeout * 1_000_000)),
        "analyzeduration": "500000",
        "probesize": "1000000",
    }
    try:
        with av.open(url, options=options, timeout=(timeout, timeout / 2)) as container:
            if not container.streams.video:
                raise SnapshotFailed("the stream has no video")
            stream = container.streams.video[0]
            stream.codec_context.skip_frame = "NONKEY"  # decode keyframes only
            for packet in container.demux(stream):
                if time.monotonic() > deadline:
                    break
                if not packet.is_keyframe:
                    continue
                for frame in packet.decode():
                    image = frame.to_ndarray(format="bgr24")
                    ok, encoded = cv2.imencode(
                        ".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY]
                    )
                    if not ok:
                        raise SnapshotFailed("the keyframe could not be encoded as JPEG")
                    return bytes(encoded.tobytes())
    except av.error.FFmpegError as exc:
        raise SnapshotFailed(f"cannot read the stream: {redact_text(str(exc), url)}") from exc
    raise SnapshotFailed(f"no keyframe within {timeout:g} s")


class Snapshots:
    """Answers snapshot requests for one site's cameras."""

    def __init__(
        self,
        config: AgentConfig,
        cameras: OnvifCameras | None = None,
        *,
        rtsp_timeout: float = RTSP_SNAPSHOT_SECONDS,
        now: Callable[[], datetime] = utc_now,
    ) -> None:
        self._config = config
        self._cameras = cameras
        self._rtsp_timeout = rtsp_timeout
        self._now = now

    def _label(self, camera_id: str) -> str:
        return f"site {self._config.site_id} camera {camera_id}"

    async def handle_snapshot_request(self, request: SnapshotRequest) -> SnapshotReply:
        """The camera's current picture, or why there is none."""
        camera_id = request.camera_id
        try:
            camera = self._config.camera(camera_id)
        except KeyError:
            return self._error(request, f"site {self._config.site_id} has no camera {camera_id}")
        try:
            jpeg, source = await self._picture(camera)
        except SnapshotFailed as exc:
            log.warning("%s: no snapshot: %s", self._label(camera_id), exc)
            return self._error(request, str(exc))
        if len(jpeg) > MAX_SNAPSHOT_JPEG_BYTES:
            return self._error(
                request,
                f"the camera's JPEG is {len(jpeg)} bytes, over the {MAX_SNAPSHOT_JPEG_BYTES}"
                " a reply can carry",
            )
        log.info("%s: snapshot of %d bytes from %s", self._label(camera_id), len(jpeg), source)
        return SnapshotReply.with_image(request.request_id, camera_id, jpeg, source, self._now())

    def _error(self, request: SnapshotRequest, message: str) -> SnapshotReply:
        return SnapshotReply(
            request_id=request.request_id, camera_id=request.camera_id, error=message[:1000]
        )

    async def _picture(self, camera: CameraConfig) -> tuple[bytes, SnapshotSource]:
        cameras = self._cameras
        if camera.onvif is not None:
            if cameras is None or camera.id not in cameras.camera_ids:
                raise SnapshotFailed(
                    f"camera {camera.id} is an ONVIF camera the agent does not run"
                )
            try:
                return await cameras.snapshot(camera.id), "onvif"
            except (OnvifUnsupported, OnvifBadSnapshot) as exc:
                log.info("%s: %s; taking a keyframe instead", self._label(camera.id), exc)
            except OnvifError as exc:
                raise SnapshotFailed(str(exc)) from exc
            try:
                url = await cameras.live_url(camera)
            except CameraUnreachable as exc:
                raise SnapshotFailed(str(exc)) from exc
        else:
            url = camera.live_rtsp_url or camera.rtsp_url or ""
        # The backstop guards against a read that slips past PyAV's own timeouts.
        limit = self._rtsp_timeout * 2 + 5.0
        try:
            jpeg = await asyncio.wait_for(
                asyncio.to_thread(keyframe_jpeg, url, self._rtsp_timeout), limit
            )
        except TimeoutError as exc:
            raise SnapshotFailed(f"the stream gave no picture within {limit:g} s") from exc
        return jpeg, "rtsp-keyframe"
