"""Chunk index sets as inclusive ranges: exact conversions and refusal of hostile ranges."""

from __future__ import annotations

import random
from collections.abc import Sequence

import pytest

from cctv_common.wire.chunk_ranges import (
    MAX_CHUNK_COUNT,
    MAX_RANGES,
    InvalidRanges,
    from_ranges,
    held_count,
    missing,
    to_ranges,
    validate_ranges,
)
from cctv_common.wire.topics import MAX_CHUNK_INDEX


def test_to_ranges_merges_and_sorts() -> None:
    assert to_ranges(set()) == []
    assert to_ranges({0}) == [(0, 0)]
    assert to_ranges({5, 1, 2, 3, 9, 8}) == [(1, 3), (5, 5), (8, 9)]
    assert to_ranges([3, 3, 2]) == [(2, 3)]


def test_round_trip_random_sets() -> None:
    rng = random.Random(20240301)
    for _ in range(200):
        count = rng.randint(0, 300)
        held = {i for i in range(count) if rng.random() < 0.7}
        ranges = to_ranges(held, count)
        assert from_ranges(ranges, count) == held
        assert held_count(ranges, count) == len(held)
        gaps = missing(count, ranges)
        assert from_ranges(gaps, count) == set(range(count)) - held
        assert to_ranges(set(range(count)) - held) == gaps


def test_missing() -> None:
    assert missing(0, []) == []
    assert missing(5, []) == [(0, 4)]
    assert missing(5, [(0, 4)]) == []
    assert missing(10, [(2, 3), (7, 9)]) == [(0, 1), (4, 6)]
    assert missing(10, [(0, 0), (1, 1)]) == [(2, 9)]


def test_from_ranges_accepts_lists_from_json() -> None:
    assert from_ranges([[0, 2], [4, 4]]) == {0, 1, 2, 4}


@pytest.mark.parametrize(
    "ranges",
    [
        [(3, 1)],
        [(-1, 0)],
        [(0, 10)],
        [(0, 2), (2, 3)],
        [(5, 6), (0, 1)],
        [(0,)],
        [(0, 1, 2)],
        [(0, "1")],
        [(True, 1)],
        [(0.0, 1)],
        [5],
    ],
)
def test_bad_ranges_are_refused(ranges: list[Sequence[int]]) -> None:
    with pytest.raises(InvalidRanges):
        validate_ranges(ranges, count=10)
    with pytest.raises(InvalidRanges):
        missing(10, ranges)
    with pytest.raises(InvalidRanges):
        from_ranges(ranges, 10)


def test_absurd_ranges_are_refused_before_expanding() -> None:
    with pytest.raises(InvalidRanges, match="not within"):
        from_ranges([(0, 10**12)])
    with pytest.raises(InvalidRanges, match="not within"):
        from_ranges([(0, MAX_CHUNK_INDEX + 1)])
    with pytest.raises(InvalidRanges, match=f"more than {MAX_RANGES}"):
        validate_ranges((2 * i, 2 * i) for i in range(MAX_RANGES + 1))


def test_whole_range_is_allowed() -> None:
    assert held_count([(0, MAX_CHUNK_INDEX)]) == MAX_CHUNK_COUNT
    assert missing(MAX_CHUNK_COUNT, [(0, MAX_CHUNK_INDEX)]) == []


@pytest.mark.parametrize("count", [-1, MAX_CHUNK_COUNT + 1, True, 2.0])
def test_bad_count_is_refused(count: int) -> None:
    with pytest.raises(InvalidRanges, match="chunk count"):
        missing(count, [])


@pytest.mark.parametrize("index", [-1, 10, True, "1"])
def test_to_ranges_refuses_bad_indexes(index: int) -> None:
    with pytest.raises(InvalidRanges, match="chunk index"):
        to_ranges({0, index}, count=10)
