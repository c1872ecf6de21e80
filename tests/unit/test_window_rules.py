"""The shared upload window: BBR-like link estimate, window and chunk size, sharing by priority."""

from __future__ import annotations

import pytest

from cctv_common.wire.payloads import MAX_CHUNK_SIZE, MIN_CHUNK_SIZE
from edge_agent.uplink.window_rules import (
    HUB_ACK_EVERY_CHUNKS,
    Demand,
    LinkEstimate,
    WindowLimits,
    chunk_size_for,
    share_window,
    window_chunks,
)

MIB = 1024 * 1024


def steady_link(rate: float, rtt: float, chunk: int, chunks: int = 200) -> LinkEstimate:
    """Chunks sent back to back at ``rate``, each acked ``rtt`` after it was sent."""
    estimate = LinkEstimate()
    stamps = []
    for n in range(chunks):
        sent = n * chunk / rate
        stamps.append((sent, estimate.stamp(sent)))
        # Acks every 16 chunks, as the hub does.
        if (n + 1) % HUB_ACK_EVERY_CHUNKS == 0:
            estimate.delivered_chunks(HUB_ACK_EVERY_CHUNKS * chunk, stamps[-1][1], sent + rtt)
    return estimate


def test_the_estimate_finds_the_rate_and_the_round_trip() -> None:
    estimate = steady_link(2.5e6, 0.05, 256 * 1024)
    assert estimate.rate == pytest.approx(2.5e6, rel=0.1)
    assert estimate.round_trip == pytest.approx(0.05, rel=0.01)


def test_the_agents_own_queue_is_not_taken_for_the_path() -> None:
    """40 chunks sent at once: each waits for those before it; the path is 50 ms."""
    rate, chunk, path = 2.5e6, 64 * 1024, 0.05
    estimate = LinkEstimate()
    stamps = [estimate.stamp(0.0, ahead=n * chunk) for n in range(40)]
    for n in range(15, 40, 16):  # the hub acks every 16 chunks
        estimate.delivered_chunks(16 * chunk, stamps[n], (n + 1) * chunk / rate + path)
    # Uncorrected, the samples would be 0.47 s and 0.89 s: the queue, not the path.
    assert estimate.round_trip is not None
    assert estimate.round_trip <= path + 2 * chunk / rate
    assert estimate.rate == pytest.approx(rate, rel=0.15)
    # 2 x BDP (about 2 chunks) + the ack cadence + half a second of the link; far under the 64
    # the uncorrected samples would give.
    assert window_chunks(estimate, chunk) == pytest.approx(2 + 16 + rate * 0.5 / chunk, abs=2)


def test_low_samples_do_not_lower_the_rate_and_old_ones_expire() -> None:
    estimate = steady_link(2.5e6, 0.05, 256 * 1024)
    # An idle spell makes a low sample: the max filter ignores it.
    stamp = estimate.stamp(22.0)
    estimate.delivered_chunks(256 * 1024, stamp, 26.0)
    assert estimate.rate == pytest.approx(2.5e6, rel=0.1)
    # Much later the old fast samples are gone: the link really is slower now.
    stamp = estimate.stamp(200.0)
    estimate.delivered_chunks(1_000_000, stamp, 201.0)
    assert estimate.rate is not None and estimate.rate < 1.2e6


def test_the_window_follows_the_bandwidth_delay_product_within_floor_and_ceiling() -> None:
    assert window_chunks(LinkEstimate(), MIB) == WindowLimits().floor_chunks
    slow = steady_link(0.6e6, 0.06, 64 * 1024)  # 5 Mbit/s 4G: BDP 36 kB
    assert window_chunks(slow, 64 * 1024) == 2 + 16 + 5  # 2 x BDP, acks, 0.5 s of the link
    fibre = steady_link(12.5e6, 0.2, 256 * 1024)  # 100 Mbit/s, 200 ms (with ack delay)
    bdp_chunks = 2 * 12.5e6 * 0.2 / (256 * 1024)
    slack = 12.5e6 * 0.5 / (256 * 1024)
    assert window_chunks(fibre, 256 * 1024) == pytest.approx(
        min(64, bdp_chunks + HUB_ACK_EVERY_CHUNKS + slack), abs=3
    )
    huge = steady_link(1e9, 0.5, MIB)
    assert window_chunks(huge, MIB) == 64
    assert window_chunks(huge, 8 * MIB) == WindowLimits().floor_chunks  # 64 MiB byte ceiling


def test_chunk_size_suits_the_link() -> None:
    assert chunk_size_for(LinkEstimate(), 0.0) == MIB  # no estimate: the configured size
    assert chunk_size_for(LinkEstimate(), 0.0, default=32 * 1024) == MIN_CHUNK_SIZE
    four_g = steady_link(0.62e6, 0.06, 64 * 1024)
    assert chunk_size_for(four_g, 100.0) == MIN_CHUNK_SIZE
    lossy_20 = steady_link(2.5e6, 0.05, 64 * 1024)
    assert chunk_size_for(lossy_20, 100.0) == 128 * 1024
    lossy_20.lossy(90.0)
    # Halving after a drop stops at 128 KiB: smaller chunks cost more than they save.
    assert chunk_size_for(lossy_20, 100.0) == 128 * 1024
    fibre = steady_link(12.5e6, 0.01, MIB)
    assert chunk_size_for(fibre, 100.0) == MIB
    fibre.lossy(90.0)
    assert chunk_size_for(fibre, 100.0) == 512 * 1024  # halved after a drop
    assert chunk_size_for(fibre, 1000.0) == MIB  # the drop is forgotten
    four_g.lossy(90.0)
    assert chunk_size_for(four_g, 100.0) == MIN_CHUNK_SIZE
    loopback = steady_link(400e6, 0.01, MIB)
    assert chunk_size_for(loopback, 100.0) == MAX_CHUNK_SIZE
    assert chunk_size_for(loopback, 100.0, largest=2 * MIB) == 2 * MIB


def demand(key: str, priority: int, order: int, outstanding: int = 0, wants: int = 100) -> Demand:
    return Demand(key, priority, order, outstanding, wants)


def test_the_most_urgent_upload_takes_the_window_and_routine_ones_pause() -> None:
    routine = demand("routine", 5, 1, outstanding=20)
    urgent = demand("urgent", 9, 2)
    rooms = share_window(32, [routine, urgent])
    assert rooms == {"routine": 0, "urgent": 32}
    # Once nothing urgent wants chunks the routine upload resumes.
    done = demand("urgent", 9, 2, outstanding=4, wants=0)
    assert share_window(32, [routine, done]) == {"routine": 8, "urgent": 0}


def test_uploads_of_one_priority_go_in_sequence() -> None:
    first = demand("first", 5, 1, outstanding=10, wants=5)
    second = demand("second", 5, 2)
    assert share_window(32, [second, first]) == {"first": 5, "second": 17}
    assert share_window(32, []) == {}
    assert share_window(32, [demand("a", 5, 1, wants=0)]) == {"a": 0}


def test_chunks_sent_before_a_reconnect_give_no_sample_when_delivered_after_it() -> None:
    chunk = 64 * 1024
    estimate = steady_link(2.5e6, 0.05, chunk)
    window = window_chunks(estimate, chunk)
    sent_before = estimate.stamp(10.0)
    # A 30 s outage; the agent reconnects at 41 s and the hub acks what it got before the cut.
    estimate.lossy(41.0)
    estimate.delivered_chunks(16 * chunk, sent_before, 41.5)
    # The samples from before the cut are older than the filters' windows; a sample spanning the
    # outage (1 MiB in 31 s) would now be the estimate, and the window would shrink to its floor.
    assert estimate.rate == pytest.approx(2.5e6, rel=0.1)
    assert estimate.round_trip == pytest.approx(0.05, rel=0.01)
    assert window_chunks(estimate, chunk) == window
    # Chunks sent after the reconnect are sampled again, from the reconnect on.
    after = estimate.stamp(41.6)
    assert after.delivered_at == 41.5
    estimate.delivered_chunks(32 * chunk, after, 42.4)
    assert estimate.rate == pytest.approx(32 * chunk / 0.9)


def test_on_loopback_one_ack_takes_the_largest_chunks_and_the_full_window() -> None:
    # RTT next to nothing, a rate of hundreds of MB/s: the BDP is tiny, but the ack cadence and
    # the ack slack (half a second of the rate) must still open the window to its ceiling, and
    # the chunk size must go straight to the largest the config allows.
    estimate = LinkEstimate()
    first = estimate.stamp(0.0)
    estimate.delivered_chunks(HUB_ACK_EVERY_CHUNKS * MIB, first, 0.05)
    assert estimate.round_trip is not None and estimate.round_trip <= 0.05
    assert chunk_size_for(estimate, 0.05, largest=MIB) == MIB
    assert chunk_size_for(estimate, 0.05) == MAX_CHUNK_SIZE
    assert window_chunks(estimate, MIB) == WindowLimits().ceiling_chunks
    # With the largest chunks the byte ceiling holds, but never below the floor.
    assert window_chunks(estimate, MAX_CHUNK_SIZE) == WindowLimits().floor_chunks
