"""Can this site log in to its broker? One MQTT 5 CONNECT with the agent's credentials, the
CONNACK's reason code read, then DISCONNECT. Blocking: call from a thread.

Written with the standard library (a socket, ``ssl``), not paho, so that nothing is taken from
the site's session: the login asks to resume the session (``clean_start`` off, the agent's
7-day expiry), subscribes to nothing and reads nothing after the CONNACK, so anything queued for
the agent stays unacknowledged and is delivered to the agent when it reconnects. The broker binds
client ids to usernames, so while the agent runs this login takes its connection over for a
moment: paho reconnects it within about a second (and the site's last will may show it offline
meanwhile).
"""

from __future__ import annotations

import socket
import ssl
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from edge_agent.health.checks import BrokerOutcome

SESSION_EXPIRY_SECONDS: Final = 7 * 24 * 3600  # the agent's own (edge_agent.uplink.connection)
KEEPALIVE_SECONDS: Final = 30
# MQTT 5 CONNACK reason codes a site sees when its login is refused.
REFUSALS: Final = {
    0x80: "unspecified error",
    0x84: "unsupported protocol version",
    0x85: "client identifier not valid",
    0x86: "bad user name or password",
    0x87: "not authorised",
    0x88: "server unavailable",
    0x89: "server busy",
    0x8A: "banned",
    0x8C: "bad authentication method",
}


@dataclass(frozen=True)
class BrokerLoginResult:
    outcome: BrokerOutcome
    detail: str


def _varint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte, value = value % 128, value // 128
        out.append(byte | (0x80 if value else 0))
        if not value:
            return bytes(out)


def _text(value: str) -> bytes:
    data = value.encode("utf-8")
    return struct.pack("!H", len(data)) + data


def connect_packet(client_id: str, username: str, password: str | None) -> bytes:
    """An MQTT 5 CONNECT resuming the session (clean start off) with the agent's expiry."""
    flags = 0x80 | (0x40 if password else 0)
    properties = b"\x11" + struct.pack("!I", SESSION_EXPIRY_SECONDS)
    variable = _text("MQTT") + bytes([5, flags]) + struct.pack("!H", KEEPALIVE_SECONDS)
    variable += _varint(len(properties)) + properties
    payload = _text(client_id) + _text(username)
    if password:
        payload += _text(password)
    body = variable + payload
    return b"\x10" + _varint(len(body)) + body


def parse_connack(data: bytes) -> int | None:
    """The CONNACK's reason code, or None when ``data`` does not start with a CONNACK."""
    if len(data) < 4 or data[0] != 0x20:
        return None
    # Remaining length is small for a CONNACK: one byte, or two with properties.
    at = 1
    while data[at] & 0x80:
        at += 1
        if at >= len(data):
            return None
    at += 1
    if len(data) < at + 2:
        return None
    return data[at + 1]


def _read_some(sock: socket.socket, wanted: int) -> bytes:
    data = b""
    while len(data) < wanted:
        chunk = sock.recv(wanted - len(data))
        if not chunk:
            break
        data += chunk
    return data


def try_login(
    *,
    host: str,
    port: int,
    username: str,
    password: str | None,
    client_id: str,
    tls: bool,
    ca_file: Path | None,
    timeout: float = 10.0,
) -> BrokerLoginResult:
    where = f"{host}:{port}"
    try:
        raw = socket.create_connection((host, port), timeout=timeout)
    except OSError as exc:
        return BrokerLoginResult("unreachable", f"{where}: {exc.strerror or exc}")
    try:
        sock: socket.socket = raw
        if tls:
            context = ssl.create_default_context(cafile=str(ca_file) if ca_file else None)
            try:
                sock = context.wrap_socket(raw, server_hostname=host)
            except (ssl.SSLError, OSError) as exc:
                return BrokerLoginResult("unreachable", f"{where}: TLS failed: {exc}")
        sock.settimeout(timeout)
        try:
            sock.sendall(connect_packet(client_id, username, password))
            head = _read_some(sock, 2)
            rest = _read_some(sock, head[1] & 0x7F) if len(head) == 2 else b""
        except OSError as exc:
            return BrokerLoginResult("unreachable", f"{where}: no answer: {exc}")
        code = parse_connack(head + rest)
        if code is None:
            return BrokerLoginResult("unreachable", f"{where}: not an MQTT 5 broker's answer")
        if code != 0:
            reason = REFUSALS.get(code, f"reason code 0x{code:02x}")
            return BrokerLoginResult("refused", f"{where} refused {username!r}: {reason}")
        try:
            sock.sendall(b"\xe0\x00")  # DISCONNECT, normal: the session is kept
        except OSError:
            pass
        security = "TLS" if tls else "plain MQTT"
        return BrokerLoginResult("authorised", f"{where} accepted {username!r} ({security})")
    finally:
        raw.close()
