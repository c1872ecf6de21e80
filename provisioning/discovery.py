"""WS-Discovery for the field engineer: find the ONVIF cameras on the site's network.

A Probe (SOAP 1.2 over UDP, WS-Discovery 2005/04 as ONVIF requires) goes to the multicast group
239.255.255.250:3702, or to one address for tests and for cameras on another subnet; every device
that matches answers with a ProbeMatches message sent by unicast to the socket that probed.

Building and parsing the XML are pure functions (`build_probe`, `parse_probe_matches`); `probe()`
does the socket I/O. Replies that do not parse are skipped with one log line each.
"""

from __future__ import annotations

import fcntl
import ipaddress
import logging
import socket
import struct
import time
import uuid
import xml.etree.ElementTree as ET
from collections.abc import Sequence
from dataclasses import dataclass
from urllib.parse import unquote
from xml.sax.saxutils import escape, quoteattr

log = logging.getLogger(__name__)

MULTICAST_GROUP = "239.255.255.250"
DISCOVERY_PORT = 3702

SOAP_ENV = "http://www.w3.org/2003/05/soap-envelope"
WSA = "http://schemas.xmlsoap.org/ws/2004/08/addressing"
WSD = "http://schemas.xmlsoap.org/ws/2005/04/discovery"
NETWORK_WSDL = "http://www.onvif.org/ver10/network/wsdl"
DEVICE_WSDL = "http://www.onvif.org/ver10/device/wsdl"

PROBE_ACTION = f"{WSD}/Probe"
PROBE_MATCHES_ACTION = f"{WSD}/ProbeMatches"
DISCOVERY_TO = "urn:schemas-xmlsoap-org:ws:2005:04:discovery"
ANONYMOUS = f"{WSA}/role/anonymous"

# (namespace, local name) of the device types to ask for: ONVIF cameras and encoders.
NETWORK_VIDEO_TRANSMITTER = (NETWORK_WSDL, "NetworkVideoTransmitter")

# A UDP datagram cannot be larger; nothing bigger needs to be read.
MAX_DATAGRAM = 65535
# SOAP-over-UDP sends a multicast message once more after a short delay (UDP_MIN_DELAY 50 ms,
# UDP_MAX_DELAY 250 ms): a lost datagram is the usual reason a camera does not show up.
REPEAT_DELAY = 0.1
SIOCGIFADDR = 0x8915  # Linux ioctl: the IPv4 address of a network interface


class DiscoveryError(Exception):
    """The probe could not be sent (no such interface, no route for multicast, ...)."""


class MalformedReply(ValueError):
    """A datagram that is not a WS-Discovery ProbeMatches message we can use."""


def scope_values(scopes: Sequence[str], kind: str) -> tuple[str, ...]:
    """Values of the ONVIF scopes of one kind ("name", "hardware", "location", ...), decoded."""
    prefix = f"onvif://www.onvif.org/{kind}/"
    return tuple(unquote(s[len(prefix) :]) for s in scopes if s.startswith(prefix))


def scope_location(scopes: Sequence[str]) -> str:
    """A device's location from its scopes: every location scope's value, joined by "/"."""
    return "/".join(scope_values(scopes, "location"))


@dataclass(frozen=True)
class DiscoveredDevice:
    """One ProbeMatch: where the device's ONVIF device service is and what it says it is."""

    endpoint_reference: str
    xaddrs: tuple[str, ...]
    scopes: tuple[str, ...]
    types: tuple[str, ...]
    address: str  # the IP address the reply came from

    def scope_values(self, kind: str) -> tuple[str, ...]:
        """Values of the ONVIF scopes of one kind ("name", "hardware", "location", ...), decoded."""
        return scope_values(self.scopes, kind)

    @property
    def name(self) -> str:
        return " ".join(self.scope_values("name"))

    @property
    def hardware(self) -> str:
        return " ".join(self.scope_values("hardware"))

    @property
    def location(self) -> str:
        return scope_location(self.scopes)


@dataclass(frozen=True)
class ProbeReply:
    """A parsed ProbeMatches message: the probe it answers and its matches."""

    relates_to: str | None
    devices: tuple[DiscoveredDevice, ...]


def new_message_id() -> str:
    return f"uuid:{uuid.uuid4()}"


PROBE_TEMPLATE = (
    '<?xml version="1.0" encoding="UTF-8"?>'
    f'<s:Envelope xmlns:s="{SOAP_ENV}" xmlns:a="{WSA}" xmlns:d="{WSD}">'
    "<s:Header>"
    '<a:Action s:mustUnderstand="1">{action}</a:Action>'
    "<a:MessageID>{message_id}</a:MessageID>"
    "<a:ReplyTo><a:Address>{anonymous}</a:Address></a:ReplyTo>"
    '<a:To s:mustUnderstand="1">{to}</a:To>'
    "</s:Header>"
    "<s:Body><d:Probe>{types}</d:Probe></s:Body>"
    "</s:Envelope>"
)


def build_probe(
    message_id: str, types: Sequence[tuple[str, str]] = (NETWORK_VIDEO_TRANSMITTER,)
) -> bytes:
    """The Probe message, as ONVIF Core (section 7.3) and WS-Discovery 2005/04 define it.

    Written out with the conventional prefixes (s, a, d) because the discovery code in some cameras
    matches on them rather than on namespaces.
    """
    types_xml = ""
    if types:
        declarations = "".join(f" xmlns:dp{n}={quoteattr(ns)}" for n, (ns, _) in enumerate(types))
        qnames = " ".join(f"dp{n}:{escape(local)}" for n, (_, local) in enumerate(types))
        types_xml = f"<d:Types{declarations}>{qnames}</d:Types>"
    return PROBE_TEMPLATE.format(
        action=PROBE_ACTION,
        message_id=escape(message_id),
        anonymous=ANONYMOUS,
        to=DISCOVERY_TO,
        types=types_xml,
    ).encode("utf-8")


def _text(element: ET.Element | None) -> str:
    return (element.text or "").strip() if element is not None else ""


def parse_probe_matches(data: bytes, address: str) -> ProbeReply:
    """Parse a ProbeMatches datagram received from `address`; raise MalformedReply if unusable."""
    try:
        # The stdlib parser neither fetches external entities nor expands nested ones without
        # limit (expat >= 2.4 guards against "billion laughs"), and a datagram is at most 64 kB.
        root = ET.fromstring(data)  # noqa: S314
    except ET.ParseError as exc:
        raise MalformedReply(f"not XML: {exc}") from exc
    if root.tag != f"{{{SOAP_ENV}}}Envelope":
        raise MalformedReply(f"not a SOAP 1.2 envelope (root element {root.tag})")
    action = _text(root.find(f"{{{SOAP_ENV}}}Header/{{{WSA}}}Action"))
    if action and action != PROBE_MATCHES_ACTION:
        raise MalformedReply(f"not a ProbeMatches message (action {action})")
    matches = root.find(f"{{{SOAP_ENV}}}Body/{{{WSD}}}ProbeMatches")
    if matches is None:
        raise MalformedReply("no ProbeMatches in the body")
    relates_to = _text(root.find(f"{{{SOAP_ENV}}}Header/{{{WSA}}}RelatesTo")) or None
    devices = []
    for match in matches.findall(f"{{{WSD}}}ProbeMatch"):
        endpoint = _text(match.find(f"{{{WSA}}}EndpointReference/{{{WSA}}}Address"))
        if not endpoint:
            raise MalformedReply("a ProbeMatch without an endpoint reference")
        devices.append(
            DiscoveredDevice(
                endpoint_reference=endpoint,
                xaddrs=tuple(_text(match.find(f"{{{WSD}}}XAddrs")).split()),
                scopes=tuple(_text(match.find(f"{{{WSD}}}Scopes")).split()),
                types=tuple(_text(match.find(f"{{{WSD}}}Types")).split()),
                address=address,
            )
        )
    return ProbeReply(relates_to=relates_to, devices=tuple(devices))


def interface_address(interface: str) -> str:
    """The IPv4 address to probe from: given as an address, or as a Linux interface name."""
    try:
        return str(ipaddress.IPv4Address(interface))
    except ValueError:
        pass
    request = struct.pack("256s", interface.encode()[:15])
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        try:
            answer = fcntl.ioctl(sock.fileno(), SIOCGIFADDR, request)
        except OSError as exc:
            raise DiscoveryError(
                f"no IPv4 address on network interface {interface!r}: {exc}"
            ) from exc
    return socket.inet_ntoa(answer[20:24])


def _open_socket(interface: str | None) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM, socket.IPPROTO_UDP)
    try:
        local = interface_address(interface) if interface else ""
        sock.bind((local, 0))
        # Discovery stays on the local link, as WS-Discovery intends: a camera on a routed VLAN
        # is found by probing from that VLAN (--interface) or by unicast.
        sock.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_TTL, 1)
        if local:
            sock.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_IF, socket.inet_aton(local))
    except OSError as exc:
        sock.close()
        raise DiscoveryError(
            f"cannot open a discovery socket on {interface or 'any interface'}: {exc}"
        ) from exc
    except DiscoveryError:
        sock.close()
        raise
    return sock


# Devices wait a random 0-500 ms (APP_MAX_DELAY) before answering a multicast probe, so that a
# site's cameras do not all answer at once; slow embedded devices add a second or two on top.
DEFAULT_TIMEOUT = 3.0


def probe(
    *,
    timeout: float = DEFAULT_TIMEOUT,
    interface: str | None = None,
    target: tuple[str, int] | None = None,
    types: Sequence[tuple[str, str]] = (NETWORK_VIDEO_TRANSMITTER,),
    max_devices: int | None = None,
) -> list[DiscoveredDevice]:
    """Send a Probe and collect the answers for `timeout` seconds.

    `interface` (an IPv4 address or an interface name) picks the network to probe; `target`
    sends the probe by unicast to one (host, port) instead of the multicast group. With
    `max_devices`, return as soon as that many devices have answered (1 for a unicast probe).
    Devices are returned once each (by endpoint reference), in the order they answered.
    """
    message_id = new_message_id()
    message = build_probe(message_id, types)
    destination = target or (MULTICAST_GROUP, DISCOVERY_PORT)
    where = interface or "any interface"
    found: dict[str, DiscoveredDevice] = {}
    with _open_socket(interface) as sock:
        _send(sock, message, destination, where)
        repeat_at: float | None = time.monotonic() + REPEAT_DELAY
        deadline = time.monotonic() + timeout
        while (now := time.monotonic()) < deadline:
            if repeat_at is not None and now >= repeat_at:
                _send(sock, message, destination, where)
                repeat_at = None
            wait_until = deadline if repeat_at is None else min(deadline, repeat_at)
            sock.settimeout(max(wait_until - now, 0.001))
            try:
                data, (host, _port) = sock.recvfrom(MAX_DATAGRAM)
            except TimeoutError:
                continue
            for device in accept_reply(data, host, message_id):
                found.setdefault(device.endpoint_reference, device)
            if max_devices is not None and len(found) >= max_devices:
                break
    log.info("discovery on %s to %s:%s: %d device(s) answered", where, *destination, len(found))
    return list(found.values())


def _send(sock: socket.socket, message: bytes, destination: tuple[str, int], where: str) -> None:
    try:
        sock.sendto(message, destination)
    except OSError as exc:
        host, port = destination
        raise DiscoveryError(
            f"cannot send a WS-Discovery probe to {host}:{port} on {where}: {exc}"
        ) from exc


def accept_reply(data: bytes, host: str, message_id: str) -> tuple[DiscoveredDevice, ...]:
    """The devices in a datagram that answers our probe; nothing (and a log line) otherwise."""
    try:
        reply = parse_probe_matches(data, host)
    except MalformedReply as exc:
        log.warning("discovery: skipped a malformed reply from %s: %s", host, exc)
        return ()
    if reply.relates_to is not None and reply.relates_to != message_id:
        log.debug(
            "discovery: skipped a reply from %s to another probe (%s)", host, reply.relates_to
        )
        return ()
    for device in reply.devices:
        log.debug(
            "discovery: %s at %s answered with %s", device.endpoint_reference, host, device.xaddrs
        )
    return reply.devices
