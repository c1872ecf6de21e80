"""One pass over a clip with PyAV: decode every frame, optionally change its picture, encode
H.264 (libx264, yuv420p, +faststart) into a new MP4 with the source's frame times.

The source is only read. The output is written to a temporary file beside the destination and
renamed when complete; a failure removes it. Audio is not carried over (CCTV clips have none).
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import queue
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any, BinaryIO, Final, cast

import av
import numpy as np
from av.container import InputContainer
from av.video.stream import VideoStream

from hub.exhibits.derive.derived_manifest import VideoFacts

# (picture as BGR array, frame index, seconds since the first frame) -> new picture. A change
# with ``pixel_format = "yuv420p"`` is given (and gives back) planar I420 arrays instead.
FrameChange = Callable[[np.ndarray[Any, Any], int, float], np.ndarray[Any, Any]]
FrameCount = Callable[[int], None]  # told the frames done so far, for progress
DEFAULT_CRF: Final = 18  # visually lossless for a court copy
DEFAULT_PRESET: Final = "veryfast"


def picture_format(change: FrameChange, frame: av.VideoFrame) -> str:
    """The pixel format ``change`` works in on ``frame``: its own ``pixel_format`` (the
    redactor's is I420, as decoded: no colour conversion either way) when the frame's size
    allows it (even), else BGR."""
    wanted = str(getattr(change, "pixel_format", "bgr24"))
    if wanted == "yuv420p" and (frame.width % 2 or frame.height % 2):
        return "bgr24"
    return wanted


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


_QUEUE_FRAMES: Final = 6  # decoded and changed frames waiting for the encoder (~37 MB at 1080p)
_END: Final = object()


class _Pictures:
    """Decodes and changes frames in a worker thread, handing them to the encoder in order.

    The change (redaction's face detection, the burnt-in time) of frame n+1 runs while libx264
    encodes frame n: PyAV and OpenCV release the GIL while they work, so on two cores the two
    stages overlap. The change is still called on every frame in order, from one thread, so
    what it does is the same as in one loop. Stopped by ``stop`` (a ``threading.Event``).
    """

    def __init__(
        self,
        inp: InputContainer,
        vin: VideoStream,
        change: FrameChange | None,
    ) -> None:
        self._inp, self._vin, self._change = inp, vin, change
        self._queue: queue.Queue[object] = queue.Queue(maxsize=_QUEUE_FRAMES)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="derive-decode", daemon=True)
        self.error: BaseException | None = None

    def __enter__(self) -> _Pictures:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        while self._thread.is_alive():  # unblock a producer waiting on a full queue
            with contextlib.suppress(queue.Empty):
                self._queue.get(timeout=0.05)
        self._thread.join()

    def _put(self, item: object) -> bool:
        while not self._stop.is_set():
            try:
                self._queue.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def _run(self) -> None:
        time_base = self._vin.time_base or Fraction(1, 90000)
        frames, first_pts = 0, None
        try:
            for frame in self._inp.decode(self._vin):
                pts = frame.pts if frame.pts is not None else frames
                first_pts = pts if first_pts is None else first_pts
                seconds = float((pts - first_pts) * time_base)
                if self._change is not None:
                    layout = picture_format(self._change, frame)
                    picture = self._change(frame.to_ndarray(format=layout), frames, seconds)
                    new = av.VideoFrame.from_ndarray(picture, format=layout)
                else:
                    new = frame.reformat(format="yuv420p")
                new.pts = pts - first_pts
                new.time_base = time_base
                frames += 1
                if not self._put(new):
                    return
        except BaseException as exc:  # handed to the encoding thread, which raises it
            self.error = exc
        self._put(_END)

    def __iter__(self) -> Iterator[av.VideoFrame]:
        while True:
            item = self._queue.get()
            if item is _END:
                if self.error is not None:
                    raise self.error
                return
            yield cast(av.VideoFrame, item)


def _encode(
    source: BinaryIO | Path,
    out_path: Path,
    change: FrameChange | None,
    settings: EncodeSettings,
    on_frame: FrameCount | None = None,
) -> tuple[int, int, float | None, int]:
    try:
        inp = av.open(str(source) if isinstance(source, Path) else source, mode="r")
    except (av.FFmpegError, OSError) as exc:
        raise DeriveError(f"the source cannot be read as video: {exc}") from exc
    with inp:
        if not inp.streams.video:
            raise DeriveError("the source has no video stream")
        vin = inp.streams.video[0]
        vin.thread_type = "AUTO"
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
                with _Pictures(inp, vin, change) as pictures:
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
