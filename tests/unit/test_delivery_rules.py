"""Coverage arithmetic of a stored clip against its requested window (hub.domain.delivery_rules)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from cctv_common.evidence.manifest import GapCause
from hub.domain.delivery_rules import (
    AFTER_CLIP_WORDS,
    BEFORE_CLIP_WORDS,
    GapFact,
    assess,
    duration_text,
    gap_text,
)

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def window(start: float, end: float) -> tuple[datetime, datetime]:
    return at(start), at(end)


def gap(start: float, end: float, cause: GapCause | None = None, reason: str = "") -> GapFact:
    return GapFact(at(start), at(end), reason, cause)


def test_a_whole_window_is_complete() -> None:
    delivery = assess(window(0, 900), window(0, 900), [], frames=22_500)
    assert delivery.complete
    assert (delivery.requested_seconds, delivery.covered_seconds) == (900, 900)
    assert delivery.gaps == ()
    assert delivery.frames == 22_500
    assert delivery.summary == "all 15 min"


def test_keyframe_alignment_wider_than_the_request_counts_only_the_requested_part() -> None:
    # The cut starts on the keyframe 0.9 s before the start and ends 0.7 s after the end.
    delivery = assess(window(0, 20), window(-0.9, 20.7), [])
    assert delivery.complete
    assert delivery.covered_seconds == 20
    assert delivery.summary == "all 20 s"


def test_a_gap_in_the_keyframe_pre_roll_is_not_shown() -> None:
    delivery = assess(window(0, 20), window(-3, 20), [gap(-2.5, -1, GapCause.STREAM_STALLED)])
    assert delivery.complete and delivery.gaps == ()


def test_a_window_partly_before_the_buffer() -> None:
    delivery = assess(window(0, 900), window(140, 900), [gap(0, 140, GapCause.BEFORE_BUFFER)])
    assert not delivery.complete
    assert delivery.covered_seconds == 760
    assert delivery.summary == "12 min 40 s of 15 min; 1 gap"
    (shown,) = delivery.gaps
    assert (shown.start, shown.end, shown.seconds) == (at(0), at(140), 140)
    assert shown.cause is GapCause.BEFORE_BUFFER
    assert shown.words == "before the oldest footage the site held"
    assert shown.missing


def test_an_older_manifest_gives_its_reason_in_words() -> None:
    delivery = assess(
        window(0, 60), window(10, 60), [gap(0, 10, reason="before the first recorded footage")]
    )
    (shown,) = delivery.gaps
    assert shown.cause is None
    assert shown.words == "before the first recorded footage"
    assert delivery.covered_seconds == 50


@pytest.mark.parametrize(
    ("where", "gap_span", "delivered"),
    [
        ("start", (0, 12), (12, 60)),
        ("middle", (20, 32), (0, 60)),
        ("end", (48, 60), (0, 48)),
    ],
)
def test_gaps_at_the_start_middle_and_end(
    where: str, gap_span: tuple[float, float], delivered: tuple[float, float]
) -> None:
    delivery = assess(
        window(0, 60), window(*delivered), [gap(*gap_span, GapCause.CAMERA_UNREACHABLE)]
    )
    assert not delivery.complete, where
    assert delivery.covered_seconds == 48
    assert [(g.start, g.end) for g in delivery.gaps] == [(at(gap_span[0]), at(gap_span[1]))]
    assert delivery.gaps[0].words == "camera unreachable"
    assert delivery.summary == "48 s of 1 min; 1 gap"


def test_overlapping_gaps_are_not_counted_twice() -> None:
    gaps = [gap(10, 30, GapCause.CAMERA_UNREACHABLE), gap(20, 40, GapCause.STREAM_STALLED)]
    delivery = assess(window(0, 60), window(0, 60), gaps)
    assert delivery.covered_seconds == 30  # 10..40 is missing, once
    assert len(delivery.gaps) == 2  # both causes are shown
    assert delivery.summary == "30 s of 1 min; 2 gaps"


def test_a_zero_length_gap_loses_nothing() -> None:
    delivery = assess(window(0, 60), window(0, 60), [gap(30, 30, GapCause.CAMERA_UNREACHABLE)])
    assert delivery.complete and delivery.gaps == ()
    assert delivery.covered_seconds == 60


def test_a_gap_reaching_outside_the_window_is_clipped() -> None:
    delivery = assess(
        window(0, 60), window(-1, 61), [gap(-5, 5, GapCause.AGENT_STOPPED), gap(55, 70)]
    )
    assert [(g.start, g.end) for g in delivery.gaps] == [(at(0), at(5)), (at(55), at(60))]
    assert delivery.covered_seconds == 50
    assert delivery.gaps[1].words == "no footage"  # no cause and no reason


def test_a_clock_jump_is_a_note_not_missing_footage() -> None:
    delivery = assess(window(0, 60), window(0, 60), [gap(20, 21.5, GapCause.CAMERA_CLOCK_JUMP)])
    assert delivery.complete
    assert delivery.covered_seconds == 60
    (note,) = delivery.gaps
    assert not note.missing and note.words == "camera clock jumped (no frames lost)"
    assert delivery.summary == "all 1 min"


def test_a_clock_jump_beside_a_real_gap() -> None:
    gaps = [gap(5, 6, GapCause.CAMERA_CLOCK_JUMP), gap(30, 40, GapCause.DISK_FULL)]
    delivery = assess(window(0, 60), window(0, 60), gaps)
    assert not delivery.complete
    assert delivery.missing_gaps == 1
    assert delivery.summary == "50 s of 1 min; 1 gap"


def test_edges_the_manifest_does_not_explain_are_shown() -> None:
    # The agent lists edge gaps only over its own tolerance (1 s): a 0.8 s shortfall at each
    # end has no gap in the manifest, but the requester is still told.
    delivery = assess(window(0, 20), window(0.8, 19.2), [])
    assert not delivery.complete
    assert [g.words for g in delivery.gaps] == [BEFORE_CLIP_WORDS, AFTER_CLIP_WORDS]
    assert delivery.covered_seconds == pytest.approx(18.4)
    assert delivery.summary == "18.4 s of 20 s; 2 gaps"


def test_an_edge_explained_by_a_gap_is_not_shown_twice() -> None:
    delivery = assess(window(0, 60), window(10, 60), [gap(0, 10, GapCause.BEFORE_BUFFER)])
    assert len(delivery.gaps) == 1
    # A gap that explains only part of the edge: the rest is shown too.
    delivery = assess(window(0, 60), window(10, 60), [gap(0, 4, GapCause.RETENTION)])
    assert [(g.start, g.end, g.words) for g in delivery.gaps] == [
        (at(0), at(4), "footage already deleted by retention"),
        (at(4), at(10), BEFORE_CLIP_WORDS),
    ]
    assert delivery.covered_seconds == 50


def test_a_frame_short_at_the_edges_is_not_a_gap() -> None:
    delivery = assess(window(0, 20), window(0.04, 19.96), [])
    assert delivery.complete and delivery.gaps == ()


def test_a_delivery_that_misses_the_window_entirely() -> None:
    delivery = assess(window(0, 60), window(100, 160), [])
    assert not delivery.complete
    assert delivery.covered_seconds == 0
    assert delivery.summary == "0 s of 1 min; 1 gap"


def test_covered_time_is_rounded_down_in_words() -> None:
    delivery = assess(window(0, 900), window(0, 899.7), [gap(899.7, 900, GapCause.AGENT_STOPPED)])
    assert delivery.summary == "14 min 59 s of 15 min; 1 gap"
    short = assess(window(0, 20), window(0, 19.97), [gap(19.97, 20, GapCause.AGENT_STOPPED)])
    assert short.summary == "19.9 s of 20 s; 1 gap"


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (0, "0 s"),
        (0.4, "0.4 s"),
        (19.5, "19.5 s"),
        (20, "20 s"),
        (59.97, "1 min"),
        (60, "1 min"),
        (760, "12 min 40 s"),
        (900, "15 min"),
        (3600, "1 h"),
        (3725, "1 h 2 min 5 s"),
        (86400, "24 h"),
    ],
)
def test_duration_text(seconds: float, text: str) -> None:
    assert duration_text(seconds) == text


@pytest.mark.parametrize(
    ("seconds", "text"), [(0.01, "0.1 s"), (0.04, "0.1 s"), (12.31, "12.4 s"), (60.2, "1 min 1 s")]
)
def test_gap_lengths_round_up(seconds: float, text: str) -> None:
    assert gap_text(seconds) == text


def test_the_source_of_a_clip_in_words_from_its_manifest() -> None:
    from hub.domain.delivery_rules import source_words

    assert source_words(None) == "site buffer"
    nvr = {"method": "onvif-replay", "nvr_id": "nvr-1", "manufacturer": "Acme", "model": "N8",
           "channel": 3}  # fmt: skip
    assert source_words(nvr) == "NVR nvr-1, Acme N8, channel 3 (ONVIF replay)"
    assert source_words({"method": "dahua-playback", "nvr_id": "d"}) == (
        "NVR d (Dahua playback URL)"
    )
