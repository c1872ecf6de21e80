"""Naming new cameras (pure): slugs, address order, names from host name, location or given."""

from __future__ import annotations

import pytest

from provisioning.camera_names import (
    Named,
    NamingRefused,
    address_key,
    names_for,
    parse_given,
    slug,
    unique_id,
)


def test_slug() -> None:
    assert slug("High St / North") == "high-st-north"
    assert slug("  Café Rouge—Door 2 ") == "cafe-rouge-door-2"
    assert slug("country/uk") == "country-uk"
    assert slug("***") == ""
    assert len(slug("x" * 100)) == 64


def test_address_order_is_numeric_ipv4_then_ipv6_then_names() -> None:
    addresses = [("10.0.0.10", 80), ("cam.local", 80), ("10.0.0.9", 8080), ("::1", 80)]
    addresses += [("10.0.0.9", 80)]
    ordered = sorted(addresses, key=lambda a: address_key(*a))
    assert ordered == [
        ("10.0.0.9", 80),
        ("10.0.0.9", 8080),
        ("10.0.0.10", 80),
        ("::1", 80),
        ("cam.local", 80),
    ]


def test_names_from_hostname_and_location() -> None:
    sources = [("Gate-North", "city/leeds/gate north"), ("", "")]
    by_host = names_for(sources, "hostname")
    assert by_host[0] == Named("Gate-North", "gate-north")
    assert by_host[1].wanted_id == "" and by_host[1].note == "no host name"
    by_place = names_for(sources, "location")
    assert by_place[0] == Named("city leeds gate north", "city-leeds-gate-north")
    assert by_place[1].note == "no location scope"


def test_given_names_one_per_device() -> None:
    given = parse_given(" North gate, South gate ,")
    assert given == ["North gate", "South gate"]
    assert [n.wanted_id for n in names_for([("", "")] * 2, "given", given)] == [
        "north-gate",
        "south-gate",
    ]
    with pytest.raises(NamingRefused, match="gives 2 name"):
        names_for([("", "")] * 3, "given", given)


def test_unique_ids() -> None:
    assert unique_id("ipc", {"cam-1"}) == "ipc"
    assert unique_id("ipc", {"ipc", "ipc-2"}) == "ipc-3"
    assert len(unique_id("x" * 64, {"x" * 64})) == 64
