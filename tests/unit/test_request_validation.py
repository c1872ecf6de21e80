"""A request is checked in one pass and every problem is said in words an officer can act on."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from hub.domain.requests.request import (
    CameraRef,
    IncidentWindow,
    LawfulBasis,
    NvrChannelRef,
    Urgency,
    reference,
)
from hub.domain.requests.validation import (
    RequestLimits,
    RequestRefused,
    check_request,
)
from tests.support.request_kit import CAM1, CAM2, CATALOGUE, NOW, NVR4, draft, footage_request


def refused(**changes: object) -> tuple[str, ...]:
    with pytest.raises(RequestRefused) as caught:
        footage_request(**changes)
    return caught.value.problems


def test_a_good_request_is_built_with_utc_times_and_enums() -> None:
    made = footage_request(start=datetime(2024, 3, 2, 7, 0, tzinfo=timezone(timedelta(hours=1))))
    assert made.window.start == datetime(2024, 3, 2, 6, 0, tzinfo=UTC)
    assert made.window.start.tzinfo is UTC
    assert made.lawful_basis is LawfulBasis.LAW_ENFORCEMENT
    assert made.urgency is Urgency.ROUTINE
    assert made.cameras == (CAM1, CAM2)
    assert made.received_at == NOW
    assert made.police_reference == "CR/012345/24"
    assert made.may_see("dc-smith") and made.may_see("dc-brown") and not made.may_see("dc-x")


def test_reference_reads_r_and_number() -> None:
    assert reference(12) == "R-12"


def test_text_is_stripped() -> None:
    made = footage_request(officer_name="  Jane Smith \t", notes="\n note \n")
    assert made.officer.name == "Jane Smith"
    assert made.notes == "note"


def test_an_incident_log_number_is_enough() -> None:
    made = footage_request(crime_reference="", incident_log="0412 of 02/03/2024")
    assert made.police_reference == "0412 of 02/03/2024"


def test_neither_crime_reference_nor_incident_log_is_refused() -> None:
    assert "give a crime reference or an incident log number" in refused(
        crime_reference="  ", incident_log=""
    )


def test_window_in_the_future_says_when_and_now() -> None:
    problems = refused(start=NOW + timedelta(hours=1), end=NOW + timedelta(hours=2))
    assert problems == (
        "the window starts at 10:00 on Sat 2 Mar 2024, in the future (it is now 09:00 on Sat "
        "2 Mar 2024): footage cannot be asked for before it is recorded",
    )


def test_window_ending_in_the_future_is_refused() -> None:
    (problem,) = refused(start=NOW - timedelta(hours=1), end=NOW + timedelta(minutes=30))
    assert problem.startswith("the window ends at 09:30 on Sat 2 Mar 2024, in the future")


def test_window_ending_now_within_the_clock_tolerance_is_accepted() -> None:
    made = footage_request(start=NOW - timedelta(minutes=5), end=NOW + timedelta(seconds=90))
    assert made.window.length == timedelta(minutes=6, seconds=30)


@pytest.mark.parametrize("end_offset", [timedelta(0), timedelta(minutes=-10)])
def test_end_at_or_before_start_is_refused(end_offset: timedelta) -> None:
    start = NOW - timedelta(hours=1)
    (problem,) = refused(start=start, end=start + end_offset)
    assert "at or before it starts" in problem


def test_window_longer_than_the_limit_is_refused() -> None:
    (problem,) = refused(start=NOW - timedelta(hours=30), end=NOW - timedelta(hours=1))
    assert problem == "the window is 29 h long; at most 24 h may be asked for in one request"


def test_the_limit_is_configurable() -> None:
    limits = RequestLimits(max_window=timedelta(hours=2))
    with pytest.raises(RequestRefused, match="at most 2 h may be asked"):
        check_request(
            draft(start=NOW - timedelta(hours=3), end=NOW),
            catalogue=CATALOGUE,
            requested_by="a",
            filed_by="a",
            now=NOW,
            limits=limits,
        )


def test_naive_times_are_refused_not_guessed() -> None:
    problems = refused(start=datetime(2024, 3, 2, 6, 0), end=datetime(2024, 3, 2, 7, 0))
    assert problems == (
        "the window's start has no time zone: local to whom?",
        "the window's end has no time zone: local to whom?",
    )


def test_missing_times_are_refused() -> None:
    assert refused(start=None) == ("the incident window needs a start and an end time",)


def test_unknown_camera_and_site_are_named() -> None:
    problems = refused(cameras=(CameraRef("town-centre", "cam-9"), CameraRef("nowhere", "cam-1")))
    assert problems == (
        "site 'town-centre' has no camera 'town-centre/cam-9'",
        "there is no site 'nowhere'",
    )


def test_unknown_nvr_channel_is_refused_and_a_known_one_accepted() -> None:
    assert footage_request(cameras=(NVR4,)).cameras == (NVR4,)
    (problem,) = refused(cameras=(NvrChannelRef("bus-station", "nvr-1", 5),))
    assert problem == "site 'bus-station' has no camera 'bus-station/nvr-1 channel 5'"


@pytest.mark.parametrize("channel", [0, -1, 5000, True])
def test_bad_nvr_channel_numbers_are_refused(channel: int) -> None:
    (problem,) = refused(cameras=(NvrChannelRef("bus-station", "nvr-1", channel),))
    assert "is not a channel number" in problem


@pytest.mark.parametrize("hostile", ["../etc", "cam/1", "cam+", "#", "", "a" * 65, "cam\n1"])
def test_hostile_camera_ids_are_refused(hostile: str) -> None:
    (problem,) = refused(cameras=(CameraRef("town-centre", hostile),))
    assert "is not a valid id" in problem
    assert "\n" not in problem.replace("\\n", "")


def test_no_camera_and_a_repeated_camera_are_refused() -> None:
    assert refused(cameras=()) == ("pick at least one camera",)
    assert refused(cameras=(CAM1, CAM1)) == ("camera town-centre/cam-1 is picked twice",)


def test_too_many_cameras_is_refused_without_checking_thousands() -> None:
    many = tuple(CameraRef("town-centre", f"cam-{n}") for n in range(10_000))
    problems = refused(cameras=many)
    assert problems[0] == "10000 cameras were picked; at most 16 may be in one request"
    assert len(problems) < 20


@pytest.mark.parametrize(
    ("field", "value", "expected"),
    [
        ("officer_name", "Jane\r\nBcc: all@example.com", "write it on one line"),
        ("force", "", "the force is required"),
        ("rank", "x" * 121, "is 121 characters long; at most 120"),
        ("collar_number", "4521\x00", "control character"),
        ("offence", "theft\u202e", "control character"),
        ("crime_reference", "CR\n1", "write it on one line"),
        ("notes", "x" * 4001, "at most 4000"),
        ("notes", "bell\x07", "the notes contains a control character"),
        ("contact", "", "a contact e-mail address is required"),
        ("contact", "jane@", "is not an e-mail address"),
        ("contact", "a@b.uk\r\nBcc: x@y.uk", "is not an e-mail address"),
        ("contact", "Jane <jane@x.uk>", "is not an e-mail address"),
        ("contact", "a@b.uk, c@d.uk", "is not an e-mail address"),
        ("lawful_basis", "because", "the lawful basis 'because' is not one of: dpa2018"),
        ("urgency", "urgent!!", "the urgency 'urgent!!' is not one of: routine, priority"),
    ],
)
def test_hostile_or_missing_text_is_refused(field: str, value: str, expected: str) -> None:
    problems = refused(**{field: value})
    assert any(expected in problem for problem in problems), problems


def test_a_huge_value_is_not_echoed_in_full() -> None:
    (problem,) = refused(contact="x" * 100_000 + "@x.uk")
    assert len(problem) < 200


def test_notes_may_have_several_lines() -> None:
    assert footage_request(notes="line one\nline two").notes == "line one\nline two"


def test_every_problem_is_reported_at_once() -> None:
    problems = refused(force="", contact="nope", cameras=(), urgency="x", start=None)
    assert len(problems) == 5
    assert str(RequestRefused(problems)) == "; ".join(problems)


def test_colleagues_are_checked_deduplicated_and_exclude_the_requester() -> None:
    made = footage_request(colleagues=("dc-brown", " dc-brown ", "dc-smith", ""))
    assert made.colleagues == ("dc-brown",)
    (problem,) = refused(colleagues=("dc brown",))
    assert problem.startswith("colleague 'dc brown' is not a user name")
    assert refused(colleagues=tuple(f"u{n}" for n in range(21)))[0].startswith("at most 20")


def test_bad_requesting_user_is_refused() -> None:
    with pytest.raises(RequestRefused, match="the requesting user"):
        check_request(draft(), catalogue=CATALOGUE, requested_by="../x", filed_by="op", now=NOW)


def test_an_operator_may_file_for_an_officer() -> None:
    made = check_request(
        draft(), catalogue=CATALOGUE, requested_by="dc-smith", filed_by="op-1", now=NOW
    )
    assert (made.requested_by, made.filed_by) == ("dc-smith", "op-1")


def test_window_contains_and_overlaps() -> None:
    outer = IncidentWindow(NOW - timedelta(hours=2), NOW)
    inner = IncidentWindow(NOW - timedelta(hours=1), NOW - timedelta(minutes=30))
    after = IncidentWindow(NOW, NOW + timedelta(hours=1))
    assert outer.contains(inner) and not inner.contains(outer)
    assert outer.overlaps(inner) and not outer.overlaps(after)


def test_lawful_bases_and_urgencies_have_labels_and_ranks() -> None:
    assert "Part 3, s.35" in LawfulBasis.LAW_ENFORCEMENT.label
    assert "Schedule 2, Part 1, paragraph 2" in LawfulBasis.CRIME_EXEMPTION.label
    order = (Urgency.THREAT_TO_LIFE, Urgency.PRIORITY, Urgency.ROUTINE)
    assert [u.rank for u in order] == [0, 1, 2]
    assert Urgency.THREAT_TO_LIFE.label == "threat to life"
