"""The link's delay: a userspace relay that copies Ethernet frames between two interfaces late.

The kernel here has no ``netem``, so the delay and the jitter of a shaped link come from this
process, run in the middle network namespace between a site and the hub (``ShapedLink`` starts it
with ``ip netns exec``). It holds a packet socket on each of the two veth ends there, reads every
frame that arrives on one, and writes it out of the other once its time has come
(``DelayLine``: fixed delay, jitter, never reordered). The middle namespace has no addresses, so
its own kernel ignores the frames; rate and loss are the kernel's (tbf on the interfaces this relay
writes to, nftables where the frames arrive), so a frame the bottleneck queue refuses is dropped
here as a full router queue would drop it, and counted.

Control is on stdin, one word a line: ``stats`` prints the counters as one JSON line on stdout;
end of input (the parent closed the pipe or died) stops the relay. ``ready`` is printed once both
sockets are open. Run as ``python -m devkit.netlink.relay --left IF --right IF --delay-ms N``.
"""

from __future__ import annotations

import argparse
import errno
import json
import os
import random
import select
import socket
import sys
import time
from dataclasses import asdict, dataclass
from typing import Final

from devkit.netlink.delay_line import DelayLine, HeldFrames

ETH_P_ALL: Final = 0x0003
SOL_PACKET: Final = 263
PACKET_IGNORE_OUTGOING: Final = 23
PACKET_OUTGOING: Final = 4
SO_RCVBUFFORCE: Final = 33
SO_SNDBUFFORCE: Final = 32
SOCKET_BUFFER_BYTES: Final = 16 * 1024 * 1024
MAX_FRAME: Final = 65536
# A frame sent later than this after its departure time counts as late in the stats.
LATE_SECONDS: Final = 0.001
# Longest wait in select() when nothing is held (stdin and the sockets wake it anyway).
IDLE_WAIT_SECONDS: Final = 1.0


@dataclass
class DirectionStats:
    """What happened to the frames going one way."""

    received: int = 0
    sent: int = 0
    queue_drops: int = 0  # the bottleneck queue (tbf) was full: ENOBUFS
    oversize: int = 0  # bigger than a frame on the wire: an offload was left on
    late: int = 0
    max_late_ms: float = 0.0
    held_now: int = 0


class Direction:
    """Frames read from ``source`` and written to ``sink`` after their delay."""

    def __init__(self, source: socket.socket, sink: socket.socket, line: DelayLine) -> None:
        self.source = source
        self.sink = sink
        self.held = HeldFrames(line)
        self.stats = DirectionStats()
        self.blocked = False

    def read_all(self, max_frame_bytes: int) -> None:
        while True:
            try:
                frame, address = self.source.recvfrom(MAX_FRAME)
            except BlockingIOError:
                return
            if address[2] == PACKET_OUTGOING:
                continue  # our own writes on this interface, if the kernel still shows them
            self.stats.received += 1
            if len(frame) > max_frame_bytes:
                self.stats.oversize += 1
                continue
            self.held.hold(time.monotonic(), frame)

    def send_due(self) -> None:
        self.blocked = False
        while True:
            due_at = self.held.next_departure()
            now = time.monotonic()
            if due_at is None or due_at > now:
                return
            frame = self.held.frames[0][1]
            try:
                self.sink.send(frame)
            except BlockingIOError:
                self.blocked = True  # socket buffer full: wait until it is writable
                return
            except OSError as exc:
                if exc.errno != errno.ENOBUFS:
                    raise
                self.stats.queue_drops += 1
            else:
                self.stats.sent += 1
            self.held.due(now)
            late = now - due_at
            if late > LATE_SECONDS:
                self.stats.late += 1
            self.stats.max_late_ms = max(self.stats.max_late_ms, late * 1000)

    def snapshot(self) -> dict[str, object]:
        self.stats.held_now = len(self.held)
        return asdict(self.stats)


def open_packet_socket(interface: str) -> socket.socket:
    sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL))
    sock.setsockopt(socket.SOL_SOCKET, SO_RCVBUFFORCE, SOCKET_BUFFER_BYTES)
    sock.setsockopt(socket.SOL_SOCKET, SO_SNDBUFFORCE, SOCKET_BUFFER_BYTES)
    sock.setsockopt(SOL_PACKET, PACKET_IGNORE_OUTGOING, 1)
    sock.bind((interface, ETH_P_ALL))
    sock.setblocking(False)
    return sock


def serve(left: str, right: str, forward: DelayLine, back: DelayLine, mtu: int) -> None:
    left_sock, right_sock = open_packet_socket(left), open_packet_socket(right)
    directions = {
        left_sock.fileno(): Direction(left_sock, right_sock, forward),
        right_sock.fileno(): Direction(right_sock, left_sock, back),
    }
    by_sink = {d.sink.fileno(): d for d in directions.values()}
    max_frame = mtu + 14 + 4  # + Ethernet header + a VLAN tag
    control = sys.stdin.fileno()
    print("ready", flush=True)
    while True:
        waits = [d.held.next_departure() for d in directions.values() if not d.blocked]
        upcoming = [w for w in waits if w is not None]
        timeout = max(0.0, min(upcoming) - time.monotonic()) if upcoming else IDLE_WAIT_SECONDS
        writable = [d.sink.fileno() for d in directions.values() if d.blocked]
        readable, can_write, _ = select.select([control, *directions], writable, [], timeout)
        for fd in readable:
            if fd == control:
                line = os.read(control, 4096)
                if not line:
                    return
                if b"stats" in line:
                    report = {
                        "left_to_right": directions[left_sock.fileno()].snapshot(),
                        "right_to_left": directions[right_sock.fileno()].snapshot(),
                    }
                    print(json.dumps(report), flush=True)
            else:
                directions[fd].read_all(max_frame)
        for fd in can_write:
            by_sink[fd].blocked = False
        for direction in directions.values():
            if not direction.blocked:
                direction.send_due()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--left", required=True, help="interface towards the site")
    parser.add_argument("--right", required=True, help="interface towards the hub")
    parser.add_argument("--delay-ms", type=float, required=True, help="one-way delay, each way")
    parser.add_argument("--jitter-ms", type=float, default=0.0, help="± this, uniformly")
    parser.add_argument("--mtu", type=int, default=1500)
    parser.add_argument("--seed", type=int, default=None, help="for a repeatable jitter")
    args = parser.parse_args(argv)
    rng = random.Random(args.seed)
    delay, jitter = args.delay_ms / 1000, args.jitter_ms / 1000
    forward = DelayLine(delay, jitter, random.Random(rng.random()))
    back = DelayLine(delay, jitter, random.Random(rng.random()))
    try:
        serve(args.left, args.right, forward, back, args.mtu)
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
