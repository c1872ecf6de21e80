"""HTTP Range parsing for the video endpoint (pure)."""

from __future__ import annotations

import pytest

from hub.domain.http_range import ByteRange, RangeNotSatisfiable, parse_range

SIZE = 1000


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        (None, None),
        ("bytes=0-", ByteRange(0, 999)),
        ("bytes=0-99", ByteRange(0, 99)),
        ("bytes=500-", ByteRange(500, 999)),
        ("bytes=990-5000", ByteRange(990, 999)),
        ("bytes=-100", ByteRange(900, 999)),
        ("bytes=-5000", ByteRange(0, 999)),
        ("bytes=999-999", ByteRange(999, 999)),
        ("BYTES = 1-2", ByteRange(1, 2)),
        ("items=0-5", None),  # another unit: ignored, the whole clip is sent
        ("bytes=0-1,5-6", None),  # several ranges: answered with the whole clip
    ],
)
def test_satisfiable_and_ignored_ranges(header: str | None, expected: ByteRange | None) -> None:
    assert parse_range(header, SIZE) == expected


@pytest.mark.parametrize(
    "header",
    [
        "bytes=1000-",
        "bytes=5000-6000",
        "bytes=5-2",
        "bytes=-0",
        "bytes=abc",
        "bytes=-",
        "bytes=1-2-3",
        "bytes= ",
    ],
)
def test_unsatisfiable_or_malformed_ranges(header: str) -> None:
    with pytest.raises(RangeNotSatisfiable):
        parse_range(header, SIZE)


def test_content_range_header() -> None:
    assert ByteRange(0, 99).content_range(SIZE) == "bytes 0-99/1000"
    assert ByteRange(0, 99).length == 100
