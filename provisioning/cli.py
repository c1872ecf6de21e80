"""``cctv-provision``: the field engineer's tool. Find the ONVIF cameras on a site and add them to
the agent's config.

  cctv-provision discover [--interface IF|ADDR] [--timeout S] [--target HOST:PORT ...]
                          [--user U (--password P | --password-env VAR)] [--json] [--snapshots DIR]
  cctv-provision add-cameras --config agent.toml (--from-json FILE | --xaddr URL ...)
                          --user U (--password P | --password-env VAR) [--profile main|sub]
                          [--name-from hostname|location|given [--names a,b]]
                          [--password-store file|credential] [--password-dir DIR]
  cctv-provision check --config agent.toml [--skip CHECK ...]

Exit codes: 0 done, 1 some devices failed (each reported on one line; the others are done),
2 bad input (nothing done). Passwords are never printed; stream URIs are shown without
credentials. Prefer --password-env (or the prompt) to --password, which other users of the
machine can see in the process list.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import TextIO

from cctv_common.cli_options import add_common_options, setup_logging
from provisioning import add_cameras, enroll
from provisioning.check import add_check_command
from provisioning.cli_input import (
    EXIT_BAD_INPUT,
    EXIT_OK,
    EXIT_SOME_FAILED,
    BadInput,
    add_credentials,
    add_device_timeout,
    password_from,
)
from provisioning.discovery import DEFAULT_TIMEOUT, DiscoveredDevice, DiscoveryError, probe
from provisioning.inventory import (
    JSON_FORMAT,
    DeviceDescription,
    describe_all,
    from_discovery,
)

# Cameras whose clock is further off than this are marked: the agent warns at the same bound.
CLOCK_WARNING_SECONDS = 2.0

log = logging.getLogger("provisioning")


def parse_target(text: str) -> tuple[str, int]:
    host, sep, port = text.strip().rpartition(":")
    host = host.strip("[]")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise BadInput(f"--target {text!r} is not HOST:PORT (e.g. 192.168.1.64:3702)")
    return host, int(port)


# -- discover -----------------------------------------------------------------------------------


def _probe_targets(
    targets: Sequence[tuple[str, int]], timeout: float, interface: str | None
) -> tuple[list[DiscoveredDevice], list[str]]:
    """Unicast probes, in parallel; the devices found and one line per target that did not
    answer."""
    found: dict[int, list[DiscoveredDevice]] = {}
    errors: dict[int, str] = {}

    def one(n: int, target: tuple[str, int]) -> None:
        try:
            found[n] = probe(timeout=timeout, interface=interface, target=target, max_devices=1)
        except DiscoveryError as exc:
            errors[n] = str(exc)

    threads = [
        threading.Thread(target=one, args=(n, t), name=f"probe-{t[0]}:{t[1]}", daemon=True)
        for n, t in enumerate(targets)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout + 5.0)
    devices: list[DiscoveredDevice] = []
    failures: list[str] = []
    for n, (host, port) in enumerate(targets):
        if n in errors:
            raise DiscoveryError(errors[n])
        if not found.get(n):
            failures.append(
                f"{host}:{port}: no usable answer to the WS-Discovery probe within {timeout:g} s"
                " (nothing there, or a malformed reply: see the warning above)"
            )
        devices.extend(found.get(n, []))
    return devices, failures


def _discover(args: argparse.Namespace) -> tuple[list[DeviceDescription], list[str]]:
    targets = [parse_target(t) for t in args.target or []]
    if args.timeout <= 0:
        raise BadInput("--timeout must be more than 0 seconds")
    try:
        if targets:
            found, failures = _probe_targets(targets, args.timeout, args.interface)
        else:
            found, failures = probe(timeout=args.timeout, interface=args.interface), []
    except DiscoveryError as exc:
        raise BadInput(str(exc)) from exc
    devices: list[DeviceDescription] = []
    seen: set[str] = set()
    for device in found:
        if device.endpoint_reference in seen:
            continue
        seen.add(device.endpoint_reference)
        description = from_discovery(device)
        if description is None:
            failures.append(
                f"{device.address}: answered the probe without a usable device service address"
            )
        else:
            devices.append(description)
    return devices, failures


def cmd_discover(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    password = password_from(args)
    if args.device_timeout <= 0:
        raise BadInput("--device-timeout must be more than 0 seconds")
    snapshots: Path | None = args.snapshots
    if snapshots is not None:
        try:
            snapshots.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise BadInput(f"--snapshots {snapshots}: {exc.strerror or exc}") from exc
    devices, failures = _discover(args)
    connect = bool(args.user) or snapshots is not None
    if connect and devices:
        devices = describe_all(
            devices,
            args.user or "",
            password,
            deadline_seconds=args.device_timeout,
            snapshot_dir=snapshots,
        )
    if args.json:
        document = {
            "format": JSON_FORMAT,
            "devices": [d.to_json() for d in devices],
            "failures": failures,
        }
        out.write(json.dumps(document, indent=2, sort_keys=True) + "\n")
    else:
        out.write(format_devices(devices, connected=connect))
    problems = failures + [str(d.error) for d in devices if d.failed]  # errors name the device
    problems += [
        f"{d.address}: no snapshot: {d.snapshot_error}" for d in devices if d.snapshot_error
    ]
    for line in problems:
        err.write(f"FAILED {line}\n")
    return EXIT_SOME_FAILED if problems else EXIT_OK


def _clock(offset: float | None) -> str:
    if offset is None:
        return "-"
    mark = " (!)" if abs(offset) > CLOCK_WARNING_SECONDS else ""
    return f"{offset:+.1f} s{mark}"


def _table(rows: Sequence[Sequence[str]]) -> list[str]:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return [
        "  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in rows
    ]


def format_devices(devices: Sequence[DeviceDescription], *, connected: bool) -> str:
    """The human report: one row per device, its profiles indented under it."""
    if not devices:
        return "no ONVIF devices found\n"
    lines: list[str] = []
    if not connected:
        rows: list[tuple[str, ...]] = [
            ("ADDRESS", "NAME", "HARDWARE", "LOCATION", "DEVICE SERVICE")
        ]
        rows += [(d.address, d.name, d.hardware, d.location, d.xaddr) for d in devices]
        lines += _table(rows)
        lines.append(f"{len(devices)} device(s); add --user to connect and list their streams")
        return "\n".join(lines) + "\n"
    header = ("ADDRESS", "MANUFACTURER", "MODEL", "SERIAL", "FIRMWARE", "CLOCK OFFSET")
    described = [
        (
            d.address,
            d.manufacturer or "-",
            d.model or "-",
            d.serial or "-",
            d.firmware or "-",
            _clock(d.clock_offset_seconds),
        )
        for d in devices
    ]
    table = _table([header, *described])
    lines.append(table[0])
    for device, row in zip(devices, table[1:], strict=True):
        lines.append(row)
        if device.failed:
            lines.append(f"    FAILED: {device.error}")
            continue
        for profile in device.profiles:
            size = f"{profile.width}x{profile.height}" if profile.width else "no video"
            fps = f"{profile.fps:g} fps" if profile.fps else ""
            detail = " ".join(p for p in (profile.encoding or "", size, fps) if p)
            where = profile.stream_uri or (f"FAILED: {profile.error}" if profile.error else "")
            choice = f"[{profile.choice}]" if profile.choice else ""
            lines.append(f"    {profile.token} {choice} {detail}  {where}".rstrip())
        if device.snapshot_path:
            lines.append(f"    snapshot: {device.snapshot_path}")
    ok = sum(1 for d in devices if not d.failed)
    lines.append(f"{len(devices)} device(s), {ok} described, {len(devices) - ok} failed")
    return "\n".join(lines) + "\n"


# -- main ---------------------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="cctv-provision",
        description=(__doc__ or "").splitlines()[0].replace("``", ""),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_common_options(parser)
    sub = parser.add_subparsers(dest="command", required=True)
    enroll.add_parser(sub)

    discover = sub.add_parser(
        "discover", help="find ONVIF devices (WS-Discovery); with --user, describe each"
    )
    discover.add_argument(
        "--interface", metavar="IF|ADDR", help="network interface or its IPv4 address to probe on"
    )
    discover.add_argument(
        "--timeout",
        type=float,
        default=DEFAULT_TIMEOUT,
        metavar="S",
        help=f"seconds to wait for answers to the probe (default {DEFAULT_TIMEOUT:g})",
    )
    discover.add_argument(
        "--target",
        action="append",
        metavar="HOST:PORT",
        help="probe this address by unicast instead of multicast (routed networks); repeatable",
    )
    add_credentials(discover, required=False)
    discover.add_argument("--json", action="store_true", help="print JSON (for add-cameras)")
    discover.add_argument(
        "--snapshots", type=Path, metavar="DIR", help="save each device's current JPEG here"
    )
    add_device_timeout(discover)
    discover.set_defaults(handler=cmd_discover)

    add_cameras.add_parser(sub)
    add_check_command(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # argparse: --help (0) or a usage error (2)
        return int(exc.code or 0)
    setup_logging(args, "warning")
    try:
        return int(args.handler(args, sys.stdout, sys.stderr))
    except BadInput as exc:
        print(f"cctv-provision {args.command}: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except KeyboardInterrupt:
        print(f"cctv-provision {args.command}: interrupted", file=sys.stderr)
        return EXIT_SOME_FAILED


if __name__ == "__main__":
    sys.exit(main())
