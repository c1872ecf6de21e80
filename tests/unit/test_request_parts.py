"""The split of a long window into parts and a camera's progress over its parts."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from hub.domain.requests.decision import clip_jobs
from hub.domain.requests.parts import PartJob, camera_parts, split_window
from hub.domain.requests.request import CameraRef, IncidentWindow
from tests.unit.test_request_decision import REQUEST

T0 = datetime(2026, 3, 14, 22, 0, tzinfo=UTC)
HALF = timedelta(minutes=30)


def window(minutes: float, start: datetime = T0) -> IncidentWindow:
    return IncidentWindow(start, start + timedelta(minutes=minutes))


def test_a_window_shorter_than_a_part_is_one_part() -> None:
    assert split_window(window(12), HALF) == (window(12),)


def test_an_exact_multiple_gives_whole_parts_and_no_empty_tail() -> None:
    parts = split_window(window(120), HALF)
    assert len(parts) == 4 and all(p.length == HALF for p in parts)
    assert parts[0].start == T0 and parts[-1].end == T0 + timedelta(hours=2)


def test_the_last_part_takes_the_remainder_and_parts_are_consecutive() -> None:
    parts = split_window(window(95), HALF)
    assert [p.length for p in parts] == [HALF, HALF, HALF, timedelta(minutes=5)]
    assert all(a.end == b.start for a, b in itertools.pairwise(parts))


def test_a_dst_day_splits_real_time_not_wall_clock_time() -> None:
    # 29 March 2026: UK clocks go forward at 01:00 GMT; 00:30 to 03:30 local is 2 h of real time.
    london = ZoneInfo("Europe/London")
    start = datetime(2026, 3, 29, 0, 30, tzinfo=london)
    end = datetime(2026, 3, 29, 3, 30, tzinfo=london)
    parts = split_window(IncidentWindow(start, end), HALF)
    assert len(parts) == 4 and all(p.length == HALF for p in parts)
    assert all(p.start.utcoffset() == timedelta(0) for p in parts)
    assert parts[-1].end == end.astimezone(UTC)
    # And back in October: 00:30 to 01:30 local is 2 h (01:00 to 02:00 BST happens twice).
    autumn = IncidentWindow(
        datetime(2026, 10, 25, 0, 30, tzinfo=london),
        datetime(2026, 10, 25, 1, 30, fold=1, tzinfo=london),
    )
    assert len(split_window(autumn, HALF)) == 4


def test_a_part_must_have_a_length() -> None:
    with pytest.raises(ValueError, match="longer than zero"):
        split_window(window(60), timedelta(0))


def test_jobs_go_out_part_by_part_in_time_order_with_the_requests_priority() -> None:
    cameras = REQUEST.cameras
    specs = clip_jobs("R-7", REQUEST, cameras, window(60), HALF)
    assert [(s.window.start, s.camera) for s in specs] == [
        (T0, cameras[0]),
        (T0, cameras[1]),
        (T0 + HALF, cameras[0]),
        (T0 + HALF, cameras[1]),
    ]
    assert {s.urgency for s in specs} == {REQUEST.urgency}
    assert clip_jobs("R-7", REQUEST, cameras, window(60), None)[0].window == window(60)


def job(
    part: IncidentWindow,
    *,
    stored: bool = False,
    running: bool = True,
    percent: int = 0,
    minutes_ago: float = 10,
) -> PartJob:
    now = T0 + timedelta(hours=3)
    return PartJob(
        part, stored, running and not stored, percent, now - timedelta(minutes=minutes_ago)
    )


NOW = T0 + timedelta(hours=3)


def test_progress_counts_stored_parts_and_estimates_from_the_measured_pace() -> None:
    parts = split_window(window(120), HALF)
    jobs = [job(parts[0], stored=True), job(parts[1], percent=50), job(parts[2]), job(parts[3])]
    progress = camera_parts(parts, jobs, NOW)
    assert (progress.stored, progress.total, progress.percent) == (1, 4, 38)
    # 150 of 400 units in 10 minutes: 250 more take about 16.7 minutes.
    assert progress.estimate_seconds_left == 1000
    assert progress.missing == parts[1:] and not progress.complete


def test_no_estimate_before_any_pace_or_when_a_part_has_nothing_running() -> None:
    parts = split_window(window(60), HALF)
    assert camera_parts(parts, [job(parts[0]), job(parts[1])], NOW).estimate_seconds_left is None
    failed = [job(parts[0], stored=True), job(parts[1], running=False)]
    stalled = camera_parts(parts, failed, NOW)
    assert stalled.estimate_seconds_left is None and stalled.percent == 50
    assert camera_parts(parts, [], NOW).stored == 0


def test_a_rerun_or_a_longer_job_covers_the_parts_it_spans_and_never_shows_100_early() -> None:
    parts = split_window(window(60), HALF)
    whole = camera_parts(parts, [job(window(60), stored=True)], NOW)
    assert whole.complete and whole.percent == 100 and whole.estimate_seconds_left is None
    almost = camera_parts(
        split_window(window(30 * 300), HALF),
        [job(window(30 * 299), stored=True), job(window(30, T0 + 299 * HALF), percent=99)],
        NOW,
    )
    assert almost.percent == 99 and not almost.complete
    camera = CameraRef("town-centre", "cam-1")
    assert camera.label == "town-centre/cam-1"
