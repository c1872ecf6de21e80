"""The frames of a derived item's pass, decoded and changed in worker threads and handed to the
encoder in order.

Three things overlap, on as many cores as there are: decoding and the change's in-order work
(one thread), a change's per-frame analysis that needs nothing but the frame (redaction's face
detection: ``LooksAhead.look``, in a small pool, a few frames ahead), and libx264 encoding (the
caller's thread, and libx264's own). PyAV and OpenCV release the GIL while they work. The
change's in-order part still sees every frame in order from one thread, with what ``look``
found on that very frame, so the result is the same as one loop's, frame for frame.
Stopped by a ``threading.Event``; an error in the workers is raised in the caller's thread.
"""

from __future__ import annotations

import contextlib
import queue
import threading
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from fractions import Fraction
from typing import Any, Final, Protocol, cast, runtime_checkable

import av
import numpy as np
from av.container import InputContainer
from av.video.stream import VideoStream

_Array = np.ndarray[Any, Any]
# (picture as BGR array, frame index, seconds since the first frame) -> new picture. A change
# with ``pixel_format = "yuv420p"`` is given (and gives back) planar I420 arrays instead.
FrameChange = Callable[[_Array, int, float], _Array]
_QUEUE_FRAMES: Final = 6  # changed frames waiting for the encoder (~19 MB of I420 at 1080p)
LOOK_AHEAD: Final = 6  # frames whose analysis may run ahead of the change's in-order work
LOOK_WORKERS: Final = 2
_END: Final = object()


@runtime_checkable
class LooksAhead(Protocol):
    """A change in two parts: ``look`` depends on nothing but its frame (so it may run ahead,
    several at once); ``apply`` runs on every frame in order with what ``look`` found."""

    def look(self, picture: _Array, index: int, seconds: float) -> object: ...

    def apply(self, picture: _Array, index: int, seconds: float, looked: object) -> _Array: ...


def picture_format(change: FrameChange, frame: av.VideoFrame) -> str:
    """The pixel format ``change`` works in on ``frame``: its own ``pixel_format`` (the
    redactor's is I420, as decoded: no colour conversion either way) when the frame's size
    allows it (even), else BGR."""
    wanted = str(getattr(change, "pixel_format", "bgr24"))
    if wanted == "yuv420p" and (frame.width % 2 or frame.height % 2):
        return "bgr24"
    return wanted


@dataclass
class _Decoded:
    pts: int
    index: int
    seconds: float
    layout: str
    picture: _Array
    looked: Future[object] | None


class Pictures:
    """Iterate over the changed frames, in order, ready for the encoder (``pts`` from 0)."""

    def __init__(self, inp: InputContainer, vin: VideoStream, change: FrameChange | None) -> None:
        self._inp, self._vin, self._change = inp, vin, change
        self._time_base = vin.time_base or Fraction(1, 90000)
        self._queue: queue.Queue[object] = queue.Queue(maxsize=_QUEUE_FRAMES)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="derive-decode", daemon=True)
        self._pool: ThreadPoolExecutor | None = None
        if isinstance(change, LooksAhead):
            self._pool = ThreadPoolExecutor(LOOK_WORKERS, thread_name_prefix="derive-look")
        self.error: BaseException | None = None

    def __enter__(self) -> Pictures:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        while self._thread.is_alive():  # unblock a producer waiting on a full queue
            with contextlib.suppress(queue.Empty):
                self._queue.get(timeout=0.05)
        self._thread.join()
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)

    def _put(self, item: object) -> bool:
        while not self._stop.is_set():
            try:
                self._queue.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def _changed(self, item: _Decoded) -> av.VideoFrame:
        change = self._change
        assert change is not None
        if item.looked is not None:
            looked = item.looked.result()
            picture = cast(LooksAhead, change).apply(item.picture, item.index, item.seconds, looked)
        else:
            picture = change(item.picture, item.index, item.seconds)
        return av.VideoFrame.from_ndarray(picture, format=item.layout)

    def _send(self, new: av.VideoFrame, pts: int) -> bool:
        new.pts = pts
        new.time_base = self._time_base
        return self._put(new)

    def _run(self) -> None:
        frames, first_pts = 0, None
        pending: deque[_Decoded] = deque()
        try:
            for frame in self._inp.decode(self._vin):
                pts = frame.pts if frame.pts is not None else frames
                first_pts = pts if first_pts is None else first_pts
                seconds = float((pts - first_pts) * self._time_base)
                index, frames = frames, frames + 1
                if self._change is None:
                    if not self._send(frame.reformat(format="yuv420p"), pts - first_pts):
                        return
                    continue
                layout = picture_format(self._change, frame)
                picture = frame.to_ndarray(format=layout)
                looked = None
                if self._pool is not None:
                    look = cast(LooksAhead, self._change).look
                    looked = self._pool.submit(look, picture, index, seconds)
                pending.append(_Decoded(pts - first_pts, index, seconds, layout, picture, looked))
                while len(pending) > (LOOK_AHEAD if self._pool is not None else 0):
                    item = pending.popleft()
                    if not self._send(self._changed(item), item.pts):
                        return
            while pending:
                item = pending.popleft()
                if not self._send(self._changed(item), item.pts):
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
