"""The checks' probes for ``cctv-provision check``: a camera's ONVIF service and its stream, the
broker login, the disk. Blocking I/O; each returns figures for the rules in ``checks`` and never
raises for what it finds (a refused login is a finding, not an error). No secret in any message.
"""

from __future__ import annotations

import logging
import os
import shutil
import time
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Final

import av

from cctv_common.uris import redact_uri, with_credentials
from cctv_onvif.client import OnvifClient
from cctv_onvif.types import OnvifAuthError, OnvifError, OnvifTarget
from edge_agent.config import CameraConfig
from edge_agent.health.checks import StreamFigures
from edge_agent.recording.recorder import redact_text

log = logging.getLogger(__name__)

# Long enough to count frames and bytes of a few GOPs; short enough for a ladder.
STREAM_SAMPLE_SECONDS: Final = 3.0
OPEN_TIMEOUT_SECONDS: Final = 10.0


@dataclass(frozen=True)
class CameraProbe:
    """What one camera answered: ``error`` is None when it was reached with its credentials."""

    camera_id: str
    how: str  # "ONVIF and RTSP" or "RTSP"
    error: str | None
    clock_offset_seconds: float | None
    stream: StreamFigures | None


def _onvif_stream_url(camera: CameraConfig) -> tuple[str, float]:
    """The ONVIF camera's stream URL with credentials and its clock offset (OnvifError)."""
    onvif = camera.onvif
    assert onvif is not None
    target = OnvifTarget(camera.id, onvif.host, onvif.port, onvif.user, onvif.password)
    with OnvifClient(target) as client:
        clock = client.get_system_date_and_time()
        stream = client.get_stream_uri(onvif.profile)
    return with_credentials(stream.uri, onvif.user, onvif.password), clock.offset_seconds


def sample_stream(url: str, seconds: float = STREAM_SAMPLE_SECONDS) -> StreamFigures:
    """Read the stream by copy for ``seconds`` of its own time: codec, size, frame rate and
    bitrate as sent. Raises ``av.error.FFmpegError`` (or ValueError for no video)."""
    options = {"rtsp_transport": "tcp", "allowed_media_types": "video", "timeout": "10000000"}
    with av.open(url, options=options, timeout=(OPEN_TIMEOUT_SECONDS, 5.0)) as container:
        if not container.streams.video:
            raise ValueError("the camera sends no video stream")
        stream = container.streams.video[0]
        codec = stream.codec_context.name
        width = stream.codec_context.width or None
        height = stream.codec_context.height or None
        base = stream.time_base or Fraction(1, 90000)
        first: int | None = None
        last = 0
        frames = 0
        size = 0
        started = time.monotonic()
        for packet in container.demux(stream):
            if packet.pts is None or packet.size == 0:
                continue
            first = packet.pts if first is None else first
            last = max(last, packet.pts)
            frames += 1
            size += packet.size
            if float((last - first) * base) >= seconds:
                break
            if time.monotonic() - started > seconds + OPEN_TIMEOUT_SECONDS:
                break
    span = float((last - (first or 0)) * base)
    fps = (frames - 1) / span if span > 0 and frames > 1 else None
    bitrate = size * 8 / span if span > 0 else None
    return StreamFigures(codec, fps, bitrate, width, height)


def probe_camera(camera: CameraConfig) -> CameraProbe:
    offset: float | None = None
    if camera.onvif is not None:
        how = "ONVIF and RTSP"
        try:
            url, offset = _onvif_stream_url(camera)
        except OnvifAuthError as exc:
            return CameraProbe(camera.id, how, f"ONVIF credentials refused: {exc}", None, None)
        except OnvifError as exc:
            return CameraProbe(camera.id, how, f"ONVIF: {exc}", None, None)
    else:
        how = "RTSP"
        assert camera.rtsp_url is not None
        url = camera.rtsp_url
    try:
        figures = sample_stream(url)
    except (av.error.FFmpegError, ValueError, OSError) as exc:
        text = redact_text(str(exc), url)
        if "401" in text or "Unauthorized" in text:
            text = f"RTSP credentials refused ({text})"
        return CameraProbe(camera.id, how, f"{redact_uri(url)}: {text}", offset, None)
    return CameraProbe(camera.id, how, None, offset, figures)


@dataclass(frozen=True)
class DiskFigures:
    free_bytes: int
    used_bytes: int


def disk_figures(data_dir: Path, segments_dir: Path) -> DiskFigures:
    """Free bytes where the footage goes and the bytes of segments already there (read by
    walking the folder, so a running agent's index is never opened)."""
    path = data_dir
    while not path.exists() and path != path.parent:
        path = path.parent
    used = 0
    for folder, _dirs, files in os.walk(segments_dir):
        for name in files:
            try:
                used += os.stat(os.path.join(folder, name)).st_size
            except OSError:
                continue
    return DiskFigures(shutil.disk_usage(path).free, used)
