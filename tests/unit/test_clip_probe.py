"""The hub's content probe: real ffmpeg clips pass; junk, damaged ends and wrong claims do not."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from hub.services.ingest.clip_probe import ClipUnreadable, probe_clip
from tests.support.hub_kit import make_h264_mp4, video_bytes


@pytest.fixture(scope="module")
def good(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    return make_h264_mp4(tmp_path_factory.mktemp("probe") / "clip.mp4", seconds=4)


def write(tmp_path: Path, data: bytes) -> Path:
    path = tmp_path / "clip.mp4"
    path.write_bytes(data)
    return path


def test_a_real_clip_passes_and_both_gops_are_decoded(tmp_path: Path, good: bytes) -> None:
    result = probe_clip(write(tmp_path, good), "h264", 320, 240)
    assert result.codec == "h264" and (result.width, result.height) == (320, 240)
    assert result.first_gop_frames > 0 and result.last_gop_frames > 0


def test_padding_after_the_video_is_fine(tmp_path: Path) -> None:
    assert probe_clip(write(tmp_path, video_bytes(300_000)), "h264", 320, 240).last_gop_frames


@pytest.mark.parametrize(
    ("damage", "says"),
    [
        ("random bytes", "cannot be read as h264"),
        ("empty", "cannot be read as h264"),
        ("cut short", "frames its container lists"),
        ("end overwritten", "h264"),
    ],
)
def test_damaged_or_foreign_bytes_are_unreadable(
    tmp_path: Path, good: bytes, damage: str, says: str
) -> None:
    data = {
        "random bytes": os.urandom(len(good)),
        "empty": b"",
        "cut short": good[: len(good) // 2],
        "end overwritten": good[: len(good) - 20_000] + os.urandom(20_000),
    }[damage]
    with pytest.raises(ClipUnreadable, match=says) as caught:
        probe_clip(write(tmp_path, data), "h264", 320, 240)
    assert str(tmp_path) not in str(caught.value)  # the agent is not told the hub's paths


@pytest.mark.parametrize(
    ("codec", "width", "height", "says"),
    [
        ("hevc", 320, 240, "the manifest says hevc, the clip's video is h264"),
        ("h265", 320, 240, "the manifest says h265"),
        ("h264", 1920, 1080, "the manifest says 1920x1080, the clip's frames are 320x240"),
    ],
)
def test_a_clip_that_is_not_what_its_manifest_says_is_unreadable(
    tmp_path: Path, good: bytes, codec: str, width: int, height: int, says: str
) -> None:
    with pytest.raises(ClipUnreadable, match=says):
        probe_clip(write(tmp_path, good), codec, width, height)
