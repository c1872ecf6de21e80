"""``cctv-provision``: the field engineer's tool. Find the ONVIF cameras on a site and add them to
the agent's config.

  cctv-provision discover [--interface IF|ADDR] [--timeout S] [--target HOST:PORT ...]
                          [--user U (--password P | --password-env VAR)] [--json] [--snapshots DIR]
  cctv-provision add-cameras --config agent.toml (--from-json FILE | --xaddr URL ...)
                          --user U (--password P | --password-env VAR) [--profile main|sub]
                          [--id-prefix cam-]
  cctv-provision check --config agent.toml [--skip CHECK ...]

Exit codes: 0 done, 1 some devices failed (each reported on one line; the others are done),
2 bad input (nothing done). Passwords are never printed; stream URIs are shown without
credentials. Prefer --password-env (or the prompt) to --password, which other users of the
machine can see in the process list.
"""

from __future__ import annotations

import argparse
import getpass
import json
import logging
import os
import shutil
import stat
import sys
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any, TextIO

from cctv_common.cli_options import add_common_options, setup_logging
from cctv_common.files import atomic_write
from edge_agent.config import ConfigError, load_config
from provisioning import enroll
from provisioning.agent_config_edit import ConfigEdit, ConfigEditRefused, NewCamera, edit_config
from provisioning.check import add_check_command
from provisioning.discovery import DEFAULT_TIMEOUT, DiscoveredDevice, DiscoveryError, probe
from provisioning.inventory import (
    JSON_FORMAT,
    DeviceDescription,
    describe_all,
    from_discovery,
    from_xaddr,
)

EXIT_OK = 0
EXIT_SOME_FAILED = 1
EXIT_BAD_INPUT = 2

# Connecting to one device: clock, services, device information, profiles, a stream URI per
# profile and a snapshot are about a dozen exchanges; on a site LAN each takes milliseconds.
DEFAULT_DEVICE_TIMEOUT = 30.0
# Cameras whose clock is further off than this are marked: the agent warns at the same bound.
CLOCK_WARNING_SECONDS = 2.0

log = logging.getLogger("provisioning")


class BadInput(Exception):
    """Refused before doing anything: one line, exit code 2."""


# -- input ------------------------------------------------------------------------------------


def parse_target(text: str) -> tuple[str, int]:
    host, sep, port = text.strip().rpartition(":")
    host = host.strip("[]")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise BadInput(f"--target {text!r} is not HOST:PORT (e.g. 192.168.1.64:3702)")
    return host, int(port)


def password_from(args: argparse.Namespace) -> str:
    """The password from --password, --password-env or a prompt; '' without --user."""
    if args.password_env:
        value = os.environ.get(args.password_env)
        if value is None:
            raise BadInput(f"--password-env {args.password_env}: that variable is not set")
        return value
    if args.password is not None:
        return str(args.password)
    if args.user and sys.stdin.isatty():
        return getpass.getpass(f"ONVIF password for {args.user}: ")
    if args.user:
        raise BadInput("--user needs --password, --password-env or a terminal to ask on")
    return ""


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


# -- add-cameras --------------------------------------------------------------------------------


def _devices_from_json(path: Path) -> list[DeviceDescription]:
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise BadInput(f"--from-json {path}: cannot read: {exc.strerror or exc}") from exc
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise BadInput(f"--from-json {path}: not JSON: {exc}") from exc
    entries: Any = document.get("devices") if isinstance(document, dict) else document
    if not isinstance(entries, list):
        raise BadInput(f"--from-json {path}: not the output of 'cctv-provision discover --json'")
    devices = []
    for n, entry in enumerate(entries):
        if not isinstance(entry, dict):
            raise BadInput(f"--from-json {path}: device {n} is not an object")
        try:
            devices.append(DeviceDescription.from_json(entry))
        except ValueError as exc:
            raise BadInput(f"--from-json {path}: device {n}: {exc}") from exc
    if not devices:
        raise BadInput(f"--from-json {path}: lists no devices")
    return devices


def _devices(args: argparse.Namespace) -> list[DeviceDescription]:
    if args.from_json is not None:
        return _devices_from_json(args.from_json)
    devices = []
    for xaddr in args.xaddr:
        try:
            devices.append(from_xaddr(xaddr))
        except ValueError as exc:
            raise BadInput(f"--xaddr: {exc}") from exc
    return devices


def _new_camera(device: DeviceDescription, args: argparse.Namespace, password: str) -> NewCamera:
    name = device.name or " ".join(p for p in (device.manufacturer, device.model) if p)
    return NewCamera(
        host=device.host,
        port=device.port,
        user=args.user,
        password=password,
        profile=args.profile,
        live_profile=args.live_profile,
        name=name,
    )


def write_atomically(path: Path, text: str) -> Path:
    """Replace `path` by `text` (same permissions), keeping the old file as `path`.bak."""
    backup = path.with_name(path.name + ".bak")
    mode = stat.S_IMODE(path.stat().st_mode)
    shutil.copy2(path, backup)
    atomic_write(path, text, mode=mode)
    return backup


def cmd_add_cameras(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    password = password_from(args)
    config_path: Path = args.config
    try:
        text = config_path.read_text(encoding="utf-8")
    except OSError as exc:
        raise BadInput(
            f"--config {config_path}: cannot read: {exc.strerror or exc} (create it with"
            " site_id and data_dir first)"
        ) from exc
    devices = _devices(args)

    def edit(chosen: Sequence[DeviceDescription]) -> ConfigEdit:
        cameras = [_new_camera(d, args, password) for d in chosen]
        try:
            return edit_config(
                text,
                cameras,
                source=str(config_path),
                id_prefix=args.id_prefix,
                skip_existing=args.skip_existing,
            )
        except ConfigEditRefused as exc:
            raise BadInput("refused, nothing written: " + "; ".join(exc.problems)) from exc

    edit(devices)  # refuse duplicates and invalid results before connecting to anything
    failures: list[str] = []
    if not args.no_check:
        checked = describe_all(devices, args.user, password, deadline_seconds=args.device_timeout)
        devices = []
        for device in checked:
            if device.failed:
                failures.append(str(device.error))
            elif device.profile(args.profile) is None:
                tokens = ", ".join(p.token for p in device.profiles) or "none"
                failures.append(
                    f"device at {device.address} has no media profile {args.profile!r} (its"
                    f" profiles: {tokens})"
                )
            else:
                devices.append(device)
    for line in failures:
        err.write(f"FAILED {line} (not added)\n")
    result = edit(devices) if devices else None
    if result is None or not result.added:
        for skipped in result.skipped if result else ():
            out.write(f"skipped {skipped.camera.address}: already camera {skipped.existing_id}\n")
        out.write(f"{config_path}: no cameras added, nothing written\n")
        return EXIT_SOME_FAILED if failures else EXIT_OK
    backup = write_atomically(config_path, result.text)
    try:
        config = load_config(config_path)
    except ConfigError as exc:  # cannot happen: the same text was validated; never leave it so
        shutil.copy2(backup, config_path)
        err.write(f"{config_path}: written config did not load ({exc}); restored from {backup}\n")
        return EXIT_SOME_FAILED
    for skipped in result.skipped:
        out.write(f"skipped {skipped.camera.address}: already camera {skipped.existing_id}\n")
    for addition in result.added:
        camera = addition.camera
        named = f" ({camera.name})" if camera.name else ""
        out.write(
            f"added {addition.camera_id}: ONVIF device at {camera.address}{named},"
            f" profile {camera.profile}\n"
        )
    if result.rewritten:
        out.write(f"{config_path}: rewritten in full (its comments could not be kept)\n")
    out.write(
        f"wrote {config_path}: site {config.site_id}, {len(config.cameras)} camera(s);"
        f" the previous version is {backup}\n"
    )
    return EXIT_SOME_FAILED if failures else EXIT_OK


# -- main ---------------------------------------------------------------------------------------


def _credentials(parser: argparse.ArgumentParser, required: bool) -> None:
    parser.add_argument("--user", required=required, help="ONVIF user name")
    secret = parser.add_mutually_exclusive_group()
    secret.add_argument("--password", help="ONVIF password (visible to ps: prefer the others)")
    secret.add_argument("--password-env", metavar="VAR", help="read the password from $VAR")


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
    _credentials(discover, required=False)
    discover.add_argument("--json", action="store_true", help="print JSON (for add-cameras)")
    discover.add_argument(
        "--snapshots", type=Path, metavar="DIR", help="save each device's current JPEG here"
    )
    discover.add_argument(
        "--device-timeout",
        type=float,
        default=DEFAULT_DEVICE_TIMEOUT,
        metavar="S",
        help=f"give up on a device after this long (default {DEFAULT_DEVICE_TIMEOUT:g})",
    )
    discover.set_defaults(handler=cmd_discover)

    add = sub.add_parser("add-cameras", help="write ONVIF devices into agent.toml as cameras")
    add.add_argument("--config", type=Path, required=True, help="the agent's config (agent.toml)")
    source = add.add_mutually_exclusive_group(required=True)
    source.add_argument("--from-json", type=Path, metavar="FILE", help="output of discover --json")
    source.add_argument(
        "--xaddr", action="append", metavar="URL", help="a device service address; repeatable"
    )
    _credentials(add, required=True)
    add.add_argument(
        "--profile", default="main", choices=("main", "sub"), help="stream to record (main)"
    )
    add.add_argument("--live-profile", choices=("main", "sub"), help="stream for live view")
    add.add_argument("--id-prefix", default="cam-", help="camera ids are PREFIX1, PREFIX2, ...")
    add.add_argument(
        "--skip-existing",
        action="store_true",
        help="skip devices already in the config instead of refusing",
    )
    add.add_argument(
        "--no-check",
        action="store_true",
        help="do not connect to each device to check the credentials and the profile first",
    )
    add.add_argument(
        "--device-timeout",
        type=float,
        default=DEFAULT_DEVICE_TIMEOUT,
        metavar="S",
        help=f"give up on a device after this long (default {DEFAULT_DEVICE_TIMEOUT:g})",
    )
    add.set_defaults(handler=cmd_add_cameras)
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
