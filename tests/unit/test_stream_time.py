"""The stream time model on synthetic packet streams: jumps, wraps, stuck and repeated stamps."""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from fractions import Fraction

import pytest

from edge_agent.recording.stream_time import (
    JUMP_TOLERANCE_SECONDS,
    PacketKind,
    Placed,
    StreamTime,
    TimeEvent,
    unwrapped_step,
)

TB = Fraction(1, 90000)
FRAME = 3600  # 25 fps at 90 kHz
FPS = 25


@dataclass
class Sent:
    """One packet as the demuxer hands it over."""

    pts: int
    dts: int
    arrival: float
    starts_picture: bool | None = True
    identical: bool = False


def steady(
    count: int, first_dts: int = 0, first_arrival: float = 0.0, jitter: float = 0.0
) -> Iterator[Sent]:
    for n in range(count):
        wobble = jitter if n % 3 == 1 else 0.0
        dts = first_dts + n * FRAME
        yield Sent(dts, dts, first_arrival + n / FPS + wobble)


def run(packets: Iterable[Sent], gap_tolerance: float = 1.0) -> list[Placed]:
    model = StreamTime(TB, FRAME, gap_tolerance)
    return [
        model.place(p.pts, p.dts, p.arrival, starts_picture=p.starts_picture, identical=p.identical)
        for p in packets
    ]


def frames(placed: list[Placed]) -> list[Placed]:
    return [p for p in placed if p.kind is PacketKind.FRAME]


def assert_continuous(placed: list[Placed], step: int = FRAME) -> None:
    """Every frame follows the one before by exactly one frame period."""
    dts = [p.dts for p in frames(placed)]
    assert [b - a for a, b in itertools.pairwise(dts)] == [step] * (len(dts) - 1)


def test_a_steady_stream_keeps_the_cameras_timestamps() -> None:
    sent = list(steady(250, first_dts=123_456, jitter=0.03))
    placed = run(sent)
    assert [(p.pts, p.dts) for p in placed] == [(s.pts, s.dts) for s in sent]
    assert all(p.event is None and p.hole_seconds == 0 for p in placed)


def test_a_backward_jump_is_one_new_anchor_and_no_frame_is_lost() -> None:
    # A second client joins a shared mount: the server restarts the timestamps 114.16 s back.
    before = list(steady(3000))
    after = list(steady(500, first_dts=0, first_arrival=3000 / FPS))
    placed = run(before + after)
    assert len(frames(placed)) == 3500
    assert_continuous(placed)
    events = [p for p in placed if p.event is not None]
    assert len(events) == 1, "only the packet at the jump is a jump, not every packet after it"
    assert events[0].event is TimeEvent.BACKWARD_JUMP
    assert events[0].camera_step == pytest.approx(-(2999 * FRAME) / 90000)
    assert events[0].hole_seconds == 0


def test_two_joins_in_a_row_are_two_jumps() -> None:
    sent = [*steady(100), *steady(100, 0, 100 / FPS), *steady(100, 0, 200 / FPS)]
    placed = run(sent)
    assert [p.event for p in placed if p.event] == [TimeEvent.BACKWARD_JUMP] * 2
    assert_continuous(placed)


def test_a_forward_jump_with_frames_arriving_on_time_is_not_a_hole() -> None:
    sent = [*steady(100), *steady(100, first_dts=100 * FRAME + 300 * 90000, first_arrival=4.0)]
    placed = run(sent)
    assert [p.event for p in placed if p.event] == [TimeEvent.FORWARD_JUMP]
    assert_continuous(placed)
    assert all(p.hole_seconds == 0 for p in placed)


def test_a_real_stall_keeps_its_time_and_is_reported_as_a_hole() -> None:
    # The camera sends nothing for 5 s and its timestamps say the same: a hole, not a jump.
    sent = [*steady(50), *steady(50, first_dts=50 * FRAME + 5 * 90000, first_arrival=7.0)]
    placed = run(sent)
    assert all(p.event is None for p in placed)
    hole = [p for p in placed if p.hole_seconds]
    assert len(hole) == 1
    assert hole[0].hole_seconds == pytest.approx(5.0)
    assert placed[50].dts - placed[49].dts == FRAME + 5 * 90000


def test_a_jump_after_an_outage_keeps_the_outage_on_the_timeline() -> None:
    # The camera rebooted: 20 s without frames, then timestamps from zero again.
    sent = [*steady(100, first_dts=10**9), *steady(100, first_dts=0, first_arrival=24.0)]
    placed = run(sent)
    jump = placed[100]
    assert jump.event is TimeEvent.BACKWARD_JUMP
    assert jump.hole_seconds == pytest.approx(24.0 - 99 / FPS - 1 / FPS, abs=1e-3)
    assert jump.dts - placed[99].dts == round((24.0 - 99 / FPS) * 90000)


@pytest.mark.parametrize("bits", [33, 32])
def test_a_timestamp_wrap_is_a_normal_step(bits: int) -> None:
    modulus = 1 << bits
    first = modulus - 50 * FRAME
    sent = [Sent(s.pts % modulus, s.dts % modulus, s.arrival) for s in steady(100, first)]
    placed = run(sent)
    assert_continuous(placed)
    assert [p.event for p in placed if p.event] == [TimeEvent.WRAP]
    assert placed[-1].dts == first + 99 * FRAME, "the timeline goes on past the wrap"


def test_stuck_timestamps_are_stepped_by_the_last_frame_period() -> None:
    stuck = [Sent(100 * FRAME, 100 * FRAME, 4.0 + n / FPS) for n in range(1, 51)]
    sent = [*steady(101), *stuck, *steady(50, 101 * FRAME, 6.04)]
    placed = run(sent)
    assert len(frames(placed)) == 201
    assert_continuous(placed[:151])
    assert {p.event for p in placed[101:151]} == {TimeEvent.STUCK}
    dts = [p.dts for p in placed]
    assert dts == sorted(dts) and len(set(dts)) == len(dts)


def test_b_frames_keep_their_presentation_order() -> None:
    # I P B B P B B ... in decode order: pts = dts + 2 frames for I/P, dts + 0 for B ... as
    # x264 writes them with a one-frame decode delay.
    order = [0, 3, 1, 2, 6, 4, 5, 9, 7, 8]
    sent = []
    for n, display in enumerate(order * 3):
        cycle = n // len(order)
        pts = (display + 1 + cycle * len(order)) * FRAME
        dts = n * FRAME
        if cycle == 2:  # the camera's clock jumps back by an hour before the third run
            pts -= 3600 * 90000
            dts -= 3600 * 90000
        sent.append(Sent(pts, dts, n / FPS))
    placed = run(sent)
    assert_continuous(placed)
    for s, p in zip(sent, placed, strict=True):
        assert p.pts - p.dts == s.pts - s.dts
    assert [p.event for p in placed if p.event] == [TimeEvent.BACKWARD_JUMP]


def test_duplicated_packets_are_marked_and_parts_of_one_frame_share_its_timestamps() -> None:
    sent = list(steady(10))
    dup = Sent(sent[4].pts, sent[4].dts, sent[4].arrival + 0.001, identical=True)
    part = Sent(sent[6].pts, sent[6].dts, sent[6].arrival, starts_picture=False)
    unknown = Sent(sent[8].pts, sent[8].dts, sent[8].arrival, starts_picture=None)
    placed = run([*sent[:5], dup, *sent[5:7], part, *sent[7:9], unknown, sent[9]])
    kinds = [p.kind for p in placed]
    assert kinds.count(PacketKind.DUPLICATE) == 1
    assert kinds.count(PacketKind.CONTINUATION) == 2
    assert placed[5].dts == placed[4].dts and placed[8].dts == placed[7].dts
    assert_continuous(placed)
    assert len(frames(placed)) == 10


def test_a_small_forward_step_within_the_arrival_gap_is_not_a_jump() -> None:
    # Frames that come late in a burst: the timestamps are right, only the network was slow.
    sent = list(steady(20))
    late = [Sent(s.pts, s.dts, 1.5) for s in steady(20, 20 * FRAME)]
    placed = run(sent + late)
    assert all(p.event is None for p in placed)
    assert [p.dts for p in placed] == [s.dts for s in sent + late]


def test_the_jump_tolerance_separates_jitter_from_jumps() -> None:
    limit = JUMP_TOLERANCE_SECONDS
    for extra, jumped in ((limit * 0.8, False), (limit * 1.5, True)):
        step = FRAME + round(extra * 90000)
        sent = [Sent(0, 0, 0.0), Sent(step, step, 0.04)]
        placed = run(sent)
        assert (placed[1].event is TimeEvent.FORWARD_JUMP) is jumped


def test_unwrapped_step() -> None:
    assert unwrapped_step(3600) == (3600, False)
    assert unwrapped_step(-3600) == (-3600, False)
    assert unwrapped_step(3600 - (1 << 33)) == (3600, True)
    assert unwrapped_step(3600 - (1 << 32)) == (3600, True)
    assert unwrapped_step(-114 * 90000) == (-114 * 90000, False)
