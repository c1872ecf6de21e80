"""The pure cut planner: which segments make a clip, keyframe-aligned cut points, and gaps."""

from datetime import UTC, datetime, timedelta

import pytest

from cctv_common.evidence.manifest import GapCause
from edge_agent.clips.cut_plan import (
    MAX_WINDOW,
    InvalidWindow,
    PlannedPart,
    WindowOutsideBuffer,
    plan_cut,
)
from edge_agent.recording.segments import Gap, Segment

T0 = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)
KEYFRAMES = (0.0, 2.0, 4.0, 6.0, 8.0)


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def seg(start: float, length: float = 10.0, camera: str = "cam-1") -> Segment:
    """A segment of ``length`` seconds starting ``start`` seconds after T0, keyframes every 2 s."""
    return Segment(
        camera_id=camera,
        path=f"{camera}/{start:g}.ts",
        start=at(start),
        end=at(start + length),
        bytes=1000,
        sha256=f"{int(start):064x}",
        keyframes=tuple(k for k in KEYFRAMES if k < length),
        fps=25.0,
    )


RECORDING = [seg(0), seg(10), seg(20), seg(30)]


def offsets(parts: tuple[PlannedPart, ...]) -> list[tuple[str, float, float | None]]:
    return [(p.segment.path, p.start_offset, p.end_offset) for p in parts]


def test_window_inside_one_segment_snaps_out_to_the_surrounding_keyframes() -> None:
    plan = plan_cut("cam-1", RECORDING, at(13), at(15))
    assert offsets(plan.parts) == [("cam-1/10.ts", 2.0, 6.0)]
    assert (plan.delivered_start, plan.delivered_end) == (at(12), at(16))
    assert plan.gaps == () and plan.covers_request


def test_window_across_segments_takes_whole_middles_and_cut_ends() -> None:
    plan = plan_cut("cam-1", list(reversed(RECORDING)), at(5), at(33))
    assert offsets(plan.parts) == [
        ("cam-1/0.ts", 4.0, None),
        ("cam-1/10.ts", 0.0, None),
        ("cam-1/20.ts", 0.0, None),
        ("cam-1/30.ts", 0.0, 4.0),
    ]
    assert plan.delivered_start <= plan.requested_start
    assert plan.delivered_end >= plan.requested_end


def test_in_point_exactly_on_a_keyframe_starts_there() -> None:
    plan = plan_cut("cam-1", RECORDING, at(14), at(15))
    assert plan.parts[0].start_offset == 4.0
    assert plan.delivered_start == at(14)


def test_out_point_exactly_on_a_keyframe_stops_just_before_it() -> None:
    plan = plan_cut("cam-1", RECORDING, at(11), at(16))
    assert offsets(plan.parts) == [("cam-1/10.ts", 0.0, 6.0)]
    assert plan.delivered_end == at(16)


def test_out_point_after_the_last_keyframe_runs_to_the_segment_end() -> None:
    plan = plan_cut("cam-1", RECORDING, at(11), at(19))
    assert offsets(plan.parts) == [("cam-1/10.ts", 0.0, None)]
    assert plan.delivered_end == at(20)


def test_window_on_segment_edges_takes_only_the_segments_inside() -> None:
    plan = plan_cut("cam-1", RECORDING, at(10), at(30))
    assert offsets(plan.parts) == [("cam-1/10.ts", 0.0, None), ("cam-1/20.ts", 0.0, None)]
    assert (plan.delivered_start, plan.delivered_end) == (at(10), at(30))
    assert plan.gaps == ()


def test_window_ending_at_a_segment_start_leaves_that_segment_out() -> None:
    plan = plan_cut("cam-1", RECORDING, at(15), at(20))
    assert [p.segment.path for p in plan.parts] == ["cam-1/10.ts"]


def test_window_starting_at_a_segment_end_leaves_that_segment_out() -> None:
    plan = plan_cut("cam-1", RECORDING, at(20), at(22))
    assert offsets(plan.parts) == [("cam-1/20.ts", 0.0, 2.0)]


def test_gap_between_segments_is_reported_and_short_ones_are_not() -> None:
    segments = [seg(0), seg(10.5), seg(30)]  # 0.5 s drift, then 9.5 s without footage
    plan = plan_cut("cam-1", segments, at(5), at(35))
    assert [p.segment.path for p in plan.parts] == ["cam-1/0.ts", "cam-1/10.5.ts", "cam-1/30.ts"]
    assert plan.gaps == (
        Gap(at(20.5), at(30), "no recording (the agent was not running)", GapCause.AGENT_STOPPED),
    )
    assert not plan.covers_request


def test_gap_tolerance_is_a_parameter() -> None:
    segments = [seg(0), seg(12)]
    assert plan_cut("cam-1", segments, at(5), at(15)).gaps != ()
    assert plan_cut("cam-1", segments, at(5), at(15), timedelta(seconds=3)).gaps == ()


def test_window_reaching_outside_the_buffer_reports_gaps_at_both_ends() -> None:
    plan = plan_cut("cam-1", [seg(10), seg(20)], at(0), at(40))
    assert [(g.start, g.end, g.cause) for g in plan.gaps] == [
        (at(0), at(10), GapCause.BEFORE_BUFFER),
        (at(30), at(40), GapCause.BEFORE_BUFFER),
    ]
    assert plan.gaps[0].reason == "before the first recorded footage"
    assert plan.gaps[1].reason.startswith("after the last recorded footage")
    assert (plan.delivered_start, plan.delivered_end) == (at(10), at(30))


def test_each_gap_takes_the_cause_the_recorder_recorded() -> None:
    segments = [seg(0), seg(30), seg(40), seg(50), seg(60)]
    recorded = [
        Gap(at(10), at(30), "camera dropped: Connection reset", GapCause.CAMERA_UNREACHABLE),
        Gap(at(40), at(40), "camera timestamps jumped", GapCause.CAMERA_CLOCK_JUMP),
        Gap(at(44), at(47), "no frames from the camera", GapCause.STREAM_STALLED),
        Gap(at(70), at(90), "camera stalled: no data for 10 s", GapCause.STREAM_STALLED, True),
    ]
    plan = plan_cut("cam-1", segments, at(5), at(85), recorded_gaps=recorded)
    assert [(g.start, g.end, g.cause, g.reason) for g in plan.gaps] == [
        (at(10), at(30), GapCause.CAMERA_UNREACHABLE, "camera dropped: Connection reset"),
        (at(44), at(47), GapCause.STREAM_STALLED, "no frames from the camera"),
        (at(70), at(85), GapCause.STREAM_STALLED, "camera stalled: no data for 10 s"),
    ]


def test_footage_deleted_by_retention_is_said_to_be() -> None:
    # Retention deleted up to 0:40 except a pinned segment at 0:20; the window starts at 0:00.
    segments = [seg(20), seg(40), seg(50)]
    outage = Gap(at(30), at(33), "cannot connect", GapCause.CAMERA_UNREACHABLE)
    plan = plan_cut(
        "cam-1", segments, at(0), at(55), recorded_gaps=[outage], retention_horizon=at(40)
    )
    assert [(g.start, g.end, g.cause) for g in plan.gaps] == [
        (at(0), at(20), GapCause.RETENTION),
        (at(30), at(40), GapCause.RETENTION),  # 3 s of outage, then 7 s deleted
    ]


def test_window_without_footage_is_refused() -> None:
    with pytest.raises(WindowOutsideBuffer, match="cam-1 has no footage"):
        plan_cut("cam-1", RECORDING, at(100), at(110))
    with pytest.raises(WindowOutsideBuffer):
        plan_cut("cam-1", [], at(0), at(10))


def test_other_cameras_are_ignored() -> None:
    segments = [*RECORDING, seg(5, camera="cam-2"), seg(50, camera="cam-2")]
    plan = plan_cut("cam-1", segments, at(0), at(20))
    assert {p.segment.camera_id for p in plan.parts} == {"cam-1"}
    assert plan.camera_id == "cam-1"
    with pytest.raises(WindowOutsideBuffer):
        plan_cut("cam-1", segments, at(50), at(55))


def test_windows_up_to_24_hours_are_planned_and_longer_ones_refused() -> None:
    day = [seg(n * 10.0) for n in range(int(MAX_WINDOW.total_seconds()) // 10)]
    plan = plan_cut("cam-1", day, T0, T0 + MAX_WINDOW)
    assert len(plan.parts) == len(day) and plan.gaps == ()
    with pytest.raises(InvalidWindow, match="over the 24 h limit"):
        plan_cut("cam-1", day, T0, T0 + MAX_WINDOW + timedelta(seconds=1))


def test_naive_datetimes_are_refused() -> None:
    naive = datetime(2026, 11, 23, 10, 0)
    with pytest.raises(InvalidWindow, match="time zone"):
        plan_cut("cam-1", RECORDING, naive, naive + timedelta(seconds=5))
    with pytest.raises(InvalidWindow, match="time zone"):
        plan_cut("cam-1", RECORDING, at(0), naive + timedelta(seconds=5))


@pytest.mark.parametrize("end", [at(5), at(4)], ids=["empty", "reversed"])
def test_end_not_after_start_is_refused(end: datetime) -> None:
    with pytest.raises(InvalidWindow, match="is not after start"):
        plan_cut("cam-1", RECORDING, at(5), end)
