"""The options every program takes the same way: ``--version``, ``-v/--verbose``, ``--log-level``.

``-v`` is ``--log-level debug``; without either each program keeps its own default (the services
log at info, the engineer's tools at warning so their output stays the answer). Help text is
plain: no markup.
"""

from __future__ import annotations

import argparse
import logging
from typing import Final

from cctv_common import __version__

LEVELS: Final = ("debug", "info", "warning", "error")
LOG_FORMAT: Final = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def add_common_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--version", action="version", version=f"%(prog)s {__version__}", help="print the version"
    )
    parser.add_argument(
        "-v", "--verbose", action="store_true", help="debug logging (same as --log-level debug)"
    )
    parser.add_argument(
        "--log-level", choices=LEVELS, default=None, help="log level (default: the program's own)"
    )


def add_log_level(subcommand: argparse.ArgumentParser) -> None:
    """``--log-level`` after a subcommand too (``cctv-hub run --log-level debug``)."""
    subcommand.add_argument(
        "--log-level", choices=LEVELS, default=argparse.SUPPRESS, help="as before the command"
    )


def log_level(args: argparse.Namespace, default: str) -> str:
    """The level asked for: -v wins, then --log-level, then the program's default."""
    if getattr(args, "verbose", False):
        return "debug"
    chosen = getattr(args, "log_level", None)
    return default if chosen is None else str(chosen)


def setup_logging(args: argparse.Namespace, default: str) -> str:
    level = log_level(args, default)
    logging.basicConfig(level=level.upper(), format=LOG_FORMAT)
    return level
