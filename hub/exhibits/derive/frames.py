"""One frame of a stored clip, or a short run of frames up to it, decoded with PyAV.

Seeks to the keyframe at or before the time asked and decodes forward, so a frame 20 minutes
into a clip costs one GOP of decoding, not 20 minutes. Times are seconds from the clip's first
frame, as in every derived item's operation parameters (``video_pass`` counts them the same
way). The source is only read. Blocking: callers on an event loop run these in a worker thread.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any, BinaryIO, Final

import av
import cv2
import numpy as np
from av.container import InputContainer
from av.video.frame import VideoFrame
from av.video.stream import VideoStream

from hub.exhibits.derive.video_pass import DeriveError, opened_video

JPEG_QUALITY: Final = 88
_EPSILON: Final = 1e-6  # seconds: frame times are exact fractions turned into floats


@dataclass(frozen=True)
class DecodedFrame:
    frame: VideoFrame
    index: int  # frames since the first frame (from its time and the stream's frame rate)
    seconds: float  # since the first frame


@dataclass(frozen=True)
class ClipTiming:
    first_pts: int
    time_base: Fraction
    rate: Fraction
    width: int
    height: int
    duration: float | None  # seconds, when the container says


def _timing(container: InputContainer, stream: VideoStream) -> ClipTiming:
    time_base = stream.time_base or Fraction(1, 90000)
    rate = stream.average_rate or Fraction(25)
    first = next(container.decode(stream), None)
    if first is None:
        raise DeriveError("the source holds no video frames")
    first_pts = first.pts if first.pts is not None else 0
    duration = float(stream.duration * time_base) if stream.duration else None
    return ClipTiming(first_pts, time_base, rate, first.width, first.height, duration)


def frames_until(source: BinaryIO | Path, start: float, until: float) -> Iterator[DecodedFrame]:
    """The frame shown at ``start`` seconds (the last one starting at or before it) and every
    frame after it up to the one shown at ``until``. Decoding starts at the keyframe at or
    before ``start``; the frames before the one shown at ``start`` are decoded, not yielded."""
    if not (start >= 0 and until >= start):
        raise DeriveError(f"times must be 0 <= start <= until seconds, not {start}, {until}")
    with opened_video(source) as (container, stream):
        timing = _timing(container, stream)
        if timing.duration is not None and start > timing.duration:
            raise DeriveError(
                f"{start:g} s is after the end of the clip ({timing.duration:.2f} s long)"
            )
        target = timing.first_pts + int(start / timing.time_base)
        held: DecodedFrame | None = None  # the frame shown at ``start``, so far
        sent = False
        try:
            container.seek(target, stream=stream, backward=True, any_frame=False)
            for frame in container.decode(stream):
                pts = frame.pts if frame.pts is not None else timing.first_pts
                seconds = float((pts - timing.first_pts) * timing.time_base)
                decoded = DecodedFrame(frame, round(seconds * timing.rate), seconds)
                if seconds > until + _EPSILON:
                    if held is None and not sent:  # the seek went past: show what is there
                        yield decoded
                    break
                if seconds <= start + _EPSILON:
                    held = decoded
                    continue
                if held is not None:
                    yield held
                    held = None
                yield decoded
                sent = True
        except av.FFmpegError as exc:
            raise DeriveError(f"the source cannot be decoded: {exc}") from exc
        if held is not None:
            yield held


def frame_at(source: BinaryIO | Path, seconds: float) -> DecodedFrame:
    """The frame a player shows at ``seconds`` from the first frame."""
    last: DecodedFrame | None = None
    for decoded in frames_until(source, seconds, seconds):
        last = decoded
    if last is None:
        raise DeriveError(f"no frame at {seconds:g} s")
    return last


def clip_timing(source: BinaryIO | Path) -> ClipTiming:
    with opened_video(source) as (container, stream):
        return _timing(container, stream)


def jpeg(picture: np.ndarray[Any, Any], quality: int = JPEG_QUALITY) -> bytes:
    """A BGR picture as JPEG bytes."""
    ok, encoded = cv2.imencode(".jpg", picture, [cv2.IMWRITE_JPEG_QUALITY, quality])
    if not ok:
        raise DeriveError("the frame cannot be encoded as JPEG")
    return bytes(encoded.tobytes())
