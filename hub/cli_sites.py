"""``cctv-hub sites create|revoke|list``: enrollment tokens and broker access for site boxes.

The token is printed once (the hub keeps only its hash) with the command the engineer runs on
the site box. Exit codes: 0 done, 1 revoked in the database but the broker could not be told
(it still admits the site until reloaded), 2 bad input.
"""

from __future__ import annotations

import argparse
import getpass
import sys
from pathlib import Path
from typing import Final

from cctv_common.clock import utc_now
from hub.enrollment_setup import EnrollmentNotSetUp, build_enrollment
from hub.services.broker_logins import BrokerReloadError
from hub.services.enrollment import EnrollmentError
from hub.settings import HubSettings
from hub.storage.engine import open_database, storage_for

EXIT_OK: Final = 0
EXIT_FAILED: Final = 1
EXIT_USAGE: Final = 2


def _config(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", required=True, type=Path, help="hub TOML settings file")


def add_parsers(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    sites = commands.add_parser("sites", help="enroll site boxes, revoke them, list them")
    actions = sites.add_subparsers(dest="sites_command", required=True, metavar="ACTION")
    create = actions.add_parser(
        "create", help="issue a one-time enrollment token for a site (printed once)"
    )
    _config(create)
    create.add_argument("--site", required=True, help="site id: letters, digits, _ and -")
    create.add_argument("--name", required=True, help="human name, e.g. 'High Street'")
    create.add_argument(
        "--hours",
        type=float,
        default=None,
        help="how long the token may be used (default [enrollment] token_hours, 24)",
    )
    revoke = actions.add_parser("revoke", help="remove a site's broker login now and disconnect it")
    _config(revoke)
    revoke.add_argument("--site", required=True, help="site id")
    revoke.add_argument("--reason", default="", help="why, for the custody log")
    listing = actions.add_parser("list", help="every site's enrollment state")
    _config(listing)


def run_sites(settings: HubSettings, args: argparse.Namespace) -> int:
    actor = f"cli:{getpass.getuser()}"
    database = open_database(settings)
    try:
        service = build_enrollment(settings, storage_for(database))
        match args.sites_command:
            case "create":
                if args.hours is not None and not 0 < args.hours <= 24 * 30:
                    print("cctv-hub: --hours must be more than 0 and at most 720", file=sys.stderr)
                    return EXIT_USAGE
                issued = service.issue(args.site, args.name, actor, args.hours)
                base = settings.requests.base_url
                print(f"site {issued.site_id} ({issued.name}): enrollment token, usable once")
                print(f"until {issued.expires_at.isoformat()}:")
                print(f"  {issued.token}")
                print("On the site box:")
                print(
                    f"  cctv-provision enroll --hub {base} --token {issued.token}"
                    " --config /etc/cctv/agent.toml"
                )
                return EXIT_OK
            case "revoke":
                try:
                    access = service.revoke(args.site, actor, args.reason)
                except BrokerReloadError as exc:
                    print(f"cctv-hub: site {args.site} revoked, but: {exc}", file=sys.stderr)
                    return EXIT_FAILED
                print(f"site {access.site_id} revoked: its broker login is removed")
                return EXIT_OK
            case "list":
                now = utc_now()
                for access in service.list_all():
                    print(f"{access.site_id}\t{access.state_at(now)}\t{access.name}")
                return EXIT_OK
    except (EnrollmentError, EnrollmentNotSetUp) as exc:
        print(f"cctv-hub: {exc}", file=sys.stderr)
        return EXIT_USAGE
    finally:
        database.close()
    raise AssertionError(f"unknown sites command {args.sites_command}")  # pragma: no cover
