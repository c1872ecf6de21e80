"""Connect to ONVIF devices and describe them: what the field engineer's CLI prints and saves.

`describe()` connects to one device (clock offset, device information, media profiles and the
stream URI of each video profile, optionally a snapshot) and always returns a
`DeviceDescription`: a device that does not answer, refuses the credentials or answers with
something unusable comes back with `error` set (one readable line, never a password) rather than
raising. `describe_all()` does that for many devices at once, one thread each, each bounded by a
deadline, so one stuck camera delays the report by at most that deadline.

Stream URIs are kept redacted: these descriptions are printed, written as JSON and read back by
`cctv-provision add-cameras`; none of them ever holds a credential.
"""

from __future__ import annotations

import ipaddress
import logging
import re
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

from cctv_common.files import atomic_write
from cctv_common.uris import redact_uri
from cctv_onvif import (
    MediaProfile,
    OnvifAuthError,
    OnvifClient,
    OnvifError,
    OnvifProfileError,
    OnvifSettings,
    OnvifTarget,
    OnvifUnreachable,
    OnvifUnsupported,
    choose_profile,
)
from provisioning.discovery import DiscoveredDevice, scope_location

log = logging.getLogger(__name__)

ErrorKind = Literal["auth", "unreachable", "protocol", "unsupported", "profile", "timeout", "input"]
JSON_FORMAT = "cctv-provision-discover/1"


@dataclass(frozen=True)
class ProfileDescription:
    token: str
    name: str
    encoding: str | None
    width: int | None
    height: int | None
    fps: float | None
    choice: str = ""  # "main", "sub", "main+sub" (a camera with one video profile) or ""
    stream_uri: str = ""  # redacted; "" for a profile without video or when it failed
    error: str | None = None


@dataclass(frozen=True)
class DeviceDescription:
    """One device: where it is, what WS-Discovery said, and what it told us when we connected."""

    xaddr: str
    address: str  # host:port of the device service
    endpoint_reference: str = ""
    name: str = ""  # from the device's ONVIF scopes
    hardware: str = ""
    location: str = ""  # from the device's location scopes, joined by "/"
    hostname: str = ""  # GetHostname, when connected
    connected: bool = False
    error: str | None = None
    error_kind: ErrorKind | None = None
    manufacturer: str = ""
    model: str = ""
    serial: str = ""
    firmware: str = ""
    hardware_id: str = ""
    clock_offset_seconds: float | None = None
    profiles: tuple[ProfileDescription, ...] = ()
    snapshot_path: str | None = None
    snapshot_error: str | None = None

    @property
    def failed(self) -> bool:
        return self.error is not None

    @property
    def host(self) -> str:
        return urlsplit(self.xaddr).hostname or ""

    @property
    def port(self) -> int:
        parts = urlsplit(self.xaddr)
        return parts.port or (443 if parts.scheme == "https" else 80)

    def profile(self, choice: str) -> ProfileDescription | None:
        """The profile a camera config's `profile = "main" | "sub" | token` would record."""
        if choice in ("main", "sub"):
            return next((p for p in self.profiles if choice in p.choice.split("+")), None)
        return next((p for p in self.profiles if p.token == choice), None)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, value: Mapping[str, Any]) -> DeviceDescription:
        """From one entry of `discover --json`; ValueError when it is not one."""
        xaddr = value.get("xaddr")
        if not isinstance(xaddr, str) or not xaddr:
            raise ValueError("a device without an xaddr")
        target = OnvifTarget.from_xaddr("", xaddr)
        names = {f.name for f in cls.__dataclass_fields__.values()}
        plain = {k: v for k, v in value.items() if k in names and k != "profiles"}
        profiles = tuple(
            ProfileDescription(**{k: v for k, v in p.items() if k in _PROFILE_FIELDS})
            for p in value.get("profiles") or ()
            if isinstance(p, Mapping)
        )
        try:
            description = cls(**{**plain, "xaddr": xaddr, "address": target.address})
        except TypeError as exc:
            raise ValueError(f"device {redact_uri(xaddr)}: {exc}") from exc
        return replace(description, profiles=profiles)


_PROFILE_FIELDS = {f for f in ProfileDescription.__dataclass_fields__}


def choose_xaddr(xaddrs: Sequence[str]) -> str | None:
    """The device service address to use: the first IPv4 http(s) one, else the first usable."""
    usable = []
    for xaddr in xaddrs:
        try:
            OnvifTarget.from_xaddr("", xaddr)
        except ValueError:
            continue
        usable.append(xaddr)
    for xaddr in usable:
        try:
            ipaddress.IPv4Address(urlsplit(xaddr).hostname or "")
        except ValueError:
            continue
        return xaddr
    return usable[0] if usable else None


def from_discovery(device: DiscoveredDevice) -> DeviceDescription | None:
    """What WS-Discovery told of a device; None when it names no usable device service."""
    xaddr = choose_xaddr(device.xaddrs)
    if xaddr is None:
        return None
    return DeviceDescription(
        xaddr=xaddr,
        address=OnvifTarget.from_xaddr("", xaddr).address,
        endpoint_reference=device.endpoint_reference,
        name=device.name,
        hardware=device.hardware,
        location=device.location,
    )


def from_xaddr(xaddr: str) -> DeviceDescription:
    """A device given by its device service address; ValueError when it is not one."""
    return DeviceDescription(xaddr=xaddr, address=OnvifTarget.from_xaddr("", xaddr).address)


def error_kind(exc: OnvifError) -> ErrorKind:
    if isinstance(exc, OnvifAuthError):
        return "auth"
    if isinstance(exc, OnvifUnreachable):
        return "unreachable"
    if isinstance(exc, OnvifUnsupported):
        return "unsupported"
    if isinstance(exc, OnvifProfileError):
        return "profile"
    return "protocol"


def _choices(profiles: Sequence[MediaProfile]) -> dict[str, str]:
    chosen: dict[str, list[str]] = {}
    for choice in ("main", "sub"):
        profile = choose_profile(profiles, choice)
        if profile is not None:
            chosen.setdefault(profile.token, []).append(choice)
    return {token: "+".join(names) for token, names in chosen.items()}


def snapshot_file_name(device: DeviceDescription) -> str:
    return re.sub(r"[^A-Za-z0-9._-]", "_", device.address.replace(":", "_")) + ".jpg"


def describe(
    device: DeviceDescription,
    user: str,
    password: str,
    settings: OnvifSettings,
    *,
    snapshot_dir: Path | None = None,
    snapshot_profile: str = "main",
) -> DeviceDescription:
    """Connect to one device and describe it; errors end up in the description, never raised."""
    target = OnvifTarget.from_xaddr("", device.xaddr, user, password)
    with OnvifClient(target, settings) as client:
        try:
            clock = client.get_system_date_and_time()
            device = replace(device, clock_offset_seconds=round(clock.offset_seconds, 3))
            info = client.get_device_information()
            device = replace(
                device,
                connected=True,
                manufacturer=info.manufacturer,
                model=info.model,
                serial=info.serial,
                firmware=info.firmware,
                hardware_id=info.hardware_id,
            )
            profiles = client.get_profiles()
        except OnvifError as exc:
            return replace(device, error=str(exc), error_kind=error_kind(exc))
        device = _names(client, device)
        choices = _choices(profiles)
        described = []
        for profile in profiles:
            uri, problem = "", None
            if profile.pixels > 0:
                try:
                    uri = client.stream_uri_of(profile.token).redacted
                except OnvifError as exc:
                    problem = str(exc)
            described.append(
                ProfileDescription(
                    token=profile.token,
                    name=profile.name,
                    encoding=profile.encoding,
                    width=profile.width,
                    height=profile.height,
                    fps=profile.fps,
                    choice=choices.get(profile.token, ""),
                    stream_uri=uri,
                    error=problem,
                )
            )
        device = replace(device, profiles=tuple(described))
        if snapshot_dir is not None:
            device = _save_snapshot(client, device, snapshot_dir, snapshot_profile)
    return device


def _names(client: OnvifClient, device: DeviceDescription) -> DeviceDescription:
    """The device's host name and, when discovery did not give it, its location scopes; a
    device that answers neither keeps them empty (they only name cameras)."""
    try:
        device = replace(device, hostname=client.get_hostname())
    except OnvifError as exc:
        log.info("device at %s: no host name: %s", device.address, exc)
    if not device.location:
        try:
            device = replace(device, location=scope_location(client.get_scopes()))
        except OnvifError as exc:
            log.info("device at %s: no scopes: %s", device.address, exc)
    return device


def _save_snapshot(
    client: OnvifClient, device: DeviceDescription, folder: Path, profile: str
) -> DeviceDescription:
    try:
        image = client.fetch_snapshot(profile)
    except OnvifError as exc:
        return replace(device, snapshot_error=str(exc))
    path = folder / snapshot_file_name(device)
    try:
        atomic_write(path, image)
    except OSError as exc:
        return replace(device, snapshot_error=f"cannot write {path}: {exc.strerror or exc}")
    return replace(device, snapshot_path=str(path))


@dataclass
class _Slot:
    device: DeviceDescription
    result: DeviceDescription | None = None
    thread: threading.Thread | None = field(default=None, repr=False)


def describe_all(
    devices: Sequence[DeviceDescription],
    user: str,
    password: str,
    *,
    deadline_seconds: float,
    settings: OnvifSettings | None = None,
    snapshot_dir: Path | None = None,
    snapshot_profile: str = "main",
) -> list[DeviceDescription]:
    """Describe every device in parallel, one daemon thread each, in the order given.

    A device not done within `deadline_seconds` is reported as not answering and its thread is
    left to end on its own HTTP timeouts (daemon threads never hold the process at exit).
    """
    settings = settings or OnvifSettings(timeout=min(10.0, max(1.0, deadline_seconds / 3)))
    slots = [_Slot(device) for device in devices]

    def work(slot: _Slot) -> None:
        try:
            slot.result = describe(
                slot.device,
                user,
                password,
                settings,
                snapshot_dir=snapshot_dir,
                snapshot_profile=snapshot_profile,
            )
        except Exception as exc:  # a bug must not lose the other devices' reports
            log.exception("device at %s: describing it failed", slot.device.address)
            problem = f"device at {slot.device.address}: internal error: {exc!r}"
            slot.result = replace(slot.device, error=problem)

    for slot in slots:
        slot.thread = threading.Thread(
            target=work, args=(slot,), name=f"describe-{slot.device.address}", daemon=True
        )
        slot.thread.start()
    end = time.monotonic() + deadline_seconds
    for slot in slots:
        assert slot.thread is not None
        slot.thread.join(max(0.0, end - time.monotonic()))
    results = []
    for slot in slots:
        if slot.result is None:
            late = f"device at {slot.device.address} does not answer: not done within"
            slot.result = replace(
                slot.device, error=f"{late} {deadline_seconds:g} s", error_kind="timeout"
            )
        results.append(slot.result)
    return results
