"""A camera's snapshot as a JPEG, whatever image format the camera sent.

ONVIF says a snapshot URI gives a JPEG, but third-party devices send PNG (and some BMP, GIF or
WebP). ``as_jpeg`` passes a JPEG through untouched and converts the others with OpenCV. It
decodes only images whose header states a size of at most ``MAX_PIXELS``, read from the header
before anything is decoded, so that a small compressed file cannot make the site box allocate
gigabytes (a "decompression bomb"); a format whose size it cannot read that way (TIFF, for one)
is refused as ``NotConvertible`` and the caller falls back to a keyframe of the stream.

A converted snapshot is a preview for choosing cameras, like every snapshot: never evidence.
"""

from __future__ import annotations

import struct
from typing import Final

import cv2
import numpy as np

JPEG_MAGIC: Final = b"\xff\xd8"
PNG_MAGIC: Final = b"\x89PNG\r\n\x1a\n"
# 8K is 33 Mpx; nothing a camera sends as a snapshot is larger.
MAX_PIXELS: Final = 50_000_000
JPEG_QUALITY: Final = 85


class NotConvertible(Exception):
    """The bytes are not an image this module can turn into a JPEG; the message says why."""


def image_size(data: bytes) -> tuple[str, int, int] | None:
    """(format, width, height) from the header of a PNG, GIF, BMP or WebP; None otherwise."""
    try:
        if data.startswith(PNG_MAGIC) and data[12:16] == b"IHDR":
            width, height = struct.unpack(">II", data[16:24])
            return "PNG", width, height
        if data[:6] in (b"GIF87a", b"GIF89a"):
            width, height = struct.unpack("<HH", data[6:10])
            return "GIF", width, height
        if data.startswith(b"BM"):
            width, height = struct.unpack("<ii", data[18:26])
            return "BMP", width, abs(height)
        if data.startswith(b"RIFF") and data[8:12] == b"WEBP":
            return _webp_size(data)
    except struct.error:
        return None  # a header cut short
    return None


def _webp_size(data: bytes) -> tuple[str, int, int] | None:
    chunk = data[12:16]
    if chunk == b"VP8 " and len(data) >= 30:
        width, height = struct.unpack("<HH", data[26:30])
        return "WebP", width & 0x3FFF, height & 0x3FFF
    if chunk == b"VP8L" and len(data) >= 25:
        bits = int.from_bytes(data[21:25], "little")
        return "WebP", (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1
    if chunk == b"VP8X" and len(data) >= 30:
        width = int.from_bytes(data[24:27], "little") + 1
        height = int.from_bytes(data[27:30], "little") + 1
        return "WebP", width, height
    return None


def as_jpeg(data: bytes, quality: int = JPEG_QUALITY) -> tuple[bytes, str]:
    """The image as JPEG bytes and the format it came in ("JPEG" when passed through).

    Blocking (decoding takes milliseconds to a second): call it in a thread.
    """
    if data.startswith(JPEG_MAGIC):
        return data, "JPEG"
    size = image_size(data)
    if size is None:
        start = data[:8].hex(" ") if data else "nothing"
        raise NotConvertible(f"it is no PNG, GIF, BMP or WebP image either (it starts {start})")
    kind, width, height = size
    if width <= 0 or height <= 0 or width * height > MAX_PIXELS:
        raise NotConvertible(
            f"it is a {kind} image of {width}x{height} pixels; at most {MAX_PIXELS} are converted"
        )
    image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    if image is None:
        raise NotConvertible(f"it is a {kind} image that could not be decoded")
    ok, encoded = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, quality])
    if not ok:
        raise NotConvertible(f"it is a {kind} image that could not be encoded as JPEG")
    return bytes(encoded.tobytes()), kind
