"""Early writeback of a clip: the kernel is asked to start writing, the bytes stay the same."""

from __future__ import annotations

import functools
import os
from datetime import timedelta
from pathlib import Path

import pytest

from edge_agent.clips import clip_writeback, remux
from edge_agent.clips.clip_writeback import ClipWriteback
from edge_agent.clips.cut_plan import plan_cut
from edge_agent.clips.cutter import cut_clip
from tests.support.segment_files import CAMERA, T0, index_rows, make_segments

needs_sync_file_range = pytest.mark.skipif(
    clip_writeback._sync_file_range is None, reason="sync_file_range is Linux-only"
)


def counting_sync_file_range(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Count the real calls (the real function still runs)."""
    real = clip_writeback._sync_file_range
    assert real is not None
    calls: list[int] = []

    def counted(fd: int, offset: int, nbytes: int, flags: int) -> int:
        calls.append(fd)
        return real(fd, offset, nbytes, flags)

    monkeypatch.setattr(clip_writeback, "_sync_file_range", counted)
    return calls


@needs_sync_file_range
def test_writeback_starts_once_per_threshold_and_leaves_the_file_as_written(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls = counting_sync_file_range(monkeypatch)
    path = tmp_path / "clip.part"
    data = os.urandom(1 << 16)
    with path.open("wb") as handle, ClipWriteback(path, every_bytes=3 * 4096) as writeback:
        for offset in range(0, len(data), 4096):
            handle.write(data[offset : offset + 4096])
            handle.flush()
            writeback.wrote(4096)
    assert len(calls) == 16 // 3
    assert path.read_bytes() == data


def test_a_clip_that_cannot_be_opened_is_left_to_the_final_fsync(tmp_path: Path) -> None:
    writeback = ClipWriteback(tmp_path / "never-made.part", every_bytes=1)
    writeback.wrote(10)  # no exception: the fsync after the remux reports what matters
    writeback.wrote(10)
    writeback.close()


@needs_sync_file_range
def test_clip_written_back_while_muxed_is_byte_identical_to_one_that_is_not(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    segments_dir = tmp_path / "segments"
    make_segments(segments_dir / CAMERA, "h264", 4, reset_timestamps=True)
    plan = plan_cut(CAMERA, index_rows(segments_dir), T0, T0 + timedelta(seconds=4))

    with monkeypatch.context() as patch:
        patch.setattr(clip_writeback, "_sync_file_range", None)
        plain = cut_clip(plan, segments_dir, tmp_path / "plain.mp4")
    calls = counting_sync_file_range(monkeypatch)
    monkeypatch.setattr(remux, "ClipWriteback", functools.partial(ClipWriteback, every_bytes=1))
    early = cut_clip(plan, segments_dir, tmp_path / "early.mp4")

    assert calls, "the cut never started a writeback"
    assert early.path.read_bytes() == plain.path.read_bytes()
    assert early.sha256 == plain.sha256
