"""``cctv-hub users add|list|disable|enable|reset-password`` and ``cctv-hub retention due``.

A password is read from a prompt (twice) or from ``--password-file`` (its first line), never from
the command line, where other users of the machine could see it in the process list. Each change
is a custody row with the actor ``cli:<login name>``.
"""

from __future__ import annotations

import argparse
import asyncio
import getpass
import sys
from pathlib import Path

from cctv_common.clock import iso_utc
from hub.domain.acl import Role
from hub.service import HubService
from hub.services.users import UserAdmin, UserChangeRefused
from hub.settings import HubSettings
from hub.storage.engine import open_database, storage_for
from hub.storage.evidence.backends import open_evidence_store

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2


def _config(parser: argparse.ArgumentParser, *, before_action: bool = False) -> None:
    """--config after the action, as for ``cctv-hub sites``; the older place, before the
    action, still works (an action's own --config, when given, wins)."""
    if before_action:
        parser.add_argument("--config", type=Path, default=None, help=argparse.SUPPRESS)
    else:
        parser.add_argument(
            "--config", type=Path, default=argparse.SUPPRESS, help="hub TOML settings file"
        )


def config_of(parser: argparse.ArgumentParser, args: argparse.Namespace) -> Path:
    """The settings file from either place; a usage error (exit 2) when neither has it."""
    path: Path | None = getattr(args, "config", None)
    if path is None:
        parser.error(f"the following arguments are required: --config (cctv-hub {args.command})")
    return path


def add_parsers(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    users = commands.add_parser("users", help="add, list, disable, enable users; reset passwords")
    _config(users, before_action=True)
    actions = users.add_subparsers(dest="users_command", required=True, metavar="ACTION")
    add = actions.add_parser("add", help="add a user (the password is asked for)")
    _config(add)
    add.add_argument("username")
    add.add_argument("--role", required=True, choices=[role.value for role in Role])
    add.add_argument("--name", default="", help="display name, e.g. 'DC Jane Smith'")
    add.add_argument("--email", default="", help="where the hub mails request updates")
    add.add_argument("--force", default="", help="police force or organisation")
    add.add_argument("--collar-number", default="")
    add.add_argument("--password-file", type=Path, help="read the password from this file")
    _config(actions.add_parser("list", help="list users"))
    for name, text in (("disable", "disable a user"), ("enable", "enable a user again")):
        action = actions.add_parser(name, help=text)
        _config(action)
        action.add_argument("username")
    reset = actions.add_parser("reset-password", help="set a new password (asked for)")
    _config(reset)
    reset.add_argument("username")
    reset.add_argument("--password-file", type=Path, help="read the password from this file")

    retention = commands.add_parser("retention", help="the daily retention list")
    _config(retention, before_action=True)
    retention_actions = retention.add_subparsers(
        dest="retention_command", required=True, metavar="ACTION"
    )
    _config(
        retention_actions.add_parser("due", help="what is due for deletion or review, and held")
    )


def _actor() -> str:
    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):
        return "cli:unknown"


def _password(path: Path | None) -> str:
    if path is not None:
        return path.read_text(encoding="utf-8").splitlines()[0] if path.stat().st_size else ""
    first = getpass.getpass("New password: ")
    if getpass.getpass("Again: ") != first:
        raise UserChangeRefused("the two passwords differ")
    return first


def run_users(settings: HubSettings, args: argparse.Namespace) -> int:
    database = open_database(settings)
    admin = UserAdmin(storage_for(database))
    try:
        return asyncio.run(_users(admin, args))
    except UserChangeRefused as exc:
        print(f"cctv-hub users: {exc.message}", file=sys.stderr)
        return EXIT_FAILED
    except OSError as exc:
        print(f"cctv-hub users: cannot read the password file: {exc.strerror}", file=sys.stderr)
        return EXIT_USAGE
    finally:
        database.close()


async def _users(admin: UserAdmin, args: argparse.Namespace) -> int:
    actor = _actor()
    match args.users_command:
        case "list":
            for user in await admin.all():
                state = "disabled" if user.disabled else "active"
                print(
                    f"{user.username}\t{user.role.value}\t{state}\t{user.source}\t"
                    f"{user.display_name}\t{user.email}"
                )
        case "add":
            password = _password(args.password_file)
            user = await admin.add(
                password=password,
                actor=actor,
                username=args.username,
                role=args.role,
                display_name=args.name,
                email=args.email,
                force=args.force,
                collar_number=args.collar_number,
            )
            print(f"added {user.username} ({user.role.value})")
        case "disable" | "enable":
            disabled = args.users_command == "disable"
            await admin.set_disabled(args.username, disabled, actor)
            print(f"{args.username} {args.users_command}d")
        case "reset-password":
            await admin.reset_password(args.username, _password(args.password_file), actor)
            print(f"{args.username}: password reset; their sessions ended")
    return EXIT_OK


def run_retention(settings: HubSettings) -> int:
    database = open_database(settings)
    try:
        service = HubService(settings, database, open_evidence_store(settings))
        due = asyncio.run(service.requests.reports.retention_due())
    finally:
        database.close()
    for title, entries in (
        ("due for deletion", due.due_for_deletion),
        ("due for review", due.due_for_review),
        ("held past their date (kept by a legal hold)", due.held_past_date),
    ):
        print(f"{title}: {len(entries)}")
        for entry in entries:
            when = entry.dates.delete_on or entry.dates.review_on
            print(
                f"  {entry.item.label}\t{entry.item.category.label}\t"
                f"{iso_utc(when) if when else '-'}\t{entry.dates.why}"
            )
    return EXIT_OK
