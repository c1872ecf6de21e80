"""Burn the date and time into each frame, for a camera whose picture carries none.

The time of a frame is the start of the delivered window (agent clock, UTC, as the signed
manifest says) plus the frame's time since the first frame. The camera's clock offset, when the
camera reported one, is printed beside it so that a reader can relate the two clocks.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import cv2
import numpy as np

_Array = np.ndarray[Any, Any]


@dataclass(frozen=True)
class TimestampBurn:
    start: datetime  # the delivered window's start (UTC)
    camera: str
    clock_offset_seconds: float | None

    def parameters(self) -> dict[str, Any]:
        return {
            "clock": "agent UTC: delivered.start + frame time since the first frame",
            "position": "top left",
            "camera_label": self.camera,
        }

    def text(self, seconds: float) -> str:
        when = self.start + timedelta(seconds=seconds)
        stamp = when.strftime("%Y-%m-%d %H:%M:%S.") + f"{when.microsecond // 1000:03d} UTC"
        offset = (
            ""
            if self.clock_offset_seconds is None
            else f"  cam clock {self.clock_offset_seconds:+.2f}s"
        )
        return f"{stamp}  {self.camera}{offset}"

    def __call__(self, picture: _Array, index: int, seconds: float) -> _Array:
        height = picture.shape[0]
        scale = max(0.4, height / 1080 * 1.1)
        thickness = max(1, int(scale * 2))
        text = self.text(seconds)
        (tw, th), base = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, scale, thickness)
        pad = int(8 * scale)
        cv2.rectangle(picture, (0, 0), (tw + 2 * pad, th + base + 2 * pad), (0, 0, 0), -1)
        cv2.putText(
            picture,
            text,
            (pad, th + pad),
            cv2.FONT_HERSHEY_SIMPLEX,
            scale,
            (255, 255, 255),
            thickness,
            cv2.LINE_AA,
        )
        return picture
