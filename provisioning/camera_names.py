"""Naming new cameras: from the device's host name, its ONVIF location scope, or names given by
the engineer; in a stable order (by address), with ids slugged from the names and unique. Pure.

A device that has no such name (no host name, no location scope) keeps the numbered id
(``cam-3``) and the reason is reported; two devices with the same name get ``-2``, ``-3``.
"""

from __future__ import annotations

import ipaddress
import re
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Literal

from cctv_common.wire.ids import is_valid_id

NameSource = Literal["hostname", "location", "given"]
NAME_SOURCES: tuple[NameSource, ...] = ("hostname", "location", "given")
MAX_ID = 64


class NamingRefused(ValueError):
    """The names cannot be given (e.g. --names lists fewer names than there are devices)."""


@dataclass(frozen=True)
class Named:
    """A camera's human name and the id wanted for it ("" when the device gave no name)."""

    name: str
    wanted_id: str
    note: str = ""  # why the device kept a numbered id


def slug(text: str) -> str:
    """``"High St / North"`` -> ``"high-st-north"``: ASCII letters, digits and single dashes."""
    decomposed = unicodedata.normalize("NFKD", text)
    plain = "".join(c for c in decomposed if not unicodedata.combining(c))  # é -> e
    return re.sub(r"[^a-z0-9]+", "-", plain.lower()).strip("-")[:MAX_ID].rstrip("-")


def address_key(host: str, port: int) -> tuple[int, int, str, int]:
    """Sort key for a device address: IPv4 before IPv6 by number, then host names, then port."""
    try:
        ip = ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return (2, 0, host.lower(), port)
    return (ip.version // 6, int(ip), "", port)  # IPv4 -> 0, IPv6 -> 1


def parse_given(text: str | None) -> list[str]:
    """``--names "North gate, South gate"`` -> ``["North gate", "South gate"]``."""
    return [part.strip() for part in (text or "").split(",") if part.strip()]


def names_for(
    sources: Sequence[tuple[str, str]], source: NameSource, given: Sequence[str] = ()
) -> list[Named]:
    """One Named per device, in the order given. ``sources`` holds each device's (host name,
    location); ``given`` the engineer's names, one per device, in address order."""
    if source == "given":
        if len(given) != len(sources):
            raise NamingRefused(
                f"--names gives {len(given)} name(s) for {len(sources)} device(s), in address order"
            )
        return [_named(name, "given name") for name in given]
    out = []
    for hostname, location in sources:
        if source == "hostname":
            out.append(_named(hostname, "host name"))
        else:
            out.append(_named(location.replace("/", " "), "location scope"))
    return out


def _named(text: str, what: str) -> Named:
    wanted = slug(text)
    if not wanted:
        note = f"no {what}" if not text.strip() else f"{what} {text!r} has no letters or digits"
        return Named(text.strip(), "", note)
    if not is_valid_id(wanted):
        return Named(text.strip(), "", f"{what} {text!r} does not make a camera id")
    return Named(text.strip(), wanted)


def unique_id(wanted: str, taken: Iterable[str]) -> str:
    """``wanted``, or ``wanted-2``, ``wanted-3``, ... when it is taken."""
    used = set(taken)
    if wanted not in used:
        return wanted
    n = 2
    while True:
        suffix = f"-{n}"
        candidate = wanted[: MAX_ID - len(suffix)] + suffix
        if candidate not in used:
            return candidate
        n += 1
