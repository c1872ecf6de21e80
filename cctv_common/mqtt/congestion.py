"""TCP congestion control on an MQTT socket (Linux ``TCP_CONGESTION``).

On lossy links the choice decides the rate: through 20 Mbit/s with 1% loss and a 50 ms round
trip CUBIC reached 0.12 of the line and BBR 0.89 (``docs/shaped-link.md``). BBR paces at the
bandwidth it measures and does not take random loss for congestion. A process may pick any
algorithm the kernel has loaded as root, and those in ``net.ipv4.tcp_allowed_congestion_control``
otherwise; where the kernel has no BBR the socket keeps the system's default and says so.
"""

from __future__ import annotations

import socket
from dataclasses import dataclass
from typing import Final

SYSTEM: Final = "system"
_NAME_BYTES: Final = 16  # TCP_CA_NAME_MAX


@dataclass(frozen=True)
class CongestionResult:
    wanted: str
    got: str
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.wanted == SYSTEM or self.got == self.wanted


def current(sock: socket.socket) -> str:
    option = getattr(socket, "TCP_CONGESTION", None)
    if option is None:
        return "unknown"
    try:
        raw = sock.getsockopt(socket.IPPROTO_TCP, option, _NAME_BYTES)
    except OSError:
        return "unknown"
    return raw.split(b"\0", 1)[0].decode("ascii", "replace") or "unknown"


def set_congestion_control(sock: socket.socket, wanted: str) -> CongestionResult:
    """Ask for ``wanted`` ("bbr", or "system" to leave the default) and say what the socket got."""
    if wanted == SYSTEM:
        return CongestionResult(wanted, current(sock))
    option = getattr(socket, "TCP_CONGESTION", None)
    if option is None:
        return CongestionResult(wanted, "unknown", "this system has no TCP_CONGESTION")
    try:
        sock.setsockopt(socket.IPPROTO_TCP, option, wanted.encode("ascii"))
    except OSError as exc:
        return CongestionResult(wanted, current(sock), exc.strerror or str(exc))
    return CongestionResult(wanted, current(sock))
