"""What each camera still holds of a request window, said at once and in local time."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hub.domain.requests import wording
from hub.domain.requests.coverage import BufferSpan, camera_coverage, request_coverage
from hub.domain.requests.request import IncidentWindow
from tests.support.request_kit import CAM1, CAM2, CAM3, NVR4, at

WINDOW = IncidentWindow(at(6, 4), at(6, 34))


def test_the_issue_example_reads_as_written() -> None:
    found = camera_coverage(CAM3, WINDOW, [BufferSpan(at(6, 24), at(8, 0))])
    assert found.messages[0] == (
        "town-centre/cam-3 holds footage from 06:24 only: 20 min of the window are gone"
    )
    assert found.missing == (BufferSpan(at(6, 4), at(6, 24)),)
    assert found.missing_length == timedelta(minutes=20)
    assert not found.complete


def test_a_fully_held_window_is_complete_but_may_be_at_risk() -> None:
    found = camera_coverage(CAM1, WINDOW, [BufferSpan(at(1, 4), at(8, 0))])
    assert found.complete
    assert found.overwrite_in == timedelta(hours=5)
    assert found.messages == (
        "town-centre/cam-1 will overwrite the start of the window in about 5 h unless the "
        "request is approved (which holds it)",
    )


def test_no_warning_when_the_start_is_days_from_being_overwritten() -> None:
    found = camera_coverage(CAM1, WINDOW, [BufferSpan(at(6, day=1) - timedelta(days=20), at(8))])
    assert found.complete and found.messages == ()


def test_a_window_wholly_overwritten() -> None:
    found = camera_coverage(CAM1, WINDOW, [BufferSpan(at(7, 0), at(8, 0))])
    assert found.messages == (
        "town-centre/cam-1 holds footage from 07:00 only: the whole window (30 min) is gone",
    )


def test_a_window_after_the_newest_footage() -> None:
    found = camera_coverage(CAM1, WINDOW, [BufferSpan(at(1, 0), at(5, 0))])
    assert found.messages[0] == (
        "town-centre/cam-1 has footage up to 05:00 only: none of the window (30 min) was recorded"
    )


def test_missing_end_and_middle_are_named() -> None:
    spans = [BufferSpan(at(6, 0), at(6, 10)), BufferSpan(at(6, 15), at(6, 25))]
    found = camera_coverage(CAM2, WINDOW, spans, at_risk=timedelta(0))
    assert found.messages == (
        "town-centre/cam-2 has no footage 06:10-06:15 (5 min of the window)",
        "town-centre/cam-2 has footage up to 06:25 only: the last 9 min of the window are missing",
    )


def test_short_gaps_are_within_the_tolerance() -> None:
    spans = [BufferSpan(at(6, 0), at(6, 10)), BufferSpan(at(6, 11), at(6, 33))]
    found = camera_coverage(CAM2, WINDOW, spans, at_risk=timedelta(0))
    assert found.complete and found.messages == ()


def test_overlapping_unsorted_and_backwards_spans_are_merged_safely() -> None:
    spans = [
        BufferSpan(at(6, 20), at(7, 0)),
        BufferSpan(at(6, 0), at(6, 25)),
        BufferSpan(at(9, 0), at(8, 0)),  # backwards: ignored
    ]
    assert camera_coverage(CAM1, WINDOW, spans, at_risk=timedelta(0)).complete


def test_unknown_and_empty_spans() -> None:
    unknown = camera_coverage(NVR4, WINDOW, None)
    assert not unknown.known and not unknown.complete
    assert unknown.messages == (
        "bus-station/nvr-1 channel 4 has not reported what it holds: the window may or may not "
        "be there",
    )
    empty = camera_coverage(CAM1, WINDOW, [])
    assert empty.missing_length == timedelta(minutes=30)
    assert "holds no footage at all" in empty.messages[0]


def test_request_coverage_keeps_the_cameras_order() -> None:
    found = request_coverage([CAM3, CAM1], WINDOW, {CAM1: [BufferSpan(at(0), at(8))], CAM3: None})
    assert [item.camera for item in found] == [CAM3, CAM1]


def test_times_are_uk_local_in_summer() -> None:
    window = IncidentWindow(
        datetime(2024, 7, 1, 5, 0, tzinfo=UTC), datetime(2024, 7, 1, 6, 0, tzinfo=UTC)
    )
    spans = [BufferSpan(datetime(2024, 7, 1, 5, 24, tzinfo=UTC), window.end)]
    found = camera_coverage(CAM3, window, spans)
    assert found.messages[0].startswith("town-centre/cam-3 holds footage from 06:24 only: 24 min")


def test_a_start_on_another_day_is_dated() -> None:
    window = IncidentWindow(at(23, 50, day=1), at(0, 20))
    found = camera_coverage(CAM1, window, [BufferSpan(at(0, 5), at(1, 0))])
    assert found.messages[0] == (
        "town-centre/cam-1 holds footage from 00:05 on Sat 2 Mar 2024 only: 15 min of the "
        "window are gone"
    )


def test_wording_of_durations() -> None:
    cases = {
        timedelta(seconds=45): "45 s",
        timedelta(minutes=20, seconds=40): "21 min",
        timedelta(hours=1, minutes=5): "1 h 5 min",
        timedelta(hours=2): "2 h",
        timedelta(days=3, hours=2): "3 days 2 h",
        timedelta(days=31): "31 days",
    }
    assert {length: wording.duration(length) for length in cases} == cases


def test_wording_names_the_zone_on_changeover_days() -> None:
    # 27 Oct 2024: 01:30 happens twice in the UK.
    first = datetime(2024, 10, 27, 0, 30, tzinfo=UTC)
    second = datetime(2024, 10, 27, 1, 30, tzinfo=UTC)
    assert wording.clock_time(first) == "01:30 BST on Sun 27 Oct 2024"
    assert wording.clock_time(second) == "01:30 GMT on Sun 27 Oct 2024"
    assert wording.span(at(6), at(6, 30)) == "06:00-06:30 on Sat 2 Mar 2024"
    assert wording.span(at(23, day=1), at(1)) == "23:00 on Fri 1 Mar 2024 - 01:00 on Sat 2 Mar 2024"
    assert wording.long_date(at(6)) == "Saturday 2 March 2024"
    assert wording.clock_time(at(6) + timedelta(seconds=5), on=at(6).date()) == "06:00:05"
