"""WS-Discovery: the probe and ProbeMatches as XML, and a unicast probe to the fake camera."""

from __future__ import annotations

import logging
import xml.etree.ElementTree as ET

import pytest

from provisioning.discovery import (
    NETWORK_WSDL,
    PROBE_ACTION,
    DiscoveryError,
    MalformedReply,
    accept_reply,
    build_probe,
    interface_address,
    parse_probe_matches,
    probe,
)
from tests.support.onvif_device import FIXTURES, FakeOnvifDevice

SOAP = "{http://www.w3.org/2003/05/soap-envelope}"
WSA = "{http://schemas.xmlsoap.org/ws/2004/08/addressing}"
WSD = "{http://schemas.xmlsoap.org/ws/2005/04/discovery}"


def test_probe_message() -> None:
    data = build_probe("uuid:0a6dc791-2be6-4991-9af1-454778a1917a")
    root = ET.fromstring(data)
    assert root.findtext(f"{SOAP}Header/{WSA}Action") == PROBE_ACTION
    assert (
        root.findtext(f"{SOAP}Header/{WSA}MessageID") == "uuid:0a6dc791-2be6-4991-9af1-454778a1917a"
    )
    assert root.findtext(f"{SOAP}Header/{WSA}To") == "urn:schemas-xmlsoap-org:ws:2005:04:discovery"
    assert root.findtext(f"{SOAP}Body/{WSD}Probe/{WSD}Types") == "dp0:NetworkVideoTransmitter"
    # The QName's prefix is declared where it is used.
    assert f'xmlns:dp0="{NETWORK_WSDL}"' in data.decode()
    everything = ET.fromstring(build_probe("uuid:1", types=()))
    assert everything.find(f"{SOAP}Body/{WSD}Probe/{WSD}Types") is None


def test_probe_matches_from_a_camera() -> None:
    reply = parse_probe_matches(
        (FIXTURES / "probe_matches_captured.xml").read_bytes(), "192.168.1.90"
    )
    assert reply.relates_to == "uuid:0a6dc791-2be6-4991-9af1-454778a1917a"
    (device,) = reply.devices
    assert device.endpoint_reference == "urn:uuid:b5f7a1c2-0001-11b2-8070-accc8e0a1b2c"
    assert device.xaddrs == (
        "http://192.168.1.90/onvif/device_service",
        "http://[fe80::accc:8eff:fe0a:1b2c]/onvif/device_service",
    )
    assert device.types == ("dn:NetworkVideoTransmitter", "tds:Device")
    assert device.address == "192.168.1.90"
    assert device.name == "Town Hall North"
    assert device.hardware == "P3245-LVE"
    assert device.location == "country/uk/city/leeds"
    assert device.scope_values("Profile") == ("Streaming", "G")


@pytest.mark.parametrize(
    ("data", "problem"),
    [
        (b"\x00\x9c<<not xml", "not XML"),
        (b"<html><body>hello</body></html>", "not a SOAP 1.2 envelope"),
        (f'<s:Envelope xmlns:s="{SOAP[1:-1]}"><s:Body/></s:Envelope>'.encode(), "no ProbeMatches"),
        (
            (
                f'<s:Envelope xmlns:s="{SOAP[1:-1]}" xmlns:d="{WSD[1:-1]}"><s:Body><d:ProbeMatches>'
                "<d:ProbeMatch><d:XAddrs>http://x/</d:XAddrs></d:ProbeMatch>"
                "</d:ProbeMatches></s:Body></s:Envelope>"
            ).encode(),
            "without an endpoint reference",
        ),
    ],
)
def test_malformed_replies(data: bytes, problem: str) -> None:
    with pytest.raises(MalformedReply, match=problem):
        parse_probe_matches(data, "10.0.0.1")


def test_replies_are_accepted_only_for_our_probe(caplog: pytest.LogCaptureFixture) -> None:
    data = (FIXTURES / "probe_matches_captured.xml").read_bytes()
    assert len(accept_reply(data, "192.168.1.90", "uuid:0a6dc791-2be6-4991-9af1-454778a1917a")) == 1
    assert accept_reply(data, "192.168.1.90", "uuid:some-other-probe") == ()
    with caplog.at_level(logging.WARNING):
        assert accept_reply(b"garbage", "10.0.0.7", "uuid:x") == ()
    assert "malformed reply from 10.0.0.7" in caplog.text


def test_fake_camera_answers_our_probe() -> None:
    device = FakeOnvifDevice()  # not started: only its pure answer is used
    try:
        answer = device.probe_reply(build_probe("uuid:abc"))
        assert answer is not None
        reply = parse_probe_matches(answer, "127.0.0.1")
        assert reply.relates_to == "uuid:abc"
        assert reply.devices[0].xaddrs == (device.xaddr,)
        assert (
            device.probe_reply(build_probe("uuid:abc", types=(("urn:printers", "Printer"),)))
            is None
        )
    finally:
        device.stop()


def test_unicast_probe(onvif_device: FakeOnvifDevice) -> None:
    found = probe(timeout=5.0, target=("127.0.0.1", onvif_device.discovery_port), max_devices=1)
    assert [(d.endpoint_reference, d.xaddrs, d.address) for d in found] == [
        (onvif_device.endpoint_reference, (onvif_device.xaddr,), "127.0.0.1")
    ]
    assert found[0].name == "Fake Camera"


def test_unicast_probe_from_an_interface(onvif_device: FakeOnvifDevice) -> None:
    found = probe(
        timeout=5.0,
        interface="lo",
        target=("127.0.0.1", onvif_device.discovery_port),
        max_devices=1,
    )
    assert len(found) == 1


def test_garbage_replies_are_skipped(
    onvif_device: FakeOnvifDevice, caplog: pytest.LogCaptureFixture
) -> None:
    onvif_device.set_fault_mode("garbage")
    with caplog.at_level(logging.WARNING):
        found = probe(timeout=0.5, target=("127.0.0.1", onvif_device.discovery_port))
    assert found == []
    assert "skipped a malformed reply from 127.0.0.1" in caplog.text


def test_interfaces() -> None:
    assert interface_address("127.0.0.1") == "127.0.0.1"
    assert interface_address("lo") == "127.0.0.1"
    with pytest.raises(DiscoveryError, match="no-such-if0"):
        interface_address("no-such-if0")
