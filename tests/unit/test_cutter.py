"""The clip cutter on real media: ffmpeg makes MPEG-TS segments, the cutter remuxes them, and
the clip is opened again (PyAV, ffprobe) and compared with its sources."""

from __future__ import annotations

import dataclasses
import hashlib
import itertools
import json
import re
import shutil
import struct
import subprocess
from collections.abc import Callable
from datetime import datetime, timedelta
from fractions import Fraction
from pathlib import Path

import av
import pytest

from edge_agent.clips import remux
from edge_agent.clips.cut_errors import (
    CutFailed,
    IncompatibleSegments,
    SegmentCorrupt,
    SegmentUnavailable,
)
from edge_agent.clips.cut_plan import CutPlan, plan_cut
from edge_agent.clips.cutter import cut_clip
from edge_agent.recording.segment_probe import probe_segment, segment_from_file
from tests.support.segment_files import CAMERA, T0, index_rows, make_segments


@pytest.fixture(scope="module")
def h264_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """12 s of H.264 whose timestamps restart in every file."""
    root = tmp_path_factory.mktemp("h264")
    make_segments(root / CAMERA, "h264", 12, reset_timestamps=True)
    return root


@pytest.fixture(scope="module")
def hevc_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """6 s of H.265 whose timestamps run on across files."""
    root = tmp_path_factory.mktemp("hevc")
    make_segments(root / CAMERA, "hevc", 6, reset_timestamps=False)
    return root


@pytest.fixture
def own_copy(tmp_path: Path, h264_dir: Path) -> Path:
    """A copy of the H.264 segments that a test may damage."""
    root = tmp_path / "segments"
    shutil.copytree(h264_dir, root)
    return root


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


# Reading media back


def nal_units_annexb(data: bytes) -> list[bytes]:
    """NAL units of an Annex-B byte stream (start codes 00 00 01 or 00 00 00 01)."""
    starts = [m.end() for m in re.finditer(b"\x00\x00\x01", data)]
    ends = [*(m.start() for m in re.finditer(b"\x00\x00\x01", data)), len(data)][1:]
    return [data[begin:end].rstrip(b"\x00") for begin, end in zip(starts, ends, strict=True)]


def nal_units_mp4(data: bytes) -> list[bytes]:
    """NAL units of an MP4 sample: each prefixed with its length in 4 bytes (FFmpeg's size)."""
    units, offset = [], 0
    while offset < len(data):
        (length,) = struct.unpack_from(">I", data, offset)
        units.append(data[offset + 4 : offset + 4 + length])
        offset += 4 + length
    return units


@dataclasses.dataclass
class Frame:
    seconds: float  # pts on the clip's timeline
    keyframe: bool
    nal_units: list[bytes]


def expected_frames(plan: CutPlan, segments_dir: Path) -> list[Frame]:
    """The source packets that the plan covers, in decode order, read with the stream parser:
    from the in-point keyframe of the first part to just before the out-point keyframe."""
    frames = []
    for part in plan.parts:
        with av.open(str(segments_dir / part.segment.path)) as container:
            stream = container.streams.video[0]
            assert stream.time_base is not None
            packets = [p for p in container.demux(stream) if p.size]
            first_pts = packets[0].pts
            assert first_pts is not None
            started = False
            for packet in packets:
                assert packet.pts is not None
                offset = float((packet.pts - first_pts) * stream.time_base)
                if not started and offset < part.start_offset - 0.001:
                    continue
                started = True
                if part.end_offset is not None and offset >= part.end_offset - 0.001:
                    break
                seconds = (part.segment.start - plan.delivered_start).total_seconds() + offset
                frames.append(Frame(seconds, packet.is_keyframe, nal_units_annexb(bytes(packet))))
    return frames


def clip_frames(path: Path) -> tuple[list[Frame], list[int]]:
    """The clip's video packets, and their dts in its stream time base."""
    frames, dts = [], []
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        assert stream.time_base is not None
        for packet in container.demux(stream):
            if not packet.size:
                continue
            assert packet.pts is not None and packet.dts is not None
            seconds = float(packet.pts * stream.time_base)
            frames.append(Frame(seconds, packet.is_keyframe, nal_units_mp4(bytes(packet))))
            dts.append(packet.dts)
    return frames, dts


def top_level_boxes(path: Path) -> list[str]:
    boxes = []
    with path.open("rb") as handle:
        while header := handle.read(8):
            size, kind = struct.unpack(">I4s", header)
            if size == 1:
                (size,) = struct.unpack(">Q", handle.read(8))
                size -= 8
            boxes.append(kind.decode("latin-1"))
            handle.seek(size - 8, 1)
    return boxes


def ffprobe(path: Path) -> dict[str, str]:
    command = [
        "ffprobe", "-v", "error", "-select_streams", "v:0",
        "-show_entries", "stream=codec_name,codec_tag_string,width,height:format=duration",
        "-of", "json", str(path),
    ]  # fmt: skip
    probe = subprocess.run(command, capture_output=True, text=True)
    assert probe.returncode == 0, probe.stderr
    info = json.loads(probe.stdout)
    return {**info["streams"][0], "duration": info["format"]["duration"]}


def decode_all(path: Path) -> int:
    """Frames that a decoder gets out of the clip (test only: the cutter never decodes)."""
    with av.open(str(path)) as container:
        return sum(1 for _ in container.decode(video=0))


def assert_same_frames(
    clip: list[Frame], source: list[Frame], keep: Callable[[bytes], bool]
) -> None:
    assert len(clip) == len(source)
    for number, (got, want) in enumerate(zip(clip, source, strict=True)):
        assert [n for n in got.nal_units if keep(n)] == [n for n in want.nal_units if keep(n)], (
            f"frame {number}"
        )
        assert got.keyframe == want.keyframe, f"frame {number}"
        assert got.seconds == pytest.approx(want.seconds, abs=1e-4), f"frame {number}"


# The clip carries the camera's own bytes


def test_h264_clip_carries_the_source_nal_units_byte_for_byte(
    h264_dir: Path, tmp_path: Path
) -> None:
    rows = index_rows(h264_dir)
    plan = plan_cut(CAMERA, rows, at(1.3), at(8.5))  # in and out inside segments
    assert plan.parts[0].start_offset == 1.0 and plan.parts[-1].end_offset == 1.0

    result = cut_clip(plan, h264_dir, tmp_path / "clip.mp4")

    clip, dts = clip_frames(result.path)
    # H.264 in MP4 ('avc1'): FFmpeg keeps every NAL unit in the samples, AUD, SPS and PPS too.
    assert_same_frames(clip, expected_frames(plan, h264_dir), keep=lambda nal: True)
    assert all(later > earlier for earlier, later in itertools.pairwise(dts))
    # B-frames: presentation order differs from decode order, and survived the cut.
    assert any(later.seconds < earlier.seconds for earlier, later in itertools.pairwise(clip))
    assert (result.delivered_start, result.delivered_end) == (at(1), at(9))
    assert result.duration_seconds == pytest.approx(8.0)
    assert result.packets == len(clip) == 200
    assert (result.codec, result.width, result.height, result.fps) == ("h264", 320, 240, 25.0)


def test_hevc_clip_is_tagged_hvc1_and_carries_the_source_slices(
    hevc_dir: Path, tmp_path: Path
) -> None:
    rows = index_rows(hevc_dir)
    plan = plan_cut(CAMERA, rows, at(0.5), at(4.5))

    result = cut_clip(plan, hevc_dir, tmp_path / "clip.mp4")

    def is_parameter_set(nal: bytes) -> bool:
        return (nal[0] >> 1) & 0x3F in (32, 33, 34)  # VPS, SPS, PPS

    clip, _ = clip_frames(result.path)
    source = expected_frames(plan, hevc_dir)
    # With the 'hvc1' tag FFmpeg moves VPS/SPS/PPS out of the samples into the sample entry
    # (hvcC); every other NAL unit, slices and SEI included, is the camera's own.
    assert_same_frames(clip, source, keep=lambda nal: not is_parameter_set(nal))
    with av.open(str(result.path)) as container:
        hvcc = container.streams.video[0].codec_context.extradata or b""
    for nal in source[0].nal_units:
        if is_parameter_set(nal):
            assert nal in hvcc
    info = ffprobe(result.path)
    assert (info["codec_name"], info["codec_tag_string"]) == ("hevc", "hvc1")
    assert result.codec == "hevc"
    assert decode_all(result.path) == result.packets == 125


def test_hevc_parameter_sets_that_change_stay_in_band_under_hev1(tmp_path: Path) -> None:
    # A camera reconfigured between two segments: same size, other encoder settings.
    for name, preset in (("seg_000.ts", "ultrafast"), ("seg_001.ts", "medium")):
        (tmp_path / CAMERA).mkdir(exist_ok=True)
        command = [
            "ffmpeg", "-nostdin", "-loglevel", "error",
            "-f", "lavfi", "-i", "testsrc2=size=320x240:rate=25:duration=1",
            "-c:v", "libx265", "-preset", preset, "-x265-params", "keyint=25:log-level=error",
            "-pix_fmt", "yuv420p", "-f", "mpegts", str(tmp_path / CAMERA / name),
        ]  # fmt: skip
        subprocess.run(command, check=True)
    plan = plan_cut(CAMERA, index_rows(tmp_path), at(0), at(2))

    result = cut_clip(plan, tmp_path, tmp_path / "clip.mp4")

    # 'hvc1' would keep only the first segment's parameter sets; 'hev1' keeps every NAL unit.
    assert ffprobe(result.path)["codec_tag_string"] == "hev1"
    clip, _ = clip_frames(result.path)
    assert_same_frames(clip, expected_frames(plan, tmp_path), keep=lambda nal: True)
    assert decode_all(result.path) == 50


@pytest.mark.parametrize("codec", ["h264", "hevc"])
def test_clip_covers_the_window_with_moov_first_and_ffprobe_reads_it(
    codec: str, h264_dir: Path, hevc_dir: Path, tmp_path: Path
) -> None:
    segments_dir = h264_dir if codec == "h264" else hevc_dir
    plan = plan_cut(CAMERA, index_rows(segments_dir), at(0.4), at(5.2))

    result = cut_clip(plan, segments_dir, tmp_path / "clip.mp4")

    info = ffprobe(result.path)
    assert (info["codec_name"], info["width"], info["height"]) == (codec, 320, 240)
    assert float(info["duration"]) >= (plan.requested_end - plan.requested_start).total_seconds()
    assert result.delivered_start <= plan.requested_start
    assert result.delivered_end >= plan.requested_end
    boxes = top_level_boxes(result.path)
    assert boxes[0] == "ftyp"
    assert boxes.index("moov") < boxes.index("mdat")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["clip.mp4"]  # no .part left
    assert result.bytes == result.path.stat().st_size
    assert result.sha256 == hashlib.sha256(result.path.read_bytes()).hexdigest()


def test_window_over_a_gap_keeps_the_gap_and_plays(h264_dir: Path, tmp_path: Path) -> None:
    rows = index_rows(h264_dir, gap_after=1)  # 5 s without footage from 4 s to 9 s
    plan = plan_cut(CAMERA, rows, at(2), at(12))
    assert [(g.start, g.end) for g in plan.gaps] == [(at(4), at(9))]

    result = cut_clip(plan, h264_dir, tmp_path / "clip.mp4")

    clip, _ = clip_frames(result.path)
    times = sorted(frame.seconds for frame in clip)
    assert not any(2.0 + 0.001 < t < 7.0 - 0.001 for t in times)  # clip time of the gap
    assert times[0] == 0.0 and times[-1] == pytest.approx(9.96)
    assert result.packets == 125  # 2 s before the gap, 3 s after it: no filler frames
    assert (result.delivered_start, result.delivered_end) == (at(2), at(12))
    assert float(ffprobe(result.path)["duration"]) == pytest.approx(10.0)
    assert decode_all(result.path) == 125


def test_overlapping_index_times_still_give_increasing_dts(h264_dir: Path, tmp_path: Path) -> None:
    rows = index_rows(h264_dir)
    # Each row starts 30 ms before the previous one ends, as a clock-rounding recorder might.
    rows = [
        dataclasses.replace(r, start=r.start - n * timedelta(milliseconds=30), end=r.end)
        for n, r in enumerate(rows)
    ]
    plan = plan_cut(CAMERA, rows, rows[0].start, rows[2].end - timedelta(seconds=0.5))

    result = cut_clip(plan, h264_dir, tmp_path / "clip.mp4")

    _, dts = clip_frames(result.path)
    assert all(later > earlier for earlier, later in itertools.pairwise(dts))
    assert result.packets == 150


def test_progress_rises_to_one(h264_dir: Path, tmp_path: Path) -> None:
    plan = plan_cut(CAMERA, index_rows(h264_dir), at(0), at(12))
    seen: list[float] = []

    cut_clip(plan, h264_dir, tmp_path / "clip.mp4", progress=seen.append)

    assert seen == sorted(seen) and seen[-1] == 1.0
    assert all(0.0 <= fraction <= 1.0 for fraction in seen) and len(seen) >= 3


def test_more_frames_than_reserved_for_moov_falls_back_to_faststart(
    h264_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(remux, "_moov_reserve", lambda plan, extradata_bytes: 64)
    plan = plan_cut(CAMERA, index_rows(h264_dir), at(0), at(6))

    result = cut_clip(plan, h264_dir, tmp_path / "clip.mp4")

    boxes = top_level_boxes(result.path)
    assert boxes.index("moov") < boxes.index("mdat")
    assert decode_all(result.path) == result.packets == 150


def test_moov_reservation_bounds_the_sample_tables(h264_dir: Path) -> None:
    plan = plan_cut(CAMERA, index_rows(h264_dir), at(0), at(12))
    # 300 frames at 48 bytes each at most, plus the fixed boxes.
    assert remux._moov_reserve(plan, 40) >= 300 * 48 + 1024


# Refusals: nothing is left behind


def test_corrupted_segment_raises_segment_corrupt_and_leaves_nothing(
    own_copy: Path, tmp_path: Path
) -> None:
    rows = index_rows(own_copy)
    plan = plan_cut(CAMERA, rows, at(1), at(9))
    victim = own_copy / rows[2].path
    data = bytearray(victim.read_bytes())
    data[len(data) // 2] ^= 0x01  # one flipped bit in a frame: same size, other hash
    victim.write_bytes(bytes(data))
    out = tmp_path / "out" / "clip.mp4"
    out.parent.mkdir()

    with pytest.raises(SegmentCorrupt, match=re.escape(rows[2].path)) as caught:
        cut_clip(plan, own_copy, out)

    assert "\n" not in str(caught.value)
    assert list(out.parent.iterdir()) == []


def test_truncated_segment_raises_segment_corrupt(own_copy: Path, tmp_path: Path) -> None:
    rows = index_rows(own_copy)
    victim = own_copy / rows[1].path
    victim.write_bytes(victim.read_bytes()[:-188])
    plan = plan_cut(CAMERA, rows, at(0), at(6))

    with pytest.raises(SegmentCorrupt, match="bytes but the index holds"):
        cut_clip(plan, own_copy, tmp_path / "clip.mp4")
    assert list(tmp_path.glob("clip*")) == []


def test_missing_segment_raises_segment_unavailable(own_copy: Path, tmp_path: Path) -> None:
    rows = index_rows(own_copy)
    (own_copy / rows[3].path).unlink()
    plan = plan_cut(CAMERA, rows, at(0), at(10))

    with pytest.raises(SegmentUnavailable, match=re.escape(rows[3].path)):
        cut_clip(plan, own_copy, tmp_path / "clip.mp4")
    assert list(tmp_path.glob("clip*")) == []


def test_clip_that_cannot_be_written_fails_with_the_reason(h264_dir: Path, tmp_path: Path) -> None:
    plan = plan_cut(CAMERA, index_rows(h264_dir), at(0), at(4))

    with pytest.raises(CutFailed, match=r"cannot write .*No such file or directory"):
        cut_clip(plan, h264_dir, tmp_path / "no-such-folder" / "clip.mp4")


def test_segments_of_another_resolution_are_refused(h264_dir: Path, tmp_path: Path) -> None:
    rows = index_rows(h264_dir)
    rows[2] = dataclasses.replace(rows[2], width=640, height=480)
    plan = plan_cut(CAMERA, rows, at(0), at(8))

    with pytest.raises(IncompatibleSegments, match="cut the window in two"):
        cut_clip(plan, h264_dir, tmp_path / "clip.mp4")


# Probing


def test_probe_reads_keyframes_and_duration_without_decoding(h264_dir: Path) -> None:
    facts = probe_segment(h264_dir / CAMERA / "seg_000.ts")
    assert (facts.codec, facts.width, facts.height, facts.fps) == ("h264", 320, 240, 25.0)
    assert facts.keyframes == (0.0, 1.0)
    assert facts.duration == pytest.approx(2.0)
    assert facts.packets == 50 and facts.starts_on_keyframe
    assert facts.time_base == Fraction(1, 90000)


def test_segment_row_holds_the_file_hash_and_relative_path(h264_dir: Path) -> None:
    path = h264_dir / CAMERA / "seg_001.ts"
    row = segment_from_file(CAMERA, h264_dir, path, T0)
    assert row.path == f"{CAMERA}/seg_001.ts"
    assert row.bytes == path.stat().st_size
    assert row.sha256 == hashlib.sha256(path.read_bytes()).hexdigest()
    assert row.end - row.start == timedelta(seconds=2)
