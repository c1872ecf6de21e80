"""Reconnect pacing (``cctv_common.mqtt.reconnect``): quick first tries after a drop, doubling to
a small cap, a larger cap once the broker has been out of reach for long, and jitter within
half to all of each wait."""

from __future__ import annotations

import socket

import pytest

from cctv_common.mqtt.reconnect import ReconnectPolicy, reconnect_delay, set_dead_link_timeout

AGENT = ReconnectPolicy(first_seconds=1, cap_seconds=2, slow_after_seconds=120, slow_cap_seconds=30)


def test_the_first_wait_after_a_drop_is_short_and_waits_double_to_the_cap() -> None:
    tops = [reconnect_delay(AGENT, attempt, 5.0, 1.0) for attempt in range(1, 6)]
    assert tops == [1.0, 2.0, 2.0, 2.0, 2.0]
    assert reconnect_delay(AGENT, 1, 0.0, 0.0) == 0.5  # the jitter's bottom: half


def test_a_broker_out_of_reach_for_long_is_tried_less_often_up_to_the_slow_cap() -> None:
    waits = [reconnect_delay(AGENT, attempt, 200.0, 1.0) for attempt in (3, 5, 6, 50, 10**6)]
    assert waits == [4.0, 16.0, 30.0, 30.0, 30.0]


def test_jitter_spreads_a_fleet_between_half_and_all_of_the_wait() -> None:
    waits = [reconnect_delay(AGENT, 4, 10.0, draw / 10) for draw in range(10)]
    assert min(waits) == 1.0
    assert max(waits) < 2.0
    assert len(set(waits)) == 10
    assert reconnect_delay(AGENT, 4, 10.0, 7.0) == 2.0  # a draw out of range is clamped


def test_no_wait_before_the_first_attempt() -> None:
    assert reconnect_delay(AGENT, 0, 0.0, 0.5) == 0.0


def test_without_a_slow_phase_the_cap_holds_for_ever() -> None:
    hub = ReconnectPolicy(first_seconds=1, cap_seconds=60)
    assert reconnect_delay(hub, 40, 10**6, 1.0) == 60.0


@pytest.mark.parametrize(
    "kwargs",
    [
        {"first_seconds": 0},
        {"first_seconds": 5, "cap_seconds": 2},
        {"cap_seconds": 60, "slow_after_seconds": 10, "slow_cap_seconds": 30},
    ],
)
def test_inconsistent_policies_are_refused(kwargs: dict[str, float]) -> None:
    with pytest.raises(ValueError):
        ReconnectPolicy(**kwargs)


def test_the_dead_link_timeout_is_set_on_a_tcp_socket() -> None:
    option = getattr(socket, "TCP_USER_TIMEOUT", None)
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        error = set_dead_link_timeout(sock, 10.0)
        if option is None:
            assert error is not None
            return
        assert error is None
        assert sock.getsockopt(socket.IPPROTO_TCP, option) == 10_000
