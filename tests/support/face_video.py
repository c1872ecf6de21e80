"""Test video with faces OpenCV's Haar cascade finds: drawn faces (skin oval, brows, eyes with
pupils, nose, mouth) moving slowly over a textured background, encoded by PyAV (H.264 or H.265).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, cast

import av
import cv2
import numpy as np
from av.video.stream import VideoStream

Box = tuple[int, int, int, int]


def draw_face(picture: np.ndarray[Any, Any], cx: int, cy: int, size: int) -> Box:
    """A face centred at (cx, cy), ``size`` pixels tall-ish; its box."""
    s = size
    cv2.ellipse(picture, (cx, cy), (int(s * 0.42), int(s * 0.55)), 0, 0, 360, (150, 180, 215), -1)
    for side in (-1, 1):
        ex, ey = cx + side * int(s * 0.17), cy - int(s * 0.1)
        cv2.ellipse(
            picture,
            (ex, ey - int(s * 0.09)),
            (int(s * 0.1), int(s * 0.025)),
            0,
            0,
            360,
            (40, 40, 60),
            -1,
        )
        cv2.ellipse(
            picture, (ex, ey), (int(s * 0.08), int(s * 0.045)), 0, 0, 360, (255, 255, 255), -1
        )
        cv2.circle(picture, (ex, ey), int(s * 0.035), (30, 20, 20), -1)
    cv2.line(
        picture,
        (cx, cy - int(s * 0.05)),
        (cx - int(s * 0.03), cy + int(s * 0.12)),
        (110, 130, 170),
        max(1, s // 40),
    )
    cv2.ellipse(
        picture,
        (cx, cy + int(s * 0.25)),
        (int(s * 0.14), int(s * 0.04)),
        0,
        0,
        360,
        (60, 60, 150),
        -1,
    )
    return (cx - int(s * 0.42), cy - int(s * 0.55), int(s * 0.84), int(s * 1.1))


def background(width: int, height: int) -> np.ndarray[Any, Any]:
    """A fixed textured background (a grid and noise), so blur is measurable everywhere."""
    rng = np.random.default_rng(7)
    picture = rng.integers(70, 130, (height, width, 3), dtype=np.uint8)
    for x in range(0, width, 40):
        cv2.line(picture, (x, 0), (x, height), (30, 60, 30), 2)
    return picture


def face_frames(
    width: int, height: int, frames: int
) -> list[tuple[np.ndarray[Any, Any], list[Box]]]:
    """Frames with two faces moving right by 2 px a frame, with their boxes."""
    base = background(width, height)
    size = height // 4
    out = []
    for n in range(frames):
        picture = base.copy()
        boxes = [
            draw_face(picture, width // 4 + 2 * n, height // 2, size),
            draw_face(picture, 3 * width // 4 - 2 * n, height // 2 - size // 3, size),
        ]
        out.append((picture, boxes))
    return out


def write_video(
    path: Path, pictures: list[np.ndarray[Any, Any]], codec: str = "libx264", fps: int = 25
) -> bytes:
    height, width = pictures[0].shape[:2]
    with av.open(str(path), "w", format="mp4") as out:
        stream = cast(VideoStream, out.add_stream(codec, rate=fps))
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        stream.options = {"crf": "20", "preset": "ultrafast"}
        if codec == "libx265":
            stream.options = {**stream.options, "x265-params": "log-level=error"}
        for picture in pictures:
            for packet in stream.encode(av.VideoFrame.from_ndarray(picture, format="bgr24")):
                out.mux(packet)
        for packet in stream.encode(None):
            out.mux(packet)
    return path.read_bytes()


def read_frames(path: Path) -> list[np.ndarray[Any, Any]]:
    with av.open(str(path)) as inp:
        return [f.to_ndarray(format="bgr24") for f in inp.decode(video=0)]


def video_codec(path: Path) -> str:
    with av.open(str(path)) as inp:
        return str(inp.streams.video[0].codec_context.name)


def sharpness(picture: np.ndarray[Any, Any], box: Box) -> float:
    """Variance of the Laplacian inside ``box``: high for detail, near zero once blurred."""
    x, y, w, h = box
    region = cv2.cvtColor(picture[max(0, y) : y + h, max(0, x) : x + w], cv2.COLOR_BGR2GRAY)
    return float(cv2.Laplacian(region, cv2.CV_64F).var())


def faces_found(picture: np.ndarray[Any, Any]) -> int:
    detector = cv2.CascadeClassifier(cv2.data.haarcascades + "haarcascade_frontalface_default.xml")  # type: ignore[attr-defined]
    grey = cv2.cvtColor(picture, cv2.COLOR_BGR2GRAY)
    return len(detector.detectMultiScale(grey, 1.1, 4, minSize=(20, 20)))
