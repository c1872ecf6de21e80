"""The segment index's schema migration and its open and closed gaps, on real SQLite files."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from cctv_common.evidence.manifest import GapCause
from edge_agent.recording.segments import Gap, Segment
from edge_agent.store.segment_index import SCHEMA_VERSION, SegmentIndex
from tests.support.paths import FIXTURES

FIXTURE = FIXTURES / "index" / "index_v0.sql"
T0 = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


@pytest.fixture
def old_index(tmp_path: Path) -> Path:
    path = tmp_path / "index.db"
    connection = sqlite3.connect(path)
    connection.executescript(FIXTURE.read_text(encoding="utf-8"))
    connection.close()
    return path


def test_an_index_of_version_0_is_migrated_in_place_and_keeps_every_row(old_index: Path) -> None:
    index = SegmentIndex(old_index)
    assert index.schema_version == SCHEMA_VERSION
    segments = index.all_segments("cam-1")
    assert [s.path for s in segments] == [
        "cam-1/20261123/100000_000000.ts",
        "cam-1/20261123/100010_000000.ts",
        "cam-1/20261123/100020_000000.ts",
    ]
    assert segments[0].start == T0 and segments[0].keyframes == (0.0, 2.0)
    assert segments[0].frames is None and segments[0].frames_received is None
    assert segments[0].frames_dropped == () and segments[0].clock_jumps == ()
    gaps = index.gaps_overlapping("cam-1", T0, at(60))
    # Rows without a cause get one from their reason in words.
    assert [(g.start, g.end, g.cause) for g in gaps] == [
        (at(30), at(45), GapCause.STREAM_STALLED),
        (at(45), at(50), GapCause.CAMERA_UNREACHABLE),
    ]
    assert [p.owner for p in index.pins()] == ["job-1"]

    # New rows carry the new facts, and a second open does not migrate again.
    index.add_segment(
        Segment(
            "cam-1",
            "cam-1/20261123/100050_000000.ts",
            at(50),
            at(60),
            500,
            "a" * 64,
            frames=250,
            frames_received=252,
            frames_dropped=(("before_keyframe", 2),),
            clock_jumps=((4.0, -114.16),),
        )
    )
    index.close()
    again = SegmentIndex(old_index)
    newest = again.all_segments("cam-1")[-1]
    assert (newest.frames, newest.frames_received) == (250, 252)
    assert newest.frames_dropped == (("before_keyframe", 2),)
    assert newest.clock_jumps == ((4.0, -114.16),)
    assert len(again.all_segments("cam-1")) == 4
    again.close()


def test_a_gap_opens_when_footage_stops_and_the_next_segment_closes_it(tmp_path: Path) -> None:
    index = SegmentIndex(tmp_path / "index.db")
    index.open_gap("cam-1", Gap(at(10), at(10), "cannot connect", GapCause.CAMERA_UNREACHABLE))
    # A second opening while it is open changes nothing: the first cause is what began it.
    index.open_gap("cam-1", Gap(at(12), at(12), "recorder stopped", GapCause.AGENT_STOPPED))
    open_now = index.gaps_overlapping("cam-1", at(0), at(30))
    assert [(g.start, g.end, g.cause, g.open) for g in open_now] == [
        (at(10), at(30), GapCause.CAMERA_UNREACHABLE, True)
    ]
    closed = index.close_gap(
        "cam-1", Gap(at(10), at(25), "agent stopped", GapCause.AGENT_STOPPED), tolerance=1.0
    )
    assert closed == Gap(at(10), at(25), "cannot connect", GapCause.CAMERA_UNREACHABLE)
    assert index.gaps_overlapping("cam-1", at(0), at(60)) == [closed]
    # Without an open gap, the gap given is recorded; a short one is not a gap.
    assert (
        index.close_gap("cam-1", Gap(at(40), at(40.5), "x", GapCause.STREAM_STALLED), 1.0) is None
    )
    stall = Gap(at(40), at(45), "camera stalled", GapCause.STREAM_STALLED)
    assert index.close_gap("cam-1", stall, 1.0) == stall
    # An open gap that closes within the tolerance is forgotten.
    index.open_gap("cam-1", Gap(at(50), at(50), "camera dropped", GapCause.CAMERA_UNREACHABLE))
    assert index.close_gap("cam-1", Gap(at(50), at(50.2), "", GapCause.AGENT_STOPPED), 1.0) is None
    assert len(index.gaps_overlapping("cam-1", at(0), at(60))) == 2
    # Footage from before an open gap (salvaged after a crash) does not close it.
    index.open_gap("cam-1", Gap(at(70), at(70), "camera dropped", GapCause.CAMERA_UNREACHABLE))
    assert index.close_gap("cam-1", Gap(at(65), at(65), "", GapCause.AGENT_STOPPED), 0.0) is None
    assert index.gaps_overlapping("cam-1", at(60), at(90))[-1].open
    index.close()


def test_retention_horizon_moves_forward_only(tmp_path: Path) -> None:
    index = SegmentIndex(tmp_path / "index.db")
    old = [
        Segment("cam-1", f"cam-1/{n}.ts", at(n * 10), at(n * 10 + 10), 1, "0" * 64)
        for n in range(3)
    ]
    for segment in old:
        index.add_segment(segment)
    assert index.retention_horizon("cam-1") is None
    index.delete_segments(old[1:])
    assert index.retention_horizon("cam-1") == at(30)
    index.delete_segments(old[:1])
    assert index.retention_horizon("cam-1") == at(30)
    assert index.retention_horizon("cam-2") is None
    index.close()
