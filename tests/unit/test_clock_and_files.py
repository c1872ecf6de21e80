"""The one clock and time spelling (cctv_common.clock), and the one atomic write (.files)."""

from __future__ import annotations

import os
import stat
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest

from cctv_common.clock import NoTimeZone, iso_utc, parse_iso, utc_now
from cctv_common.files import atomic_write


def test_now_is_aware_utc() -> None:
    now = utc_now()
    assert now.tzinfo is UTC and abs(datetime.now(UTC) - now) < timedelta(minutes=1)


@pytest.mark.parametrize(
    ("moment", "text"),
    [
        (datetime(2024, 3, 1, 12, 0, tzinfo=UTC), "2024-03-01T12:00:00Z"),
        (datetime(2024, 3, 1, 12, 0, 0, 250_000, tzinfo=UTC), "2024-03-01T12:00:00.250000Z"),
        (datetime(2024, 3, 1, 13, 0, tzinfo=timezone(timedelta(hours=1))), "2024-03-01T12:00:00Z"),
    ],
)
def test_iso_utc_and_back(moment: datetime, text: str) -> None:
    assert iso_utc(moment) == text
    assert parse_iso(text) == moment and parse_iso(text).tzinfo is UTC


def test_parse_iso_takes_offsets_and_lower_case_z() -> None:
    assert parse_iso(" 2024-03-01T13:00:00+01:00 ") == datetime(2024, 3, 1, 12, tzinfo=UTC)
    assert parse_iso("2024-03-01T12:00:00z") == datetime(2024, 3, 1, 12, tzinfo=UTC)


def test_parse_iso_refuses_what_is_not_a_time_or_has_no_zone() -> None:
    with pytest.raises(NoTimeZone, match="no zone"):
        parse_iso("2024-03-01T12:00:00")
    for junk in ("", "yesterday", "2024-13-01T00:00:00Z"):
        with pytest.raises(ValueError):
            parse_iso(junk)


def test_atomic_write_replaces_the_file_and_leaves_nothing_else(tmp_path: Path) -> None:
    target = tmp_path / "state.json"
    target.write_text("old")
    atomic_write(target, '{"row": 3}')
    assert target.read_text() == '{"row": 3}'
    atomic_write(target, b"\x00\x01", mode=0o640)
    assert target.read_bytes() == b"\x00\x01"
    assert stat.S_IMODE(target.stat().st_mode) == 0o640
    assert [p.name for p in tmp_path.iterdir()] == ["state.json"]


def test_a_failed_atomic_write_keeps_the_old_file(tmp_path: Path) -> None:
    target = tmp_path / "state.json"
    target.write_text("old")

    class Boom(Exception):
        pass

    class Exploding(str):
        def encode(self, *args: object, **kwargs: object) -> bytes:
            raise Boom

    with pytest.raises(Boom):
        atomic_write(target, Exploding("new"))
    with pytest.raises(FileNotFoundError):
        atomic_write(tmp_path / "missing-folder" / "x", "new")
    assert target.read_text() == "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["state.json"]
    assert os.access(target, os.R_OK)
