"""Box maths of redaction on both picture layouts the redactor is given: BGR and planar I420
(as decoded, luma then quarter-size chroma). A box is clipped to the picture, obscured in every
plane (a chroma plane left sharp would still show a face's outline in colour), and nothing
outside it changes."""

from __future__ import annotations

from typing import Any

import cv2
import numpy as np
import pytest

from hub.exhibits.derive.redaction import RedactionError, luma_copy, obscure

Array = np.ndarray[Any, Any]
H, W = 120, 160


def textured() -> Array:
    rng = np.random.default_rng(3)
    return rng.integers(0, 256, (H, W, 3), dtype=np.uint8)


def i420(bgr: Array) -> Array:
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2YUV_I420)


def planes(picture: Array) -> tuple[Array, Array, Array]:
    quarter = (H // 2) * (W // 2)
    chroma = picture[H:].reshape(-1)
    return (
        picture[:H],
        chroma[:quarter].reshape(H // 2, W // 2),
        chroma[quarter:].reshape(H // 2, W // 2),
    )


def detail(plane: Array) -> float:
    return float(cv2.Laplacian(plane, cv2.CV_64F).var())


@pytest.mark.parametrize("box", [(31, 17, 61, 45), (0, 0, 40, 40), (130, 90, 100, 100)])
def test_every_plane_loses_its_detail_inside_the_box_and_nothing_outside_changes(
    box: tuple[int, int, int, int],
) -> None:
    picture = i420(textured())
    before = picture.copy()
    obscure(picture, box)
    x, y, w, h = box
    x1, y1 = min(W, x + w), min(H, y + h)
    inside = np.zeros((H, W), bool)
    inside[y:y1, x:x1] = True
    for n, (old, new) in enumerate(zip(planes(before), planes(picture), strict=True)):
        k = 1 if n == 0 else 2  # chroma is half size
        region = (slice(y // k, -(-y1 // k)), slice(x // k, -(-x1 // k)))
        assert detail(new[region]) < detail(old[region]) * 0.15, n
        outside = ~cv2.resize(inside.astype(np.uint8), old.shape[::-1]).astype(bool)
        grown = cv2.dilate((~outside).astype(np.uint8), np.ones((3, 3), np.uint8)).astype(bool)
        assert np.array_equal(new[~grown], old[~grown]), n


def test_the_two_layouts_give_the_same_picture() -> None:
    bgr = textured()
    planar = i420(bgr)
    box = (40, 30, 80, 60)
    obscure(bgr, box)
    obscure(planar, box)
    back = cv2.cvtColor(planar, cv2.COLOR_YUV2BGR_I420)
    x, y, w, h = box
    inner = (slice(y + 4, y + h - 4), slice(x + 4, x + w - 4))
    # Colour is averaged in another space, and chroma at half size: close, not equal.
    assert np.abs(back[inner].astype(int) - bgr[inner].astype(int)).mean() < 12


def test_a_box_outside_or_too_thin_changes_nothing() -> None:
    for box in [(W + 5, 10, 20, 20), (10, 10, 1, 50), (-50, -50, 40, 40)]:
        picture = i420(textured())
        before = picture.copy()
        obscure(picture, box)
        assert np.array_equal(picture, before), box


def test_a_planar_picture_must_be_one_array() -> None:
    strided = np.zeros((H * 3 // 2, W * 2), np.uint8)[:, ::2]
    with pytest.raises(RedactionError):
        obscure(strided, (10, 10, 40, 40))


def test_the_grey_copy_for_detection_is_averaged_down_from_either_layout() -> None:
    bgr = cv2.resize(textured(), (W * 4, H * 4), interpolation=cv2.INTER_NEAREST)
    grey_bgr, scale = luma_copy(bgr, W)
    grey_i420, scale_i420 = luma_copy(i420(bgr), W)
    assert scale == scale_i420 == 0.25
    assert grey_bgr.shape == grey_i420.shape == (H, W)
    # Luma is limited range in I420: the same picture up to an affine change.
    assert np.corrcoef(grey_bgr.ravel(), grey_i420.ravel())[0, 1] > 0.98
