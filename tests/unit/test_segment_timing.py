"""The segment timing contract and the recorder's small pure helpers, without a camera."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from fractions import Fraction

from edge_agent.recording.recorder import Backoff, redact_text
from edge_agent.recording.recording_session import parse_segment_start, segment_relative_path
from edge_agent.recording.segment_timing import (
    SegmentTimeline,
    SessionClock,
    fill_missing_timestamps,
    frame_ticks,
    ticks_to_timedelta,
)

TB = Fraction(1, 90000)
T0 = datetime(2025, 3, 1, 12, 0, 0, tzinfo=UTC)


@dataclass
class FakePacket:
    pts: int | None
    dts: int | None
    duration: int | None = 3600
    size: int = 100


def test_untimed_first_packet_is_timed_back_from_the_next() -> None:
    packets = [FakePacket(None, None), FakePacket(3600, 3600), FakePacket(7200, 7200)]
    out = list(fill_missing_timestamps(packets))
    assert [(p.pts, p.dts) for p in out] == [(0, 0), (3600, 3600), (7200, 7200)]


def test_untimed_packet_without_duration_is_dropped_and_flush_packets_too() -> None:
    packets = [
        FakePacket(None, None, duration=0),
        FakePacket(3600, None),
        FakePacket(None, 7200),
        FakePacket(None, None, size=0),
    ]
    out = list(fill_missing_timestamps(packets))
    assert [(p.pts, p.dts) for p in out] == [(3600, 3600), (7200, 7200)]


def test_clock_maps_pts_to_utc_and_takes_the_earliest_anchor() -> None:
    clock = SessionClock.start(pts=1000, time_base=TB, arrival=T0 + timedelta(seconds=1))
    # Buffered packets arrive together; a live one shows the anchor was 0.96 s earlier.
    clock.observe(1000 + 3600, T0 + timedelta(seconds=1))
    clock.observe(1000 + 90000, T0 + timedelta(seconds=1.08))
    assert clock.anchor == T0 + timedelta(seconds=0.08)
    clock.freeze()
    clock.observe(1000 + 180000, T0)  # frozen: no change
    assert clock.utc(1000 + 45000) == T0 + timedelta(seconds=0.58)
    assert clock.lag(1000 + 90000, T0 + timedelta(seconds=1.18)) == 0.1


def test_freeze_keeps_a_new_session_from_overlapping_the_last() -> None:
    clock = SessionClock.start(pts=0, time_base=TB, arrival=T0)
    clock.freeze(first_pts=9000, not_before=T0 + timedelta(seconds=0.5))
    assert clock.utc(9000) == T0 + timedelta(seconds=0.5)
    later = SessionClock.start(pts=0, time_base=TB, arrival=T0)
    later.freeze(first_pts=9000, not_before=T0)
    assert later.anchor == T0


def test_timeline_keyframes_and_span() -> None:
    timeline = SegmentTimeline.begin(pts=90000, dts=90000, time_base=TB)
    for n in range(50):
        pts = 90000 + n * 3600
        timeline.add(pts, pts, 3600, is_keyframe=n % 25 == 0)
    # A second part of the keyframe access unit (same pts) is not a second keyframe.
    timeline.add(90000 + 25 * 3600, 90000 + 25 * 3600, 3600, is_keyframe=True)
    assert timeline.keyframes() == (0.0, 1.0)
    assert timeline.span_ticks(frame_ticks(TB, 25.0)) == 50 * 3600
    assert ticks_to_timedelta(timeline.span_ticks(0), TB) == timedelta(seconds=2)
    assert timeline.elapsed(90000 + 50 * 3600) == 2.0


def test_frame_ticks_from_rate_or_observed_steps() -> None:
    assert frame_ticks(TB, 25.0) == 3600
    assert frame_ticks(TB, None, [3000, 3003, 3003, 0]) == 3003
    assert frame_ticks(TB, None) == 0


def test_segment_paths_carry_their_utc_start() -> None:
    start = datetime(2025, 3, 1, 23, 59, 58, 123456, tzinfo=UTC)
    relative = segment_relative_path("cam-1", start)
    assert relative == "cam-1/20250301/235958_123456.ts"
    assert parse_segment_start(relative) == start
    assert parse_segment_start(relative + ".part") == start
    assert parse_segment_start("cam-1/20250301/235958_123456-1.ts") == start
    assert parse_segment_start("cam-1/20250301/notes.ts") is None
    assert parse_segment_start("cam-1/235958_123456.ts") is None


def test_backoff_doubles_to_the_cap_and_resets() -> None:
    backoff = Backoff(0.5, 3.0)
    assert [backoff.next() for _ in range(5)] == [0.5, 1.0, 2.0, 3.0, 3.0]
    backoff.reset()
    assert backoff.next() == 0.5


def test_error_texts_lose_their_credentials() -> None:
    url = "rtsp://admin:s3cret@10.0.0.5:554/stream1"
    text = redact_text(f"Connection refused: '{url}'", url)
    assert "s3cret" not in text and "admin" not in text
    assert "rtsp://10.0.0.5:554/stream1" in text
    assert "pw" not in redact_text("see rtsp://u:pw@cam/x and http://a:pw@b/")
