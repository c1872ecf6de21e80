"""The shaped link's pure parts: profiles, tc and nftables settings, the relay's delay line."""

from __future__ import annotations

import random

import pytest

from devkit.netlink.delay_line import DelayLine, HeldFrames
from devkit.netlink.link import nft_ruleset, tbf_command
from devkit.netlink.profiles import (
    PROFILES,
    TCP_GOODPUT_FRACTION,
    LinkProfile,
    ProfileError,
    tbf_burst_bytes,
    tbf_limit_bytes,
)


def test_the_profiles_the_issue_names() -> None:
    fibre, lossy, cellular, outage = (PROFILES[n] for n in ("fibre", "20m-lossy", "4g", "outage"))
    assert (fibre.up_mbit, fibre.rtt_ms, fibre.loss_percent) == (100, 10, 0)
    assert (lossy.up_mbit, lossy.rtt_ms, lossy.loss_percent) == (20, 50, 1)
    assert (cellular.up_mbit, cellular.rtt_ms) == (5, 60) and cellular.jitter_ms > 0
    assert outage.outage_seconds == 30 and outage.up_mbit == 20
    assert lossy.one_way_ms == 25
    assert lossy.transfer_seconds(60_000_000) == pytest.approx(24.0)


def test_tcp_can_carry_at_most_full_segments_of_the_frame_rate() -> None:
    # 1448 bytes of payload in each 1514-byte frame (timestamps on): 95.6% of what tc lets through.
    assert TCP_GOODPUT_FRACTION == pytest.approx(1448 / 1514)


@pytest.mark.parametrize(
    "changes",
    [
        {"name": "has space"},
        {"up_mbit": 0},
        {"rtt_ms": -1},
        {"jitter_ms": 40},  # more than half of the 60 ms round trip: a negative delay
        {"loss_percent": 100},
        {"queue_ms": 0},
        {"outage_seconds": -1},
    ],
)
def test_impossible_profiles_are_refused(changes: dict[str, object]) -> None:
    fields: dict[str, object] = {"name": "x", "up_mbit": 5, "down_mbit": 5, "rtt_ms": 60}
    fields.update(changes)
    with pytest.raises(ProfileError):
        LinkProfile(**fields)  # type: ignore[arg-type]


def test_tbf_bucket_and_queue() -> None:
    # 20 Mbit/s = 2.5 MB/s: the bucket is 1 ms of that, the 50 ms queue 125 kB.
    assert tbf_burst_bytes(2.5e6) == 3028  # two full frames is the floor
    assert tbf_burst_bytes(12.5e6) == 12_500
    assert tbf_limit_bytes(2.5e6, 50) == 125_000
    assert tbf_limit_bytes(1e5, 1) == 4 * 1514
    assert tbf_command("mid-hub", 2.5e6, 50) == [
        *("tc", "qdisc", "replace", "dev", "mid-hub", "root", "tbf"),
        *("rate", "20000000bit", "burst", "3028", "limit", "125000"),
    ]


def test_nft_rules_drop_at_random_only_with_loss() -> None:
    lossy = nft_ruleset("hub0", 1)
    assert 'hook ingress device "hub0"' in lossy
    assert "jump outage" in lossy
    assert "numgen random mod 100 < 1 counter drop" in lossy
    assert lossy.index("jump outage") < lossy.index("numgen")
    assert "numgen" not in nft_ruleset("hub0", 0)


def test_delay_line_without_jitter_is_a_fixed_delay() -> None:
    line = DelayLine(0.025)
    assert [line.departure(t) for t in (0.0, 0.001, 0.5)] == pytest.approx([0.025, 0.026, 0.525])


def test_jitter_stays_in_its_band_and_never_reorders() -> None:
    line = DelayLine(0.030, 0.010, random.Random(7))
    arrivals = [i * 0.0001 for i in range(5000)]  # 10 000 packets/s: far closer than the jitter
    departures = [line.departure(t) for t in arrivals]
    assert departures == sorted(departures)
    delays = [d - a for a, d in zip(arrivals, departures, strict=True)]
    assert min(delays) >= 0.020 - 1e-9 and max(delays) <= 0.040 + 1e-9


def test_sparse_packets_see_the_whole_jitter_band() -> None:
    line = DelayLine(0.030, 0.010, random.Random(7))
    delays = [line.departure(i * 1.0) - i * 1.0 for i in range(2000)]  # one a second
    assert min(delays) < 0.0205 and max(delays) > 0.0395
    assert sum(delays) / len(delays) == pytest.approx(0.030, abs=0.0005)


def test_impossible_delay_is_refused() -> None:
    with pytest.raises(ValueError, match="not a link"):
        DelayLine(0.010, 0.020)


def test_held_frames_leave_in_order_when_due() -> None:
    held = HeldFrames(DelayLine(0.010))
    held.hold(0.0, b"a")
    held.hold(0.002, b"b")
    assert held.next_departure() == pytest.approx(0.010)
    assert held.due(0.009) is None
    assert held.due(0.010) == b"a"
    assert held.due(0.011) is None
    assert held.due(0.013) == b"b"
    assert len(held) == 0 and held.next_departure() is None
