"""A recording session fed real H.264 packets whose timestamps misbehave, writing real segments.

ffmpeg makes 20 s of 25 fps H.264 (MPEG-TS, a keyframe every second); PyAV demuxes it and the
packets go into a ``RecordingSession`` with their timestamps changed the way cameras and shared
RTSP mounts change them. Every frame must be in the segments, in order, byte for byte; segments
must keep their length; a clip cut across it all must have every frame and play in ffmpeg.
"""

from __future__ import annotations

import itertools
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import av
import pytest

from cctv_common.evidence.manifest import GapCause
from edge_agent.clips.cut_plan import plan_cut
from edge_agent.clips.cutter import cut_clip
from edge_agent.config import RecorderConfig
from edge_agent.recording.nal_units import slice_payloads
from edge_agent.recording.recording_session import RecordingSession, StreamFacts
from edge_agent.recording.segments import Segment
from edge_agent.store.segment_index import SegmentIndex

SECONDS = 20
FPS = 25
FRAME = 3600
SETTINGS = RecorderConfig(segment_seconds=2.0, gap_tolerance_seconds=0.3)
T0 = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)


def make_source(path: Path, b_frames: int) -> Path:
    command = [
        "ffmpeg", "-nostdin", "-hide_banner", "-loglevel", "error",
        "-f", "lavfi", "-i", f"testsrc2=size=320x240:rate={FPS}:duration={SECONDS}",
        "-c:v", "libx264", "-preset", "veryfast", "-g", "25", "-keyint_min", "25",
        "-sc_threshold", "0", "-bf", str(b_frames), "-pix_fmt", "yuv420p",
        "-f", "mpegts", str(path),
    ]  # fmt: skip
    subprocess.run(command, check=True)
    return path


@pytest.fixture(scope="module")
def sources(tmp_path_factory: pytest.TempPathFactory) -> dict[int, Path]:
    root = tmp_path_factory.mktemp("sources")
    return {bf: make_source(root / f"bf{bf}.ts", bf) for bf in (0, 2)}


@dataclass
class Fed:
    """A packet as the camera sent it, and the timestamps the scenario gives it."""

    packet: av.Packet
    pts: int
    dts: int
    late: float = 0.0  # seconds the packet arrives later than its place in the stream says


Scenario = Callable[[list[Fed]], list[Fed]]


def shift(fed: list[Fed], start: int, by: int) -> list[Fed]:
    for item in fed[start:]:
        item.pts += by
        item.dts += by
    return fed


def join(at: int) -> Scenario:
    """A second client joins a shared mount: timestamps restart from zero."""
    return lambda fed: shift(fed, at, -fed[at].dts)


def two_joins(fed: list[Fed]) -> list[Fed]:
    return join(300)(join(100)(fed))


def forward_jump(fed: list[Fed]) -> list[Fed]:
    return shift(fed, 150, 300 * 90000)


def wrap(fed: list[Fed]) -> list[Fed]:
    modulus = 1 << 33
    shift(fed, 0, modulus - fed[200].dts)
    for item in fed:
        item.pts %= modulus
        item.dts %= modulus
    return fed


def stuck(fed: list[Fed]) -> list[Fed]:
    for item in fed[120:170]:
        item.pts = item.dts = fed[120].dts
    return fed


def duplicated(fed: list[Fed]) -> list[Fed]:
    original = fed[80]
    copy = av.Packet(bytes(original.packet))
    copy.is_keyframe = original.packet.is_keyframe
    copy.time_base = original.packet.time_base
    return [*fed[:81], Fed(copy, original.pts, original.dts), *fed[81:]]


SCENARIOS: dict[str, tuple[int, Scenario, int, int]] = {
    # name: (B-frames, scenario, jumps expected, duplicates)
    "steady": (0, lambda fed: fed, 0, 0),
    "join": (0, join(100), 1, 0),
    "two joins": (0, two_joins, 2, 0),
    "forward jump": (0, forward_jump, 1, 0),
    "33-bit wrap": (0, wrap, 0, 0),
    "stuck timestamps": (0, stuck, 1, 0),  # they jump forward when they come unstuck
    "duplicated packet": (0, duplicated, 0, 1),
    "B-frames and a join": (2, join(200), 1, 0),
}


@dataclass
class Recorded:
    segments: list[Segment]
    segments_dir: Path
    sent: list[bytes]  # the slices of every frame sent, in order (without the duplicate)
    index: SegmentIndex


def record(source: Path, scenario: Scenario, tmp_path: Path) -> Recorded:
    index = SegmentIndex(None)
    segments_dir = tmp_path / "segments"
    with av.open(str(source)) as container:
        stream = container.streams.video[0]
        packets = [p for p in container.demux(stream) if p.size]
        fed = [Fed(p, p.pts, p.dts) for p in packets if p.pts is not None and p.dts is not None]
        fed = scenario(fed)
        session = RecordingSession(
            "cam-1",
            stream,
            StreamFacts.of(stream),
            segments_dir,
            index,
            SETTINGS,
            resume_after=None,
            gap=("the recorder was not running", GapCause.AGENT_STOPPED),
            on_segment=lambda segment, lag: None,
        )
        sent: list[bytes] = []
        previous = b""
        for number, item in enumerate(fed):
            data = bytes(item.packet)
            if data != previous:
                sent.append(slice_payloads(data))
            previous = data
            item.packet.pts, item.packet.dts = item.pts, item.dts
            arrival = number / FPS + item.late
            session.feed(item.packet, T0 + timedelta(seconds=arrival), arrival)
        session.finish()
    return Recorded(index.all_segments("cam-1"), segments_dir, sent, index)


def read_segment(path: Path) -> list[av.Packet]:
    with av.open(str(path)) as container:
        return [p for p in container.demux(container.streams.video[0]) if p.size]


@pytest.mark.parametrize("name", list(SCENARIOS))
def test_every_frame_is_recorded_whatever_the_timestamps_do(
    name: str, sources: dict[int, Path], tmp_path: Path
) -> None:
    b_frames, scenario, jumps, duplicates = SCENARIOS[name]
    recorded = record(sources[b_frames], scenario, tmp_path)
    segments = recorded.segments

    # Every frame the camera sent, in order, byte for byte; the duplicate is counted, not written.
    written: list[bytes] = []
    for segment in segments:
        packets = read_segment(recorded.segments_dir / segment.path)
        assert packets[0].is_keyframe, segment.path
        dts = [p.dts or 0 for p in packets]
        assert all(p.dts is not None for p in packets)
        assert all(b > a for a, b in itertools.pairwise(dts)), f"{segment.path}: dts not rising"
        assert segment.frames == len(packets)
        written += [slice_payloads(bytes(p)) for p in packets]
    assert written == recorded.sent
    assert sum(s.frames or 0 for s in segments) == SECONDS * FPS
    dropped = sum(n for s in segments for _, n in s.frames_dropped)
    assert dropped == duplicates
    assert sum(s.frames_received or 0 for s in segments) == SECONDS * FPS + duplicates

    # Segments keep their length and join exactly; the jumps are noted, and are not gaps.
    for segment in segments[:-1]:
        assert 2.0 <= segment.duration.total_seconds() < 3.0, segment
    for before, after in itertools.pairwise(segments):
        assert after.start == before.end
    total = (segments[-1].end - segments[0].start).total_seconds()
    assert total == pytest.approx(SECONDS, abs=1 / FPS)
    assert sum(len(s.clock_jumps) for s in segments) == jumps
    assert recorded.index.gaps_overlapping("cam-1", T0, T0 + timedelta(hours=1)) == []

    # A clip of it all has every frame and plays in ffmpeg without a complaint.
    plan = plan_cut("cam-1", segments, segments[0].start, segments[-1].end)
    clip = cut_clip(plan, recorded.segments_dir, tmp_path / "clip.mp4")
    assert clip.packets == SECONDS * FPS
    assert clip.duration_seconds == pytest.approx(SECONDS, abs=1 / FPS)
    check = subprocess.run(
        ["ffmpeg", "-nostdin", "-v", "error", "-i", str(clip.path), "-f", "null", "-"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert check.stderr == ""


def test_a_stall_that_keeps_the_connection_is_a_gap_inside_a_segment(
    sources: dict[int, Path], tmp_path: Path
) -> None:
    def stall(fed: list[Fed]) -> list[Fed]:
        # The camera sends nothing for 1.5 s from frame 210 on (mid-GOP); the connection stays.
        for item in fed[210:]:
            item.late = 1.5
        return shift(fed, 210, round(1.5 * 90000))

    recorded = record(sources[0], stall, tmp_path)
    segments = recorded.segments
    assert sum(s.frames or 0 for s in segments) == SECONDS * FPS
    gaps = recorded.index.gaps_overlapping("cam-1", T0, T0 + timedelta(hours=1))
    assert len(gaps) == 1 and gaps[0].cause is GapCause.STREAM_STALLED
    assert gaps[0].seconds == pytest.approx(1.5, abs=0.01)
    inside = [s for s in segments if s.start < gaps[0].start and gaps[0].end < s.end]
    assert len(inside) == 1, "the stall is inside one segment"
    plan = plan_cut("cam-1", segments, segments[0].start, segments[-1].end, recorded_gaps=gaps)
    assert [(g.cause, g.start, g.end) for g in plan.gaps] == [
        (GapCause.STREAM_STALLED, gaps[0].start, gaps[0].end)
    ]
