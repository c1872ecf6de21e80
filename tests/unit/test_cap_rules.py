"""The site's upload cap: windows in local time, and the token bucket that keeps to it."""

from __future__ import annotations

from datetime import datetime

import pytest

from cctv_common.uplink_cap import CapWindow, InvalidCap, cap_at, parse_days
from edge_agent.config import UplinkConfig
from edge_agent.uplink.cap_rules import TokenBucket, mbps_to_bytes

# 2026-12-07 is a Monday.
MONDAY_9 = datetime(2026, 12, 7, 9, 0)
MONDAY_19 = datetime(2026, 12, 7, 19, 0)
SATURDAY_9 = datetime(2026, 12, 12, 9, 0)


def test_days_read_as_a_council_engineer_writes_them() -> None:
    assert parse_days("mon-fri") == frozenset(range(5))
    assert parse_days("sat,sun") == frozenset({5, 6})
    assert parse_days("fri-mon") == frozenset({4, 5, 6, 0})
    assert parse_days("daily") == frozenset(range(7))
    for bad in ("monday", "mon-xyz", ""):
        with pytest.raises(InvalidCap):
            parse_days(bad)


def test_office_hours_lower_the_cap_and_the_lowest_cap_wins() -> None:
    office = CapWindow.parse("mon-fri", "08:00", "18:00", 5)
    assert cap_at(MONDAY_9, 20, [office]) == 5
    assert cap_at(MONDAY_19, 20, [office]) == 20
    assert cap_at(SATURDAY_9, 20, [office]) == 20
    assert cap_at(SATURDAY_9, None, [office]) is None
    assert cap_at(MONDAY_9, 3, [office]) == 3


def test_a_window_past_midnight_belongs_to_the_day_it_starts() -> None:
    night = CapWindow.parse("fri", "22:00", "06:00", 50)
    assert cap_at(datetime(2026, 12, 11, 23, 0), None, [night]) == 50  # Friday night
    assert cap_at(datetime(2026, 12, 12, 5, 59), None, [night]) == 50  # Saturday early
    assert cap_at(datetime(2026, 12, 12, 6, 0), None, [night]) is None
    assert cap_at(datetime(2026, 12, 10, 23, 0), None, [night]) is None  # Thursday


def test_bad_windows_are_refused_with_their_reason() -> None:
    for days, start, end, mbps in (
        ("mon-fri", "8:00", "18:00", 5),
        ("mon-fri", "08:00", "24:00", 5),
        ("mon-fri", "08:00", "08:00", 5),
        ("mon-fri", "08:00", "18:00", 0),
    ):
        with pytest.raises(InvalidCap):
            CapWindow.parse(days, start, end, mbps)


def test_the_config_reads_the_cap_table() -> None:
    config = UplinkConfig.model_validate(
        {
            "host": "127.0.0.1",
            "tls": False,
            "max_mbps": 20,
            "cap": [{"days": "mon-fri", "from": "08:00", "to": "18:00", "mbps": 5}],
        }
    )
    assert config.max_mbps == 20
    assert cap_at(MONDAY_9, config.max_mbps, [c.window() for c in config.cap]) == 5
    assert config.congestion_control == "bbr"
    with pytest.raises(ValueError, match="HH:MM"):
        UplinkConfig.model_validate(
            {"tls": False, "cap": [{"days": "mon", "from": "8", "to": "18:00", "mbps": 5}]}
        )


def test_the_bucket_holds_the_average_to_the_rate() -> None:
    rate = mbps_to_bytes(8)  # 1 MB/s
    bucket = TokenBucket(rate, 0.0)
    now, sent = 0.0, 0
    for _ in range(100):
        now += bucket.delay(64 * 1024, now)
        sent += 64 * 1024
    assert sent / now == pytest.approx(rate, rel=0.05)
    # A chunk larger than the burst borrows; the next waits for the debt.
    big = TokenBucket(rate, 0.0)
    assert big.delay(2_000_000, 0.0) == pytest.approx(2.0 - 0.0, abs=0.3)
    assert TokenBucket(None, 0.0).delay(10**9, 0.0) == 0.0
    with pytest.raises(ValueError):
        TokenBucket(0, 0.0)
