"""``cctv-provision add-cameras``: write ONVIF devices into agent.toml as cameras.

  cctv-provision add-cameras --config agent.toml (--from-json FILE | --xaddr URL ...)
                  --user U (--password P | --password-env VAR) [--profile main|sub]
                  [--name-from hostname|location|given [--names a,b,...]] [--id-prefix cam-]
                  [--password-store file|credential] [--password-dir DIR]

Devices are taken in a stable order (by address, whatever order they answered in). Names come
from each device's host name (GetHostname), its ONVIF location scope, or --names, one per
device in address order; ids are those names slugged and made unique, or numbered with
--id-prefix when a device gives no name. The ONVIF password is never written into agent.toml:
each camera gets a password file of its own (0600, ``password_file = ...``), or with
``--password-store credential`` a systemd credential (``password_credential = ...``) whose
source file is written for ``LoadCredential=``. agent.toml is written 0600, the old one kept
as agent.toml.bak.
"""

from __future__ import annotations

import argparse
import json
import os
import pwd
import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import Any, TextIO

from cctv_common.files import atomic_write
from edge_agent.config import ConfigError, load_config
from provisioning.agent_config_edit import (
    ConfigEdit,
    ConfigEditRefused,
    NewCamera,
    PasswordStore,
    edit_config,
)
from provisioning.camera_names import (
    NAME_SOURCES,
    Named,
    NameSource,
    NamingRefused,
    address_key,
    names_for,
    parse_given,
)
from provisioning.cli_input import (
    EXIT_OK,
    EXIT_SOME_FAILED,
    BadInput,
    add_credentials,
    add_device_timeout,
    password_from,
)
from provisioning.inventory import DeviceDescription, describe_all, from_xaddr

CONFIG_MODE = 0o600
SECRET_MODE = 0o600
SECRET_DIR_MODE = 0o700
DEFAULT_FOLDERS = {"file": "cameras", "credential": "credentials"}  # beside agent.toml


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


def devices_in_order(args: argparse.Namespace) -> list[DeviceDescription]:
    """The devices to add, by address (a stable order, not the order they answered in)."""
    if args.from_json is not None:
        devices = _devices_from_json(args.from_json)
    else:
        devices = []
        for xaddr in args.xaddr:
            try:
                devices.append(from_xaddr(xaddr))
            except ValueError as exc:
                raise BadInput(f"--xaddr: {exc}") from exc
    return sorted(devices, key=lambda d: address_key(d.host, d.port))


def given_names(devices: Sequence[DeviceDescription], names: Sequence[str]) -> dict[str, Named]:
    """--names, one per device in address order, by device address."""
    try:
        named = names_for([("", "")] * len(devices), "given", names)
    except NamingRefused as exc:
        raise BadInput(str(exc)) from exc
    return {d.address: n for d, n in zip(devices, named, strict=True)}


def _names(devices: Sequence[DeviceDescription], args: argparse.Namespace) -> list[Named]:
    source: NameSource | None = args.name_from
    if source is None:
        fallback = [d.name or " ".join(p for p in (d.manufacturer, d.model) if p) for d in devices]
        return [Named(name, "") for name in fallback]
    if source == "given":
        return [args.given_by_address[d.address] for d in devices]
    return names_for([(d.hostname, d.location) for d in devices], source)


def _new_cameras(
    devices: Sequence[DeviceDescription], args: argparse.Namespace, password: str
) -> list[NewCamera]:
    return [
        NewCamera(
            host=device.host,
            port=device.port,
            user=args.user,
            password=password,
            profile=args.profile,
            live_profile=args.live_profile,
            name=named.name,
            wanted_id=named.wanted_id,
        )
        for device, named in zip(devices, _names(devices, args), strict=True)
    ]


def password_store(args: argparse.Namespace) -> PasswordStore:
    kind = args.password_store
    folder: Path | None = args.password_dir
    if folder is None:
        folder = args.config.resolve().parent / DEFAULT_FOLDERS[kind]
    return PasswordStore(kind, folder.resolve())


def agent_user(name: str | None) -> pwd.struct_passwd | None:
    """--owner's account, looked up before anything is written."""
    if name is None:
        return None
    try:
        return pwd.getpwnam(name)
    except KeyError as exc:
        raise BadInput(f"--owner {name}: no such user on this machine") from exc


def write_secrets(
    result: ConfigEdit, store: PasswordStore, password: str, owner: pwd.struct_passwd | None
) -> None:
    """Each new camera's password in its own file (0600, in a 0700 folder; given to ``owner``,
    the agent's user, when named), before agent.toml names them; BadInput when the folder
    cannot be written or the owner is unknown (agent.toml is not written then)."""
    if not password or not result.added:
        return
    try:
        store.folder.mkdir(mode=SECRET_DIR_MODE, parents=True, exist_ok=True)
        paths = [store.path_for(addition.camera_id) for addition in result.added]
        for path in paths:
            atomic_write(path, password + "\n", mode=SECRET_MODE)
        if owner is not None:  # and its own group, as systemd's User= without Group=
            for path in (store.folder, *paths):
                os.chown(path, owner.pw_uid, owner.pw_gid)
    except OSError as exc:
        raise BadInput(
            f"--password-dir {store.folder}: cannot write the camera passwords:"
            f" {exc.strerror or exc}; nothing written to the config"
        ) from exc


def write_config(path: Path, text: str) -> Path:
    """Replace ``path`` by ``text`` (mode 0600), keeping the old file as ``path``.bak."""
    backup = path.with_name(path.name + ".bak")
    shutil.copy2(path, backup)
    backup.chmod(CONFIG_MODE)
    atomic_write(path, text, mode=CONFIG_MODE)
    return backup


def _check_devices(
    devices: list[DeviceDescription], args: argparse.Namespace, password: str
) -> tuple[list[DeviceDescription], list[str]]:
    checked = describe_all(devices, args.user, password, deadline_seconds=args.device_timeout)
    usable, failures = [], []
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
            usable.append(device)
    return usable, failures


def cmd_add_cameras(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    password = password_from(args)
    config_path: Path = args.config
    if args.names is not None and args.name_from not in (None, "given"):
        raise BadInput("--names goes with --name-from given")
    if args.names is not None:
        args.name_from = "given"
    elif args.name_from == "given":
        raise BadInput("--name-from given needs --names A,B,... (one per device)")
    try:
        text = config_path.read_text(encoding="utf-8")
    except OSError as exc:
        raise BadInput(
            f"--config {config_path}: cannot read: {exc.strerror or exc} (create it with"
            " site_id and data_dir first)"
        ) from exc
    owner = agent_user(args.owner)
    devices = devices_in_order(args)
    if args.name_from == "given":
        args.given_by_address = given_names(devices, parse_given(args.names))
    store = password_store(args)

    def edit(chosen: Sequence[DeviceDescription]) -> ConfigEdit:
        try:
            return edit_config(
                text,
                _new_cameras(chosen, args, password),
                store,
                source=str(config_path),
                id_prefix=args.id_prefix,
                skip_existing=args.skip_existing,
            )
        except ConfigEditRefused as exc:
            raise BadInput("refused, nothing written: " + "; ".join(exc.problems)) from exc

    edit(devices)  # refuse duplicates, bad names and invalid results before connecting
    failures: list[str] = []
    if not args.no_check:
        devices, failures = _check_devices(devices, args, password)
    for line in failures:
        err.write(f"FAILED {line} (not added)\n")
    result = edit(devices) if devices else None
    if result is None or not result.added:
        for skipped in result.skipped if result else ():
            out.write(f"skipped {skipped.camera.address}: already camera {skipped.existing_id}\n")
        out.write(f"{config_path}: no cameras added, nothing written\n")
        return EXIT_SOME_FAILED if failures else EXIT_OK
    write_secrets(result, store, password, owner)
    backup = write_config(config_path, result.text)
    environ = {"CREDENTIALS_DIRECTORY": str(store.folder)}
    try:
        config = load_config(config_path, environ=environ)
    except ConfigError as exc:  # cannot happen: the same text was validated; never leave it so
        shutil.copy2(backup, config_path)
        err.write(f"{config_path}: written config did not load ({exc}); restored from {backup}\n")
        return EXIT_SOME_FAILED
    _report(out, result, store, args, password)
    out.write(
        f"wrote {config_path}: site {config.site_id}, {len(config.cameras)} camera(s);"
        f" the previous version is {backup}\n"
    )
    return EXIT_SOME_FAILED if failures else EXIT_OK


def _report(
    out: TextIO, result: ConfigEdit, store: PasswordStore, args: argparse.Namespace, pw: str
) -> None:
    for skipped in result.skipped:
        out.write(f"skipped {skipped.camera.address}: already camera {skipped.existing_id}\n")
    for addition in result.added:
        camera = addition.camera
        named = f" ({camera.name})" if camera.name else ""
        out.write(
            f"added {addition.camera_id}: ONVIF device at {camera.address}{named},"
            f" profile {camera.profile}\n"
        )
        if args.name_from is not None and not camera.wanted_id:
            out.write(f"  {addition.camera_id}: numbered, the device gives no {args.name_from}\n")
    if pw and store.kind == "file":
        out.write(f"passwords: one file per camera in {store.folder} (0600)\n")
        if args.owner is None and os.geteuid() == 0:
            out.write(
                "  owned by root: the agent's unit (User=cctv-agent) cannot read them; run again"
                " with --owner cctv-agent, chown them, or use --password-store credential\n"
            )
    elif pw:
        out.write(f"passwords: credential files in {store.folder}; add to the agent's unit:\n")
        for addition in result.added:
            credential = store.credential_for(addition.camera_id)
            out.write(f"  LoadCredential={credential}:{store.path_for(addition.camera_id)}\n")
    if result.rewritten:
        out.write(f"{args.config}: rewritten in full (its comments could not be kept)\n")


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    add = sub.add_parser("add-cameras", help="write ONVIF devices into agent.toml as cameras")
    add.add_argument("--config", type=Path, required=True, help="the agent's config (agent.toml)")
    source = add.add_mutually_exclusive_group(required=True)
    source.add_argument("--from-json", type=Path, metavar="FILE", help="output of discover --json")
    source.add_argument(
        "--xaddr", action="append", metavar="URL", help="a device service address; repeatable"
    )
    add_credentials(add, required=True)
    add.add_argument(
        "--profile", default="main", choices=("main", "sub"), help="stream to record (main)"
    )
    add.add_argument("--live-profile", choices=("main", "sub"), help="stream for live view")
    add.add_argument(
        "--name-from",
        choices=NAME_SOURCES,
        help="name cameras from the device's host name, its location scope, or --names",
    )
    add.add_argument(
        "--names", metavar="A,B,...", help="one name per device, in address order (given)"
    )
    add.add_argument(
        "--id-prefix", default="cam-", help="ids of unnamed cameras are PREFIX1, PREFIX2, ..."
    )
    add.add_argument(
        "--password-store",
        choices=("file", "credential"),
        default="file",
        help="a password file per camera (default) or a systemd credential per camera",
    )
    add.add_argument(
        "--password-dir",
        type=Path,
        metavar="DIR",
        help="where the password files go (default: cameras/ or credentials/ by the config)",
    )
    add.add_argument(
        "--owner",
        metavar="USER",
        help="give the password files to this user and its group (the agent's, e.g. cctv-agent)",
    )
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
    add_device_timeout(add)
    add.set_defaults(handler=cmd_add_cameras)
