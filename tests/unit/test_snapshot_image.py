"""A camera's snapshot in any common image format becomes a JPEG; nothing else is decoded."""

from __future__ import annotations

import struct
import zlib

import cv2
import numpy as np
import pytest

from cctv_onvif.snapshot_image import MAX_PIXELS, NotConvertible, as_jpeg, image_size


def picture(width: int = 64, height: int = 36) -> np.ndarray:
    ramp = np.tile(np.linspace(0, 255, width, dtype=np.uint8), (height, 1))
    return np.dstack([ramp, ramp[::-1], np.full_like(ramp, 128)])


def encoded(extension: str, image: np.ndarray | None = None) -> bytes:
    ok, data = cv2.imencode(extension, picture() if image is None else image)
    assert ok
    return bytes(data.tobytes())


def decoded(jpeg: bytes) -> np.ndarray:
    image = cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR)
    assert image is not None
    return image


def test_a_jpeg_passes_through_untouched() -> None:
    jpeg = encoded(".jpg")
    assert as_jpeg(jpeg) == (jpeg, "JPEG")


@pytest.mark.parametrize(
    ("extension", "kind"), [(".png", "PNG"), (".gif", "GIF"), (".bmp", "BMP"), (".webp", "WebP")]
)
def test_other_formats_are_converted(extension: str, kind: str) -> None:
    data = encoded(extension)
    assert image_size(data) == (kind, 64, 36)
    jpeg, found = as_jpeg(data)
    assert found == kind
    assert jpeg.startswith(b"\xff\xd8")
    image = decoded(jpeg)
    assert image.shape == (36, 64, 3)
    # The same picture (JPEG is lossy; GIF has a palette).
    assert float(np.abs(image.astype(int) - picture().astype(int)).mean()) < 12


def test_lossy_webp_size_is_read_from_its_header() -> None:
    ok, data = cv2.imencode(".webp", picture(100, 50), [cv2.IMWRITE_WEBP_QUALITY, 80])
    assert ok
    assert image_size(bytes(data.tobytes())) == ("WebP", 100, 50)


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"<html><body>Please log in</body></html>", "no PNG, GIF, BMP or WebP image"),
        (b"", "starts nothing"),
        (b"II*\x00" + b"\x00" * 100, "no PNG, GIF"),  # TIFF: its size is not in a fixed place
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHD", "no PNG, GIF"),  # a header cut short
    ],
)
def test_what_is_not_converted(data: bytes, reason: str) -> None:
    with pytest.raises(NotConvertible, match=reason):
        as_jpeg(data)


def _png_header(width: int, height: int) -> bytes:
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    chunk = b"IHDR" + ihdr
    return (
        b"\x89PNG\r\n\x1a\n"
        + struct.pack(">I", len(ihdr))
        + chunk
        + struct.pack(">I", zlib.crc32(chunk))
    )


def test_a_decompression_bomb_is_refused_before_decoding() -> None:
    # A few hundred bytes that claim 100,000 x 100,000 pixels (30 GB decoded).
    bomb = _png_header(100_000, 100_000) + b"\x00" * 200
    with pytest.raises(NotConvertible, match=f"at most {MAX_PIXELS}"):
        as_jpeg(bomb)
    with pytest.raises(NotConvertible, match="0x10 pixels"):
        as_jpeg(_png_header(0, 10))


def test_a_broken_image_with_a_good_header_is_refused() -> None:
    with pytest.raises(NotConvertible, match="could not be decoded"):
        as_jpeg(_png_header(64, 36) + b"garbage" * 10)
