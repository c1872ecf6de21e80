"""Measure a shaped link from its two ends: round trip, rate, loss, and whether it passes at all.

Each measurement runs a small server on a thread inside the hub namespace and a client on a thread
inside the site namespace (``namespaces.call_in``), so what is measured is exactly the path the
agent's traffic takes. The tests of the kit and ``bench/link.py`` both use these.
"""

from __future__ import annotations

import contextlib
import socket
import statistics
import struct
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Final

from devkit.netlink.namespaces import call_in, inside
from devkit.netlink.profiles import ETHERNET_HEADER

# IPv4 + UDP headers + Ethernet header: what tc counts for a UDP datagram beyond its payload.
UDP_FRAME_OVERHEAD: Final = 20 + 8 + ETHERNET_HEADER
_PROBE: Final = struct.Struct("!Qd")  # sequence number, send time
# Safety limit on waiting for a measurement's server; nothing asserts on durations.
SERVER_SECONDS: Final = 120.0


@dataclass(frozen=True)
class RoundTrips:
    sent: int
    rtts_ms: tuple[float, ...]

    @property
    def median_ms(self) -> float:
        return statistics.median(self.rtts_ms)

    @property
    def stdev_ms(self) -> float:
        return statistics.pstdev(self.rtts_ms)

    @property
    def lost(self) -> int:
        return self.sent - len(self.rtts_ms)


@dataclass(frozen=True)
class UdpDelivery:
    """A one-way UDP stream: what the receiver got and over how long."""

    sent: int
    received: int
    payload_bytes: int
    seconds: float  # first to last arrival

    @property
    def loss(self) -> float:
        return 1 - self.received / self.sent if self.sent else 0.0

    @property
    def frame_bits_per_second(self) -> float:
        """The arrival rate as tc counts it (Ethernet frames)."""
        if self.received < 2 or self.seconds <= 0:
            return 0.0
        return (self.received - 1) * (self.payload_bytes + UDP_FRAME_OVERHEAD) * 8 / self.seconds


@contextlib.contextmanager
def _udp_server(namespace: str, address: str) -> Iterator[socket.socket]:
    with inside(namespace):
        server = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        server.bind((address, 0))
        yield server
    finally:
        server.close()


def round_trips(
    site_ns: str, hub_ns: str, hub_address: str, *, count: int = 50, spacing: float = 0.02
) -> RoundTrips:
    """``count`` UDP probes from the site to an echo at the hub, ``spacing`` seconds apart."""
    with _udp_server(hub_ns, hub_address) as server:
        port = server.getsockname()[1]
        stop = threading.Event()

        def echo() -> None:
            server.settimeout(0.2)
            while not stop.is_set():
                try:
                    data, peer = server.recvfrom(2048)
                except TimeoutError:
                    continue
                except OSError:
                    return
                server.sendto(data, peer)

        echoer = threading.Thread(target=echo, daemon=True)
        echoer.start()

        def probe() -> RoundTrips:
            rtts: list[float] = []
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as client:
                client.connect((hub_address, port))
                client.settimeout(0.001)
                next_send = time.monotonic()
                sent = 0
                deadline = None
                while True:
                    now = time.monotonic()
                    if sent < count and now >= next_send:
                        client.send(_PROBE.pack(sent, now))
                        sent += 1
                        next_send += spacing
                        if sent == count:
                            deadline = now + 2.0  # late answers after this count as lost
                    if deadline is not None and (now > deadline or len(rtts) == count):
                        return RoundTrips(sent, tuple(rtts))
                    with contextlib.suppress(TimeoutError):
                        data = client.recv(2048)
                        _, sent_at = _PROBE.unpack(data[: _PROBE.size])
                        rtts.append((time.monotonic() - sent_at) * 1000)

        try:
            return call_in(site_ns, probe)
        finally:
            stop.set()
            echoer.join(5)


def udp_stream(
    site_ns: str,
    hub_ns: str,
    hub_address: str,
    *,
    bits_per_second: float,
    seconds: float,
    payload_bytes: int = 1200,
) -> UdpDelivery:
    """UDP from the site at ``bits_per_second`` (frame bits) for ``seconds``; count arrivals."""
    frame_bits = (payload_bytes + UDP_FRAME_OVERHEAD) * 8
    with _udp_server(hub_ns, hub_address) as server:
        server.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8 * 1024 * 1024)
        port = server.getsockname()[1]
        arrivals: list[float] = []
        done = threading.Event()

        def receive() -> None:
            server.settimeout(0.5)
            while True:
                try:
                    server.recv(65536)
                except TimeoutError:
                    if done.is_set():
                        return
                    continue
                except OSError:
                    return
                arrivals.append(time.monotonic())

        receiver = threading.Thread(target=receive, daemon=True)
        receiver.start()

        def send() -> int:
            payload = bytes(payload_bytes)
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as client:
                client.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4 * 1024 * 1024)
                client.connect((hub_address, port))
                started = time.monotonic()
                sent = 0
                while (now := time.monotonic()) - started < seconds:
                    due = int((now - started) * bits_per_second / frame_bits) + 1
                    while sent < due:
                        client.send(payload)
                        sent += 1
                    time.sleep(0.0005)
            return sent

        sent = call_in(site_ns, send)
        done.set()
        receiver.join(SERVER_SECONDS)
    span = arrivals[-1] - arrivals[0] if len(arrivals) > 1 else 0.0
    return UdpDelivery(sent, len(arrivals), payload_bytes, span)


def tcp_upload(
    site_ns: str, hub_ns: str, hub_address: str, size: int, *, congestion_control: str | None = None
) -> float:
    """Seconds to send ``size`` bytes over one TCP connection from the site (to the last byte read
    at the hub). ``congestion_control`` is set on the sending socket (``TCP_CONGESTION``)."""
    with inside(hub_ns):
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    with listener:
        listener.bind((hub_address, 0))
        listener.listen(1)
        port = listener.getsockname()[1]
        finished: list[float] = []

        def sink() -> None:
            connection, _ = listener.accept()
            with connection:
                got = 0
                while got < size:
                    block = connection.recv(1 << 20)
                    if not block:
                        break
                    got += len(block)
                finished.append(time.monotonic())
                connection.sendall(struct.pack("!Q", got))

        receiver = threading.Thread(target=sink, daemon=True)
        receiver.start()

        def send() -> tuple[float, int]:
            block = bytes(1 << 20)
            with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as client:
                if congestion_control is not None:
                    client.setsockopt(
                        socket.IPPROTO_TCP, socket.TCP_CONGESTION, congestion_control.encode()
                    )
                client.connect((hub_address, port))
                started = time.monotonic()
                left = size
                while left:
                    left -= client.send(block[: min(left, len(block))])
                client.settimeout(SERVER_SECONDS)
                got = struct.unpack("!Q", client.recv(8))[0]
            return started, got

        started, got = call_in(site_ns, send)
        receiver.join(SERVER_SECONDS)
    if got != size or not finished:
        raise RuntimeError(f"TCP upload through the link delivered {got} of {size} bytes")
    return finished[0] - started
