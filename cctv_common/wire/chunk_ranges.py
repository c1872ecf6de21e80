"""Sets of chunk indexes as inclusive ``(first, last)`` ranges, the form a ``ClipAck`` carries.

Pure functions. Ranges on the wire are validated before anything is expanded: every range lies in
``0..count-1`` (or ``0..MAX_CHUNK_INDEX`` when the count is not known), ranges are sorted and do
not overlap, and there are at most ``MAX_RANGES`` of them, so a hostile ack cannot make a reader
build a huge set.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Final

from cctv_common.wire.topics import MAX_CHUNK_INDEX

Range = tuple[int, int]

MAX_CHUNK_COUNT: Final = MAX_CHUNK_INDEX + 1
# Worst case: every other chunk held. 10,000 ranges keep an ack well under the payload limit.
MAX_RANGES: Final = 10_000


class InvalidRanges(ValueError):
    """Chunk ranges that are malformed, out of bounds, unsorted, overlapping or too many."""


def _is_int(value: object) -> bool:
    return type(value) is int  # not bool


def check_count(count: int) -> int:
    if not _is_int(count) or not 0 <= count <= MAX_CHUNK_COUNT:
        raise InvalidRanges(f"chunk count {count!r} is not a whole number 0..{MAX_CHUNK_COUNT}")
    return count


def _last_allowed(count: int | None) -> int:
    return MAX_CHUNK_INDEX if count is None else check_count(count) - 1


def validate_ranges(ranges: Iterable[Sequence[int]], count: int | None = None) -> list[Range]:
    """Check ranges and return them as a list of ``(first, last)`` tuples, or raise."""
    last_allowed = _last_allowed(count)
    result: list[Range] = []
    for item in ranges:
        if len(result) >= MAX_RANGES:
            raise InvalidRanges(f"more than {MAX_RANGES} chunk ranges")
        if not isinstance(item, tuple | list) or len(item) != 2 or not all(map(_is_int, item)):
            raise InvalidRanges(f"chunk range {item!r:.40} is not a pair of whole numbers")
        first, last = item[0], item[1]
        if not 0 <= first <= last <= last_allowed:
            raise InvalidRanges(
                f"chunk range [{first}, {last}] is not within 0..{last_allowed} with first <= last"
            )
        if result and first <= result[-1][1]:
            previous = result[-1]
            raise InvalidRanges(
                f"chunk range [{first}, {last}] overlaps or comes before "
                f"[{previous[0]}, {previous[1]}]: ranges must be sorted and not overlap"
            )
        result.append((first, last))
    return result


def to_ranges(indices: Iterable[int], count: int | None = None) -> list[Range]:
    """The sorted, merged ranges covering exactly ``indices``."""
    last_allowed = _last_allowed(count)
    unique: set[int] = set()
    for index in indices:
        if not _is_int(index) or not 0 <= index <= last_allowed:
            raise InvalidRanges(f"chunk index {index!r} is not a whole number 0..{last_allowed}")
        unique.add(index)
    ranges: list[Range] = []
    for index in sorted(unique):
        if ranges and index == ranges[-1][1] + 1:
            ranges[-1] = (ranges[-1][0], index)
        else:
            ranges.append((index, index))
    return ranges


def from_ranges(ranges: Iterable[Sequence[int]], count: int | None = None) -> set[int]:
    """The set of indexes in validated ranges."""
    held: set[int] = set()
    for first, last in validate_ranges(ranges, count):
        held.update(range(first, last + 1))
    return held


def held_count(ranges: Iterable[Sequence[int]], count: int | None = None) -> int:
    """How many indexes the ranges cover, without expanding them."""
    return sum(last - first + 1 for first, last in validate_ranges(ranges, count))


def missing(count: int, held: Iterable[Sequence[int]]) -> list[Range]:
    """The ranges of ``0..count-1`` that ``held`` does not cover."""
    gaps: list[Range] = []
    next_wanted = 0
    for first, last in validate_ranges(held, count):
        if first > next_wanted:
            gaps.append((next_wanted, first - 1))
        next_wanted = last + 1
    if next_wanted < count:
        gaps.append((next_wanted, count - 1))
    return gaps
