"""The pure upload bookkeeping: window, loss inference, re-offer on silence, percent."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from cctv_common.wire.chunk_ranges import InvalidRanges
from edge_agent.uplink.upload import (
    UploadTracker,
    chunk_hashes,
    read_chunk,
    read_chunks,
    upload_percent,
)


def answered(
    count: int, *, window: int = 4, held: list[tuple[int, int]] | None = None
) -> UploadTracker:
    tracker = UploadTracker(count, window=window)
    tracker.offered(0.0)
    held = held or []
    tracker.acked(held, None, 0.1)
    return tracker


def test_nothing_is_sent_before_the_hub_answers_the_offer() -> None:
    tracker = UploadTracker(10, window=4)
    assert tracker.reoffer_due(0.0)  # never offered
    tracker.offered(0.0)
    assert tracker.take(0.0) == []
    assert not tracker.reoffer_due(1.0)


def test_window_limits_outstanding_chunks_and_acks_open_it() -> None:
    tracker = answered(10, window=4)
    assert tracker.take(0.2) == [0, 1, 2, 3]
    assert tracker.take(0.3) == []
    assert tracker.outstanding == 4
    tracker.acked([(0, 1)], [(2, 9)], 0.4)
    assert tracker.outstanding == 2
    assert tracker.take(0.5) == [4, 5]
    assert tracker.percent == 20


def test_only_what_the_hub_wants_is_sent() -> None:
    tracker = UploadTracker(10, window=64)
    tracker.offered(0.0)
    tracker.acked([(0, 3), (6, 6)], [(4, 5), (7, 9)], 0.1)
    assert tracker.take(0.2) == [4, 5, 7, 8, 9]
    assert tracker.held_count == 5


def test_missing_none_means_everything_not_held() -> None:
    tracker = answered(6, window=64, held=[(1, 2)])
    assert tracker.take(0.2) == [0, 3, 4, 5]


def test_a_chunk_behind_a_later_held_one_is_presumed_lost_and_resent() -> None:
    tracker = answered(8, window=4)
    assert tracker.take(0.2) == [0, 1, 2, 3]
    # Chunk 1 was dropped: the hub holds 0, 2 and 3.
    tracker.acked([(0, 0), (2, 3)], [(1, 1), (4, 7)], 0.3)
    assert tracker.outstanding == 0
    assert tracker.take(0.4) == [1, 4, 5, 6]
    assert tracker.chunks_resent == 1


def test_chunks_still_in_flight_are_not_resent() -> None:
    tracker = answered(8, window=4)
    assert tracker.take(0.2) == [0, 1, 2, 3]
    # An ack after 16-chunk cadence arrives when only 0 and 1 got there: 2 and 3 are in flight.
    tracker.acked([(0, 1)], [(2, 7)], 0.3)
    assert tracker.outstanding == 2
    assert tracker.take(0.4) == [4, 5]
    assert tracker.chunks_resent == 0


def test_silence_means_reoffer_with_doubling_wait_and_the_answer_resets_it() -> None:
    tracker = UploadTracker(4, window=4, reoffer_after=5.0, max_reoffer_after=12.0)
    tracker.offered(0.0)
    assert not tracker.reoffer_due(4.9)
    assert tracker.reoffer_due(5.0)
    tracker.offered(5.0)
    assert not tracker.reoffer_due(14.9)
    assert tracker.reoffer_due(15.0)
    tracker.offered(15.0)
    assert tracker.reoffer_at() == 27.0  # capped at 12 s
    tracker.acked([], None, 16.0)
    assert tracker.reoffer_at() == 21.0  # heard from the hub: back to 5 s
    tracker.take(16.0)
    tracker.acked([(0, 1)], [(2, 3)], 18.0)
    assert tracker.reoffer_at() == 23.0


def test_chunks_the_broker_takes_are_not_silence_until_they_stop() -> None:
    # 1 MiB chunks on a 20 Mbit/s line: the hub's 16-chunk ack cadence is 6.7 s apart.
    tracker = answered(32, window=20)
    tracker.take(0.2)
    for second in range(1, 7):
        tracker.passed_on(float(second))  # PUBACKs: the chunks are getting through
    assert not tracker.reoffer_due(10.9)
    assert tracker.reoffer_due(11.0)  # 5 s after the last one: silence again
    # Before the hub has answered an offer, PUBACKs (the session's redelivery) do not count.
    tracker.offered(11.0)
    tracker.passed_on(15.0)
    assert tracker.reoffer_due(16.0)


def test_tail_loss_is_recovered_by_a_reoffer() -> None:
    tracker = answered(4, window=4)
    assert tracker.take(0.2) == [0, 1, 2, 3]
    tracker.acked([(0, 2)], [(3, 3)], 0.5)  # chunk 3, the last one, was lost
    assert tracker.take(0.6) == []  # nothing sent after it, so it could still be in flight
    assert tracker.reoffer_due(5.5)
    tracker.offered(5.5)
    tracker.acked([(0, 2)], [(3, 3)], 5.6)
    assert tracker.take(5.7) == [3]
    tracker.acked([(0, 3)], [], 5.8)
    assert tracker.all_held
    assert tracker.percent == 100


def test_resumed_upload_sends_only_what_the_hub_lacks() -> None:
    tracker = answered(100, window=64, held=[(0, 89)])
    assert tracker.take(0.2) == list(range(90, 100))
    assert tracker.percent == 90


def test_bad_ranges_change_nothing() -> None:
    tracker = answered(4, window=4)
    with pytest.raises(InvalidRanges):
        tracker.acked([(0, 9)], None, 1.0)
    assert tracker.held_count == 0
    with pytest.raises(InvalidRanges):
        tracker.acked([(2, 3), (0, 1)], None, 1.0)


def test_held_ranges_round_trip() -> None:
    tracker = answered(10, window=4, held=[(0, 2), (5, 5), (8, 9)])
    assert tracker.held_ranges() == [(0, 2), (5, 5), (8, 9)]


def test_percent() -> None:
    assert upload_percent(0, 10) == 0
    assert upload_percent(9, 10) == 90
    assert upload_percent(999, 1000) == 99
    assert upload_percent(1000, 1000) == 100


def test_large_clip_acks_stay_cheap() -> None:
    count = 200_000
    tracker = answered(count, window=64, held=[(0, count - 65)])
    assert tracker.take(0.2) == list(range(count - 64, count))
    tracker.acked([(0, count - 1)], [], 0.3)
    assert tracker.all_held


def test_chunk_hashes_and_read_chunk(tmp_path: Path) -> None:
    data = bytes(range(256)) * 1000  # 256,000 bytes
    path = tmp_path / "clip.mp4"
    path.write_bytes(data)
    hashes = chunk_hashes(path, 100_000)
    assert hashes.size == len(data)
    assert hashes.sha256 == hashlib.sha256(data).hexdigest()
    assert hashes.chunk_count == 3
    pieces = [read_chunk(path, n, 100_000) for n in range(3)]
    assert b"".join(pieces) == data
    assert [hashlib.sha256(p).hexdigest() for p in pieces] == list(hashes.chunk_sha256)
    assert len(pieces[-1]) == 56_000


def test_read_chunks_keeps_the_order_asked_for(tmp_path: Path) -> None:
    data = bytes(range(256)) * 1000
    path = tmp_path / "clip.mp4"
    path.write_bytes(data)
    hashes = chunk_hashes(path, 100_000)
    pieces = read_chunks(path, [2, 0, 1, 0], 100_000)
    assert pieces == [data[200_000:], data[:100_000], data[100_000:200_000], data[:100_000]]
    # The bytes sent are the clip's: each matches the SHA-256 the offer carries.
    for index, piece in zip([2, 0, 1, 0], pieces, strict=True):
        assert hashlib.sha256(piece).hexdigest() == hashes.chunk_sha256[index]
    assert read_chunks(path, [3], 100_000) == [b""]
    assert read_chunks(path, [], 100_000) == []


def test_chunk_hashes_exact_multiple(tmp_path: Path) -> None:
    path = tmp_path / "clip.mp4"
    path.write_bytes(b"x" * 200)
    hashes = chunk_hashes(path, 100)
    assert hashes.chunk_count == 2


def test_a_reoffer_keeps_chunks_the_mqtt_session_still_delivers() -> None:
    tracker = answered(10, window=6)
    assert tracker.take(0.2) == [0, 1, 2, 3, 4, 5]
    # The link dropped: 0-1 reached the hub, 2-3 are still in paho's session (no PUBACK), 4-5
    # were refused. After the re-offer only what is neither held nor still on its way is sent.
    tracker.offered(5.0, still_sending={2, 3})
    tracker.acked([(0, 1)], None, 5.1)
    assert tracker.outstanding == 2
    assert tracker.take(5.2) == [4, 5, 6, 7]
    assert tracker.chunks_resent == 2  # 4 and 5, not 2 and 3
    # Should 2 never come, a later chunk held shows it lost and it is sent again.
    tracker.acked([(0, 1), (3, 7)], None, 5.3)
    assert 2 in tracker.take(5.4)
