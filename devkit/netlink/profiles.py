"""Link profiles: the site uplinks the benchmark and the tests shape a link to (pure data).

A profile is what a council network manager would quote for a site: the rate each way, the round
trip time when the link is idle, jitter, random loss, and how much the bottleneck (the router or the
4G modem) queues before it drops. ``ShapedLink`` turns one into tc/nftables settings and the delay
of the userspace relay; this module only holds the numbers and the arithmetic on them.

Units: rates in Mbit/s (10^6 bit/s) of Ethernet frames as tc counts them (IP packet + 14-byte
header), times in milliseconds, loss in whole percent (nftables ``numgen random mod 100 < N``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

# Ethernet header + IPv4 header + TCP header with timestamps: a full-size TCP segment on a
# 1500-byte MTU carries 1448 bytes of payload in a 1514-byte frame.
MTU: Final = 1500
ETHERNET_HEADER: Final = 14
TCP_PAYLOAD_PER_FRAME: Final = MTU - 20 - 32
TCP_GOODPUT_FRACTION: Final = TCP_PAYLOAD_PER_FRAME / (MTU + ETHERNET_HEADER)


class ProfileError(ValueError):
    """A profile with numbers no link can have."""


@dataclass(frozen=True)
class LinkProfile:
    """One site link.

    ``jitter_ms``: each packet's one-way delay is drawn uniformly from ``rtt_ms / 2 ± jitter_ms``,
    but a packet never overtakes the one before it (a radio link delays the packets behind a late
    one; it does not reorder them), so under load the one-way delay creeps towards the top of the
    band. ``queue_ms``: the bottleneck's buffer, as time at the link rate. ``outage_seconds``: the
    benchmark cuts the link for this long half-way through each upload (0: never).
    """

    name: str
    up_mbit: float
    down_mbit: float
    rtt_ms: float
    jitter_ms: float = 0.0
    loss_percent: int = 0
    queue_ms: float = 50.0
    outage_seconds: float = 0.0
    description: str = ""

    def __post_init__(self) -> None:
        if not self.name or not self.name.replace("-", "").isalnum():
            raise ProfileError(f"profile name {self.name!r}: letters, digits and '-' only")
        if not (0.1 <= self.up_mbit <= 10_000 and 0.1 <= self.down_mbit <= 10_000):
            raise ProfileError(f"profile {self.name}: rates must be 0.1 to 10000 Mbit/s")
        if not 0 <= self.rtt_ms <= 5_000:
            raise ProfileError(f"profile {self.name}: round trip must be 0 to 5000 ms")
        if not 0 <= self.jitter_ms <= self.rtt_ms / 2:
            raise ProfileError(f"profile {self.name}: jitter must be 0 to half the round trip")
        if not 0 <= self.loss_percent < 100:
            raise ProfileError(f"profile {self.name}: loss must be 0 to 99 percent")
        if not 1 <= self.queue_ms <= 10_000:
            raise ProfileError(f"profile {self.name}: queue must be 1 to 10000 ms")
        if not 0 <= self.outage_seconds <= 3_600:
            raise ProfileError(f"profile {self.name}: outage must be 0 to 3600 s")

    @property
    def one_way_ms(self) -> float:
        """The mean delay each way (the relay adds it to every packet)."""
        return self.rtt_ms / 2

    @property
    def up_bytes_per_second(self) -> float:
        return self.up_mbit * 1e6 / 8

    @property
    def down_bytes_per_second(self) -> float:
        return self.down_mbit * 1e6 / 8

    @property
    def up_goodput_bytes_per_second(self) -> float:
        """The most a TCP stream can carry upwards: full-size segments, no loss."""
        return self.up_bytes_per_second * TCP_GOODPUT_FRACTION

    def transfer_seconds(self, size: int) -> float:
        """``size`` bytes upwards at the full link rate (the yardstick for "time to stored")."""
        return size / self.up_bytes_per_second


def tbf_burst_bytes(rate_bytes_per_second: float) -> int:
    """tbf's bucket: 1 ms at the rate, never under two full frames (tbf needs one at least).

    Small on purpose: a real bottleneck sends at its line rate, it does not let bursts through.
    """
    return max(2 * (MTU + ETHERNET_HEADER), round(rate_bytes_per_second / 1000))


def tbf_limit_bytes(rate_bytes_per_second: float, queue_ms: float) -> int:
    """tbf's queue: ``queue_ms`` at the rate, never under four full frames."""
    return max(4 * (MTU + ETHERNET_HEADER), round(rate_bytes_per_second * queue_ms / 1000))


FIBRE: Final = LinkProfile(
    name="fibre",
    up_mbit=100,
    down_mbit=100,
    rtt_ms=10,
    queue_ms=20,
    description="council fibre: 100 Mbit/s each way, 10 ms round trip",
)
DSL_LOSSY: Final = LinkProfile(
    name="20m-lossy",
    up_mbit=20,
    down_mbit=20,
    rtt_ms=50,
    loss_percent=1,
    queue_ms=50,
    description="20 Mbit/s each way, 50 ms round trip, 1% random loss each way",
)
CELLULAR: Final = LinkProfile(
    name="4g",
    up_mbit=5,
    down_mbit=20,
    rtt_ms=60,
    jitter_ms=10,
    queue_ms=150,
    description="4G router: 5 Mbit/s up, 20 down, 60 ms round trip, ±10 ms jitter each way,"
    " a deep modem buffer",
)
OUTAGE: Final = LinkProfile(
    name="outage",
    up_mbit=20,
    down_mbit=20,
    rtt_ms=50,
    loss_percent=1,
    queue_ms=50,
    outage_seconds=30,
    description="the 20 Mbit/s lossy link, cut for 30 s half-way through each upload",
)
PROFILES: Final = {profile.name: profile for profile in (FIBRE, DSL_LOSSY, CELLULAR, OUTAGE)}
