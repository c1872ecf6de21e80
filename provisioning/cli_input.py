"""What every ``cctv-provision`` command shares: exit codes, the one-line refusal, and the
ONVIF password from --password, --password-env or a prompt (never printed)."""

from __future__ import annotations

import argparse
import getpass
import os
import sys

EXIT_OK = 0
EXIT_SOME_FAILED = 1
EXIT_BAD_INPUT = 2


class BadInput(Exception):
    """Refused before doing anything: one line, exit code 2."""


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


def add_credentials(parser: argparse.ArgumentParser, required: bool) -> None:
    parser.add_argument("--user", required=required, help="ONVIF user name")
    secret = parser.add_mutually_exclusive_group()
    secret.add_argument("--password", help="ONVIF password (visible to ps: prefer the others)")
    secret.add_argument("--password-env", metavar="VAR", help="read the password from $VAR")


DEFAULT_DEVICE_TIMEOUT = 30.0
"""Connecting to one device: clock, services, device information, profiles, a stream URI per
profile and a snapshot are about a dozen exchanges; on a site LAN each takes milliseconds."""


def add_device_timeout(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--device-timeout",
        type=float,
        default=DEFAULT_DEVICE_TIMEOUT,
        metavar="S",
        help=f"give up on a device after this long (default {DEFAULT_DEVICE_TIMEOUT:g})",
    )
