"""``cctv-hub``: run the hub, register a site, hash a password, check the store and custody log.

Exit codes: 0 done, 1 the check failed (``verify-audit``, ``verify-store``), 2 a usage or
settings problem (each settings error is printed with its path).
"""

from __future__ import annotations

import argparse
import asyncio
import getpass
import logging
import socket
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Final

import uvicorn

from cctv_common.cli_options import (
    LOG_FORMAT,
    add_common_options,
    add_log_level,
    log_level,
    setup_logging,
)
from cctv_common.clock import utc_now
from cctv_common.evidence.signing import KeyFileError, load_or_create_private_key, public_key_pem
from cctv_common.sdnotify import SdNotify
from cctv_common.umask import private_umask
from cctv_common.wire.ids import InvalidId, validate_id
from hub import cli_sites, cli_users
from hub.app import create_app
from hub.cli_init import run_init
from hub.cli_verify import checkpointer, verify_audit, verify_store
from hub.exhibits.cli import add_exhibit_commands, run_exhibit
from hub.services.passwords import hash_password
from hub.services.sites import SiteKeyError, register_in
from hub.settings import HubSettings, SettingsError, load_settings
from hub.storage.engine import open_database, storage_for
from hub.storage.sqlite.database import DatabaseError

log = logging.getLogger("hub")

EXIT_OK: Final = 0
EXIT_FAILED: Final = 1
EXIT_USAGE: Final = 2


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="cctv-hub", description="The CCTV evidence hub: API, browser UI and MQTT ingest."
    )
    add_common_options(parser)
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    run = commands.add_parser("run", help="serve the API and UI, ingest clips over MQTT")
    run.add_argument("--config", required=True, type=Path, help="hub TOML settings file")
    add_log_level(run)

    init = commands.add_parser(
        "init",
        help="create the broker's CA, server certificate, config, ACL and password file, and"
        " the hub's signing key; keeps what exists",
    )
    init.add_argument("--config", required=True, type=Path, help="hub TOML settings file")

    validate = commands.add_parser("validate-config", help="check the settings file; print errors")
    validate.add_argument("config", type=Path, help="hub TOML settings file")

    check = commands.add_parser("check-config", help="the same as validate-config (older form)")
    check.add_argument("--config", required=True, type=Path, help="hub TOML settings file")

    add_site = commands.add_parser("add-site", help="register a site and its agent's public key")
    add_site.add_argument("--config", required=True, type=Path, help="hub TOML settings file")
    add_site.add_argument("--site", required=True, help="site id, as in the agent's config")
    add_site.add_argument(
        "--public-key", required=True, type=Path, help="the agent's Ed25519 public key (PEM)"
    )
    add_site.add_argument("--name", default="", help="human name, e.g. 'High Street'")

    hash_cmd = commands.add_parser(
        "hash-password", help="print a password hash for a [[users]] entry in the settings"
    )
    hash_cmd.add_argument(
        "--stdin", action="store_true", help="read the password from standard input"
    )

    public_key = commands.add_parser(
        "public-key",
        help="print the hub's Ed25519 public key (PEM) for the agents' config; creates the key",
    )
    public_key.add_argument("--config", required=True, type=Path, help="hub TOML settings file")

    verify = commands.add_parser(
        "verify-audit",
        help="check the custody log: its hash chain, its signed checkpoints (a cut or re-hashed"
        " log), and that every evidence item and job row agrees with it",
    )
    verify.add_argument("--config", required=True, type=Path, help="hub TOML settings file")
    verify.add_argument(
        "--public-key",
        type=Path,
        help="the hub's public key (PEM) kept elsewhere; default: derived from the hub's key",
    )

    store = commands.add_parser(
        "verify-store",
        help="re-hash every stored evidence item against its SHA-256; damaged ones are marked"
        " (no longer served) and named",
    )
    store.add_argument("--config", required=True, type=Path, help="hub TOML settings file")
    store.add_argument(
        "--mb-per-second",
        type=float,
        default=None,
        help="read at most this many MB per second (default: as fast as the disk goes)",
    )
    add_exhibit_commands(commands)
    cli_users.add_parsers(commands)
    cli_sites.add_parsers(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command in ("users", "retention"):
        args.config = cli_users.config_of(parser, args)
    if args.command != "run":
        setup_logging(args, "warning")
    try:
        match args.command:
            case "run":
                return _run(_settings(args.config), log_level(args, "info"))
            case "init":
                return run_init(args.config)
            case "sites":
                return cli_sites.run_sites(_settings(args.config), args)
            case "check-config" | "validate-config":
                settings = _settings(args.config)
                print(f"OK: hub {settings.hub_id}, data in {settings.data_dir}")
                return EXIT_OK
            case "add-site":
                return _add_site(_settings(args.config), args.site, args.public_key, args.name)
            case "hash-password":
                return _hash_password(args.stdin)
            case "verify-audit":
                return verify_audit(_settings(args.config), args.public_key)
            case "verify-store":
                if args.mb_per_second is not None and not args.mb_per_second > 0:
                    print("cctv-hub: --mb-per-second must be more than 0", file=sys.stderr)
                    return EXIT_USAGE
                return verify_store(_settings(args.config), args.mb_per_second)
            case "public-key":
                return _public_key(_settings(args.config))
            case "exhibit":
                return run_exhibit(_settings(args.config), args)
            case "users":
                return cli_users.run_users(_settings(args.config), args)
            case "retention":
                return cli_users.run_retention(_settings(args.config))
    except SettingsError as exc:
        print(f"cctv-hub: settings in {exc.source} cannot be used:", file=sys.stderr)
        for line in exc.errors:
            print(f"  {line}", file=sys.stderr)
        return EXIT_USAGE
    except DatabaseError as exc:
        print(f"cctv-hub: {exc}", file=sys.stderr)
        return EXIT_USAGE
    raise AssertionError(f"unknown command {args.command}")  # pragma: no cover


def _settings(path: Path) -> HubSettings:
    settings = load_settings(path)
    settings.check_files()
    return settings


# run


def _run(settings: HubSettings, log_level: str) -> int:
    private_umask()
    logging.basicConfig(level=log_level.upper(), format=LOG_FORMAT)
    database = open_database(settings)
    try:
        app = create_app(settings, database)
        config = uvicorn.Config(
            app,
            host=settings.http.host,
            port=settings.http.port,
            log_level=log_level,
            lifespan="on",
            access_log=log_level == "debug",
            server_header=False,
            # Behind a reverse proxy, its X-Forwarded-For names the client (for login throttling).
            proxy_headers=bool(settings.http.forwarded_allow_ips),
            forwarded_allow_ips=list(settings.http.forwarded_allow_ips) or None,
        )
        asyncio.run(_serve(_NotifyingServer(config, SdNotify())))
    finally:
        database.close()
    return EXIT_OK


class _NotifyingServer(uvicorn.Server):
    """uvicorn, telling systemd when it is ready and when it stops."""

    def __init__(self, config: uvicorn.Config, notifier: SdNotify) -> None:
        super().__init__(config)
        self.notifier = notifier

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets=sockets)
        if self.started:
            self.notifier.ready("serving")
            log.info("hub ready on http://%s:%s", self.config.host, self.config.port)

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        self.notifier.stopping()
        await super().shutdown(sockets=sockets)


async def _serve(server: _NotifyingServer) -> None:
    """Serve until told to stop, pinging systemd's watchdog from the event loop meanwhile."""
    async with server.notifier.watchdog_running():
        await server.serve()


# add-site


def _add_site(settings: HubSettings, site_id: str, key_path: Path, name: str) -> int:
    try:
        pem = key_path.read_text(encoding="ascii")
    except (OSError, UnicodeDecodeError) as exc:
        print(f"cctv-hub: cannot read {key_path}: {exc}", file=sys.stderr)
        return EXIT_USAGE
    try:
        validate_id("site", site_id)
    except InvalidId as exc:
        print(f"cctv-hub: {exc}", file=sys.stderr)
        return EXIT_USAGE
    actor = f"cli:{getpass.getuser()}"
    database = open_database(settings)
    try:
        now = utc_now()
        site = storage_for(database).write(
            lambda uow: register_in(uow, site_id, name, pem, actor, now)
        )
        checkpointer(settings, database).checkpoint()
    except SiteKeyError as exc:
        print(f"cctv-hub: {exc}", file=sys.stderr)
        return EXIT_USAGE
    finally:
        database.close()
    print(f"site {site.id} registered with key {site.key_id}")
    return EXIT_OK


# hash-password


def _public_key(settings: HubSettings) -> int:
    try:
        key = load_or_create_private_key(settings.hub_key_path)
    except (OSError, KeyFileError) as exc:
        print(f"cctv-hub: {exc}", file=sys.stderr)
        return EXIT_USAGE
    print(public_key_pem(key), end="")
    return EXIT_OK


def _hash_password(from_stdin: bool) -> int:
    if from_stdin:
        password = sys.stdin.readline().rstrip("\n")
    else:
        password = getpass.getpass("Password: ")
        if getpass.getpass("Again: ") != password:
            print("cctv-hub: the passwords differ", file=sys.stderr)
            return EXIT_USAGE
    try:
        print(hash_password(password))
    except ValueError as exc:
        print(f"cctv-hub: {exc}", file=sys.stderr)
        return EXIT_USAGE
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
