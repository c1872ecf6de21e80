"""Redaction: faces found by OpenCV's Haar cascade (shipped in opencv-python-headless) and
tracked across frames, boxes that stay fixed for a time, and boxes that follow what they were
drawn around; each region is pixelated and blurred so that it cannot be recovered.

Faces are looked for on a grey copy scaled to ``detect_width`` every ``detect_every`` frames. A
face's track keeps its box until it has not been seen for ``hold_frames`` frames, so a frame on
which the detector misses a face (turned head, motion blur) is still covered. A following box is
tracked forward from the time it was drawn by template matching near its last place.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any, ClassVar, Final, cast

import cv2
import numpy as np

Box = tuple[int, int, int, int]  # x, y, width, height in source pixels
_CASCADE: Final = "haarcascade_frontalface_default.xml"
BLOCKS_ACROSS: Final = 4
_Array = np.ndarray[Any, Any]


class RedactionError(ValueError):
    """The redaction cannot be made as asked (a bad box, no face detector)."""


@dataclass(frozen=True)
class FixedBox:
    box: Box
    start: float = 0.0  # seconds from the clip's first frame
    end: float | None = None  # None: to the end


@dataclass(frozen=True)
class FollowingBox:
    box: Box
    at: float = 0.0  # seconds from the first frame: where the box was drawn


@dataclass(frozen=True)
class RedactionPlan:
    faces: bool = True
    fixed: tuple[FixedBox, ...] = ()
    following: tuple[FollowingBox, ...] = ()
    detect_width: int = 640
    detect_every: int = 3
    hold_frames: int = 12
    margin: float = 0.25

    def parameters(self) -> dict[str, Any]:
        return {
            "faces": self.faces,
            "face_detector": f"OpenCV {cv2.__version__} {_CASCADE}" if self.faces else None,
            "fixed_boxes": [[*b.box, b.start, b.end] for b in self.fixed],
            "following_boxes": [[*b.box, b.at] for b in self.following],
            "detect_width": self.detect_width,
            "detect_every": self.detect_every,
            "hold_frames": self.hold_frames,
            "margin": self.margin,
            "method": f"averaged to {BLOCKS_ACROSS} blocks across, smoothed back up (bilinear)",
        }


def parse_box(text: str) -> tuple[Box, float | None, float | None]:
    """``X,Y,W,H`` optionally ``@FROM-TO`` or ``@AT`` (seconds)."""
    try:
        coords, _, when = text.partition("@")
        x, y, w, h = (int(v) for v in coords.split(","))
        start, _, end = when.partition("-")
        first = float(start) if start else None
        last = float(end) if end else None
    except ValueError as exc:
        raise RedactionError(f"box {text!r} is not X,Y,W,H[@FROM-TO]") from exc
    if w <= 0 or h <= 0 or x < 0 or y < 0:
        raise RedactionError(f"box {text!r} must have a positive size inside the picture")
    return (x, y, w, h), first, last


def _average(plane: _Array, x0: int, y0: int, x1: int, y1: int, across: int, down: int) -> None:
    """Average ``plane[y0:y1, x0:x1]`` down to ``across`` x ``down`` blocks and smooth it back
    up (bilinear): no block edges, and nothing finer than the blocks survives. In place."""
    region = plane[y0:y1, x0:x1]
    small = cv2.resize(region, (across, down), interpolation=cv2.INTER_AREA)
    plane[y0:y1, x0:x1] = cv2.resize(small, (x1 - x0, y1 - y0), interpolation=cv2.INTER_LINEAR)


def obscure(picture: _Array, box: Box) -> None:
    """Average ``box`` of ``picture`` down to a few blocks, in place (clipped to the picture).

    ``picture`` is BGR (height x width x 3) or planar I420 (``yuv420p``: height * 3/2 x width,
    the luma then the two quarter-size chroma planes); in I420 each plane is averaged to the
    same blocks, so the result is the same picture either way."""
    planar = picture.ndim == 2
    height = picture.shape[0] * 2 // 3 if planar else picture.shape[0]
    width = picture.shape[1]
    x, y, w, h = box
    x0, y0, x1, y1 = max(0, x), max(0, y), min(width, x + w), min(height, y + h)
    if x1 - x0 < 2 or y1 - y0 < 2:
        return
    block = max(4, min(x1 - x0, y1 - y0) // BLOCKS_ACROSS)  # about 4 blocks across: no features
    across, down = max(1, round((x1 - x0) / block)), max(1, round((y1 - y0) / block))
    if not planar:
        _average(picture, x0, y0, x1, y1, across, down)
        return
    if not picture.flags.c_contiguous:  # the chroma planes below must be views, not copies
        raise RedactionError("an I420 picture must be one contiguous array")
    _average(picture[:height], x0, y0, x1, y1, across, down)
    cx0, cy0, cx1, cy1 = x0 // 2, y0 // 2, (x1 + 1) // 2, (y1 + 1) // 2
    quarter = height // 2 * width // 2
    chroma = picture[height:].reshape(-1)
    for n in range(2):
        plane = chroma[n * quarter : (n + 1) * quarter].reshape(height // 2, width // 2)
        _average(plane, cx0, cy0, cx1, cy1, across, down)


def luma_copy(picture: _Array, width: int) -> tuple[_Array, float]:
    """A grey copy of ``picture`` (BGR or I420) at most ``width`` wide, and its scale. Averaged
    down (INTER_AREA), not sampled: a sampled copy aliases fine texture into false edges that
    keep the face cascade busy (measured 3-4x slower at 1080p)."""
    planar = picture.ndim == 2
    height = picture.shape[0] * 2 // 3 if planar else picture.shape[0]
    full_width = picture.shape[1]
    scale = min(1.0, width / full_width)
    size = (int(full_width * scale), int(height * scale))
    if planar:
        luma = picture[:height]
        return (cv2.resize(luma, size, interpolation=cv2.INTER_AREA) if scale < 1 else luma), scale
    small = cv2.resize(picture, size, interpolation=cv2.INTER_AREA) if scale < 1 else picture
    return cv2.cvtColor(small, cv2.COLOR_BGR2GRAY), scale


def _iou(a: Box, b: Box) -> float:
    ax1, ay1, bx1, by1 = a[0] + a[2], a[1] + a[3], b[0] + b[2], b[1] + b[3]
    iw = max(0, min(ax1, bx1) - max(a[0], b[0]))
    ih = max(0, min(ay1, by1) - max(a[1], b[1]))
    inter = iw * ih
    union = a[2] * a[3] + b[2] * b[3] - inter
    return inter / union if union else 0.0


@dataclass
class _Track:
    box: Box
    last_seen: int


@dataclass
class _Follow:
    box: Box
    at: float
    template: _Array | None = None


@dataclass(frozen=True)
class Sighting:
    """What ``Redactor.look`` found on one frame: its grey copy (and scale) for following boxes,
    and the faces on it (source pixels) if it is a detection frame, else None."""

    grey: _Array
    scale: float
    faces: tuple[Box, ...] | None


@dataclass
class Redactor:
    """Called on each frame in order (a ``FrameChange``); counts what it covered. Works on
    I420 frames as decoded (no colour conversion either way); BGR pictures are taken too.

    In two parts, so that a pass can look for faces a few frames ahead on other threads
    (``frame_pipeline.LooksAhead``): ``look`` (the grey copy and face detection: depends on
    nothing but the frame; each thread has its own cascade) and ``apply`` (tracks, following
    boxes, obscuring: in frame order). ``redactor(picture, index, seconds)`` does both."""

    pixel_format: ClassVar[str] = "yuv420p"
    plan: RedactionPlan
    tracks: list[_Track] = field(default_factory=list)
    follows: list[_Follow] = field(default_factory=list)
    face_frames: int = 0  # frames on which at least one face region was blurred
    faces_detected: int = 0
    _cascades: threading.local = field(default_factory=threading.local)

    def __post_init__(self) -> None:
        if self.plan.faces:
            self._cascade()  # fails now, not on the first frame, if it cannot be loaded
        self.follows = [_Follow(f.box, f.at) for f in self.plan.following]

    def _cascade(self) -> Any:
        detector = getattr(self._cascades, "detector", None)
        if detector is None:
            detector = cv2.CascadeClassifier(
                cv2.data.haarcascades + _CASCADE  # type: ignore[attr-defined]
            )
            if detector.empty():
                raise RedactionError(f"OpenCV's {_CASCADE} cannot be loaded")
            self._cascades.detector = detector
        return detector

    def __call__(self, picture: _Array, index: int, seconds: float) -> _Array:
        return self.apply(picture, index, seconds, self.look(picture, index, seconds))

    def look(self, picture: _Array, index: int, seconds: float) -> Sighting:
        grey, scale = luma_copy(picture, self.plan.detect_width)
        faces = None
        if self.plan.faces and index % self.plan.detect_every == 0:
            found = self._cascade().detectMultiScale(
                grey, scaleFactor=1.15, minNeighbors=4, minSize=(20, 20)
            )
            # Sorted: OpenCV's own threads return them in any order, and the order decides
            # which track a face joins and which of two overlapping boxes is obscured first.
            faces = tuple(
                sorted(
                    (int(fx / scale), int(fy / scale), int(fw / scale), int(fh / scale))
                    for fx, fy, fw, fh in found
                )
            )
        return Sighting(grey, scale, faces)

    def apply(self, picture: _Array, index: int, seconds: float, looked: object) -> _Array:
        sighting = cast(Sighting, looked)
        boxes: list[Box] = []
        if self.plan.faces:
            if sighting.faces is not None:
                self._track(sighting.faces, index)
            self.tracks = [t for t in self.tracks if index - t.last_seen <= self.plan.hold_frames]
            boxes += [self._grow(t.box) for t in self.tracks]
            if self.tracks:
                self.face_frames += 1
        for fixed in self.plan.fixed:
            if seconds >= fixed.start and (fixed.end is None or seconds <= fixed.end):
                boxes.append(fixed.box)
        for follow in self.follows:
            if seconds >= follow.at:
                boxes.append(self._follow(follow, sighting.grey, sighting.scale))
        for box in boxes:
            obscure(picture, box)
        return picture

    def _grow(self, box: Box) -> Box:
        x, y, w, h = box
        dx, dy = int(w * self.plan.margin), int(h * self.plan.margin)
        return (x - dx, y - dy, w + 2 * dx, h + 2 * dy)

    def _track(self, faces: tuple[Box, ...], index: int) -> None:
        for box in faces:
            self.faces_detected += 1
            match = max(self.tracks, key=lambda t: _iou(t.box, box), default=None)
            if match is not None and _iou(match.box, box) > 0.1:
                match.box, match.last_seen = box, index
            else:
                self.tracks.append(_Track(box, index))

    def _follow(self, follow: _Follow, grey: _Array, scale: float) -> Box:
        x, y, w, h = (int(v * scale) for v in follow.box)
        if w < 4 or h < 4:
            return follow.box
        if follow.template is None:
            follow.template = grey[y : y + h, x : x + w].copy()
            return follow.box
        gh, gw = grey.shape[:2]
        sx0, sy0 = max(0, x - w), max(0, y - h)
        sx1, sy1 = min(gw, x + 2 * w), min(gh, y + 2 * h)
        window = grey[sy0:sy1, sx0:sx1]
        if window.shape[0] < h or window.shape[1] < w:
            return follow.box
        scores = cv2.matchTemplate(window, follow.template, cv2.TM_CCOEFF_NORMED)
        _, best, _, (bx, by) = cv2.minMaxLoc(scores)
        if best >= 0.4:  # else: lost, the box stays where it was last seen
            nx, ny = sx0 + bx, sy0 + by
            follow.box = (int(nx / scale), int(ny / scale), follow.box[2], follow.box[3])
            follow.template = grey[ny : ny + h, nx : nx + w].copy()
        return follow.box
