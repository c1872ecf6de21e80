"""TCP congestion control on the MQTT socket: asked for, and what the kernel gave."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from cctv_common.mqtt.congestion import SYSTEM, current, set_congestion_control

AVAILABLE = Path("/proc/sys/net/ipv4/tcp_available_congestion_control")


def kernel_has(name: str) -> bool:
    try:
        return name in AVAILABLE.read_text().split()
    except OSError:
        return False


def test_system_leaves_the_socket_as_it_is() -> None:
    with socket.socket() as sock:
        before = current(sock)
        result = set_congestion_control(sock, SYSTEM)
        assert result.ok and result.got == before == current(sock)


@pytest.mark.skipif(not kernel_has("bbr"), reason="this kernel has no BBR")
def test_bbr_is_set_where_the_kernel_has_it() -> None:
    with socket.socket() as sock:
        result = set_congestion_control(sock, "bbr")
        assert result.ok, result
        assert current(sock) == "bbr"


def test_an_algorithm_the_kernel_lacks_is_reported_not_raised() -> None:
    with socket.socket() as sock:
        before = current(sock)
        result = set_congestion_control(sock, "nosuchcc")
        assert not result.ok
        assert result.error
        assert result.got == before
