"""The shaped link measured from its two ends: round trip, rate, loss, jitter and outages.

Each test builds the link for one profile (root, iproute2, nftables and ethtool needed; skipped
with the reason otherwise) and measures it with real traffic between the site and hub namespaces.
The tolerances, and why they are what they are:

* Round trip, median of UDP probes: never more than 0.5 ms under the profile (the relay cannot
  send early; 0.5 ms is the timer's slack), at most 4 ms over it (the relay is a Python process
  sharing two cores with the rest of the suite; idle it adds about 0.6 ms). With jitter, the
  median of 100 probes of a sum of two uniform delays has a standard error of about 1 ms: ±5 ms.
* Rate, UDP sent at 1.3x the rate for 2 s: the frames that arrive come at the tbf rate times
  (1 - loss), within -7%/+3% (tbf is exact; the lower margin covers a starved receiving thread).
* Loss, UDP at half the rate: N packets, binomial; bounds are at least 3.5 standard deviations
  away from the profile's 1%, and a clean profile loses nothing.
* TCP goodput on a clean profile: at least 0.85 of the rate (full segments carry 0.956 of it).

A busy machine (the suite on two workers, other jobs) can only make the link look slower or
later than its profile, never faster or earlier: the relay and the measuring threads are starved
of CPU. So a round trip over its bound or a rate under its bound is measured again on a fresh link,
up to ``ATTEMPTS`` times, and the test fails only if every attempt missed; a round trip under its
bound or a rate over its bound fails at once. The bounds themselves are the ones above.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from typing import TypeVar

import pytest

from devkit.netlink import PROFILES, LinkProfile, ShapedLink, unavailable_reason
from devkit.netlink import measure as m
from devkit.netlink.profiles import TCP_GOODPUT_FRACTION

pytestmark = pytest.mark.slow

# Safety limit on waiting for a background transfer; nothing asserts on how long it took.
WAIT_SECONDS = 120.0
# The largest UDP payload in one 1500-byte packet: a flood in as few frames as possible, so the
# sending thread and the relay keep up with 1.3x the fibre rate (about 10,700 frames/s).
FULL = 1500 - 28
# Measurements of a starved link, tried again (see the module's docstring).
ATTEMPTS = 3

T = TypeVar("T")


def measured(measure: Callable[[], T], starved: Callable[[T], bool]) -> T:
    """``measure()`` again while ``starved`` says load held it back, ``ATTEMPTS`` times at most;
    the last measurement (the test then asserts on it)."""
    seen: list[T] = []
    for _ in range(ATTEMPTS):
        seen.append(measure())
        if not starved(seen[-1]):
            break
    return seen[-1]


@pytest.fixture(scope="module", autouse=True)
def _namespaces_available() -> None:
    reason = unavailable_reason()
    if reason is not None:
        pytest.skip(f"no shaped link on this machine: {reason}")


def shaped(profile: LinkProfile) -> ShapedLink:
    return ShapedLink(profile, seed=15)


def ends(link: ShapedLink) -> tuple[str, str, str]:
    return link.site_ns, link.hub_ns, link.hub_address


def wait_for_traffic(link: ShapedLink, frames: int) -> None:
    deadline = time.monotonic() + WAIT_SECONDS
    while link.relay_stats()["up"]["sent"] < frames:
        assert time.monotonic() < deadline, "no traffic on the link"
        time.sleep(0.02)


@pytest.fixture
def lossy_link() -> Iterator[ShapedLink]:
    with shaped(PROFILES["20m-lossy"]) as link:
        yield link


@pytest.mark.parametrize("name", ["fibre", "20m-lossy", "4g"])
def test_round_trip_matches_the_profile(name: str) -> None:
    profile = PROFILES[name]
    # A relay late on the CPU adds to the round trip: over the upper bound is measured again.
    slack_ms = 5.0 if profile.jitter_ms else 4.0

    def measure() -> m.RoundTrips:
        with shaped(profile) as link:
            return m.round_trips(*ends(link), count=100, spacing=0.02)

    trips = measured(measure, lambda t: t.lost > 10 or t.median_ms > profile.rtt_ms + slack_ms)
    assert trips.lost <= 10, f"{trips.lost} of 100 probes lost on {name}"
    if profile.jitter_ms:
        assert abs(trips.median_ms - profile.rtt_ms) <= 5, trips.median_ms
        # Two one-way delays, each uniform in ±jitter: the round trip is triangular in ±2 jitter,
        # whose interquartile range is 4 jitter (1 - 1/sqrt 2).
        q = sorted(trips.rtts_ms)
        spread = q[3 * len(q) // 4] - q[len(q) // 4]
        expected = 4 * profile.jitter_ms * (1 - 2**-0.5)
        assert 0.6 * expected <= spread <= 1.5 * expected, (spread, expected)
    else:
        assert profile.rtt_ms - 0.5 <= trips.median_ms <= profile.rtt_ms + 4, trips.median_ms


@pytest.mark.parametrize("name", ["fibre", "20m-lossy", "4g"])
def test_rate_up_matches_the_profile_and_the_bottleneck_drops_the_excess(name: str) -> None:
    profile = PROFILES[name]
    expected = profile.up_mbit * 1e6 * (1 - profile.loss_percent / 100)

    def measure() -> tuple[m.UdpDelivery, dict[str, dict[str, float]]]:
        with shaped(profile) as link:
            delivery = m.udp_stream(
                *ends(link),
                bits_per_second=1.3 * profile.up_mbit * 1e6,
                seconds=2,
                payload_bytes=FULL,
            )
            return delivery, link.relay_stats()

    flood, stats = measured(measure, lambda d: d[0].frame_bits_per_second < 0.93 * expected)
    assert 0.93 * expected <= flood.frame_bits_per_second <= 1.03 * expected
    assert stats["up"]["queue_drops"] > 0  # 30% too much: the tbf queue overflowed
    assert stats["up"]["oversize"] == 0  # offloads are off: one packet per frame


def test_rate_down_is_the_profiles_own() -> None:
    # 4G is asymmetric: 5 Mbit/s up, 20 down. Measured from the hub end towards the site.
    profile = PROFILES["4g"]

    def measure() -> m.UdpDelivery:
        with shaped(profile) as link:
            return m.udp_stream(
                link.hub_ns,
                link.site_ns,
                link.site_address,
                bits_per_second=1.3 * profile.down_mbit * 1e6,
                seconds=2,
                payload_bytes=FULL,
            )

    down = measured(measure, lambda d: d.frame_bits_per_second < 0.93 * profile.down_mbit * 1e6)
    assert 0.93 * profile.down_mbit * 1e6 <= down.frame_bits_per_second
    assert down.frame_bits_per_second <= 1.03 * profile.down_mbit * 1e6


def test_loss_matches_the_profile() -> None:
    # 10 Mbit/s of 1242-byte frames for 4 s: about 4000 packets, 40 lost (sd 6.3): 16 to 72.
    def measure() -> m.UdpDelivery:
        with shaped(PROFILES["20m-lossy"]) as link:
            return m.udp_stream(*ends(link), bits_per_second=10e6, seconds=4)

    stream = measured(measure, lambda d: d.sent <= 3500 or d.loss > 0.018)
    assert stream.sent > 3500
    assert 0.004 <= stream.loss <= 0.018, f"{stream.sent - stream.received} of {stream.sent}"


def test_a_clean_link_loses_nothing_under_its_rate() -> None:
    profile = PROFILES["fibre"]

    def measure() -> m.UdpDelivery:
        with shaped(profile) as link:
            return m.udp_stream(*ends(link), bits_per_second=profile.up_mbit * 1e6 / 2, seconds=2)

    stream = measured(measure, lambda d: d.loss > 0.001)
    assert stream.loss <= 0.001, f"{stream.sent - stream.received} of {stream.sent} lost"


@pytest.mark.parametrize("name", ["fibre", "4g"])
def test_tcp_fills_a_clean_link(name: str) -> None:
    profile = PROFILES[name]
    size = int(profile.up_bytes_per_second * 3)

    def measure() -> float:
        with shaped(profile) as link:
            return size / m.tcp_upload(*ends(link), size) / profile.up_bytes_per_second

    goodput = measured(measure, lambda g: g < 0.85)
    assert 0.85 <= goodput <= TCP_GOODPUT_FRACTION * 1.02, goodput


def test_an_outage_blocks_everything_and_the_link_recovers(lossy_link: ShapedLink) -> None:
    profile = lossy_link.profile
    size = int(profile.up_bytes_per_second * 4)
    result: list[float | BaseException] = []

    def upload() -> None:
        try:
            result.append(m.tcp_upload(*ends(lossy_link), size, congestion_control="bbr"))
        except BaseException as exc:
            result.append(exc)

    uploader = threading.Thread(target=upload, daemon=True)
    uploader.start()
    wait_for_traffic(lossy_link, frames=200)  # the upload is under way
    lossy_link.outage_start()
    try:
        assert lossy_link.in_outage
        during = m.round_trips(*ends(lossy_link), count=10, spacing=0.05)
        stream = m.udp_stream(*ends(lossy_link), bits_per_second=1e6, seconds=1)
    finally:
        lossy_link.outage_end()
    assert during.lost == during.sent == 10
    assert stream.sent > 50 and stream.received == 0
    after = m.round_trips(*ends(lossy_link), count=20, spacing=0.02)
    assert after.lost <= 3
    # The TCP connection the outage cut in the middle of finishes, every byte delivered.
    uploader.join(WAIT_SECONDS)
    assert result and not isinstance(result[0], BaseException), result


def test_drop_for_restores_the_link_by_itself(lossy_link: ShapedLink) -> None:
    lossy_link.drop_for(1.0)
    assert lossy_link.in_outage
    blocked = m.round_trips(*ends(lossy_link), count=5, spacing=0.05)
    assert blocked.lost == 5
    restored = threading.Event()

    def wait() -> None:
        while lossy_link.in_outage:
            threading.Event().wait(0.05)
        restored.set()

    threading.Thread(target=wait, daemon=True).start()
    assert restored.wait(WAIT_SECONDS)
    assert m.round_trips(*ends(lossy_link), count=20, spacing=0.02).lost <= 3


def test_closing_removes_the_namespaces() -> None:
    from devkit.netlink import namespaces

    link = shaped(PROFILES["fibre"]).open()
    made = {link.site_ns, link.mid_ns, link.hub_ns}
    assert made <= set(namespaces.names())
    link.close()
    assert not made & set(namespaces.names())


def test_an_outage_is_silence_not_a_local_error(lossy_link: ShapedLink) -> None:
    # As over a WAN: a connection attempt in an outage times out; the site's own kernel does not
    # answer "no route to host" (no ARP rides the link; the neighbours are fixed).
    import socket

    from devkit.netlink.namespaces import call_in

    def connect() -> str:
        with socket.socket() as client:
            client.settimeout(1.5)
            try:
                client.connect((lossy_link.hub_address, 9))
            except OSError as exc:
                return type(exc).__name__
        return "connected"

    lossy_link.outage_start()
    try:
        assert call_in(lossy_link.site_ns, connect) == "TimeoutError"
    finally:
        lossy_link.outage_end()
    # With the link up, the hub end answers at once (nothing listens on port 9: refused).
    assert call_in(lossy_link.site_ns, connect) == "ConnectionRefusedError"
