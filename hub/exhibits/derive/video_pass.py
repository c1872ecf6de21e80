"""One pass over a clip with PyAV: decode every frame, optionally change its picture, encode
H.264 (libx264, yuv420p, +faststart) into a new MP4 with the source's frame times. Decoding and
changing run in worker threads (``frame_pipeline``) while this thread encodes.

The source is only read. The output is written to a temporary file beside the destination and
renamed when complete; a failure removes it. Audio is not carried over (CCTV clips have none).
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import BinaryIO, Final

import av
from av.container import InputContainer
from av.video.stream import VideoStream

from hub.exhibits.derive.derived_manifest import VideoFacts
from hub.exhibits.derive.frame_pipeline import FrameChange, Pictures

FrameCount = Callable[[int], None]  # told the frames done so far, for progress
DEFAULT_CRF: Final = 18  # visually lossless for a court copy
DEFAULT_PRESET: Final = "veryfast"


class DeriveError(Exception):
    """The source cannot be read as video, or the copy cannot be written."""


@dataclass(frozen=True)
class EncodeSettings:
    crf: int = DEFAULT_CRF
    preset: str = DEFAULT_PRESET
    threads: int = 0  # 0: as many as libx264 likes


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while block := handle.read(4 * 1024 * 1024):
            digest.update(block)
    return digest.hexdigest()


def video_pass(
    source: BinaryIO | Path,
    destination: Path,
    change: FrameChange | None = None,
    settings: EncodeSettings = EncodeSettings(),
    on_frame: FrameCount | None = None,
) -> VideoFacts:
    """Write the new clip to ``destination``; its facts (size, SHA-256, frames)."""
    temporary = destination.with_name(f".{destination.name}.{os.getpid()}.part")
    try:
        facts = _encode(source, temporary, change, settings, on_frame)
        os.replace(temporary, destination)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    return VideoFacts(
        codec="h264",
        width=facts[0],
        height=facts[1],
        fps=facts[2],
        frames=facts[3],
        bytes=destination.stat().st_size,
        sha256=_sha256(destination),
    )


@contextmanager
def opened_video(source: BinaryIO | Path) -> Iterator[tuple[InputContainer, VideoStream]]:
    """The source container and its first video stream (decoded on FFmpeg's threads); a source
    that is not video is a ``DeriveError`` saying so."""
    try:
        container = av.open(str(source) if isinstance(source, Path) else source, mode="r")
    except (av.FFmpegError, OSError) as exc:
        raise DeriveError(f"the source cannot be read as video: {exc}") from exc
    with container:
        if not container.streams.video:
            raise DeriveError("the source has no video stream")
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        yield container, stream


def _encode(
    source: BinaryIO | Path,
    out_path: Path,
    change: FrameChange | None,
    settings: EncodeSettings,
    on_frame: FrameCount | None = None,
) -> tuple[int, int, float | None, int]:
    with opened_video(source) as (inp, vin):
        rate = vin.average_rate or Fraction(25)
        time_base = vin.time_base or Fraction(1, 90000)
        with av.open(
            str(out_path), mode="w", format="mp4", options={"movflags": "+faststart"}
        ) as out:
            vout = out.add_stream("libx264", rate=rate)
            vout.width = vin.codec_context.width
            vout.height = vin.codec_context.height
            vout.pix_fmt = "yuv420p"
            vout.time_base = time_base
            vout.codec_context.time_base = time_base
            vout.options = {"crf": str(settings.crf), "preset": settings.preset}
            if settings.threads:
                vout.codec_context.thread_count = settings.threads
            frames = 0
            try:
                with Pictures(inp, vin, change) as pictures:
                    for new in pictures:
                        for packet in vout.encode(new):
                            out.mux(packet)
                        frames += 1
                        if on_frame is not None and frames % 25 == 0:
                            on_frame(frames)
                for packet in vout.encode(None):
                    out.mux(packet)
            except av.FFmpegError as exc:
                raise DeriveError(f"the source cannot be decoded: {exc}") from exc
            if frames == 0:
                raise DeriveError("the source holds no video frames")
    return vout.width, vout.height, float(rate) if rate else None, frames
