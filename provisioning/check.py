"""``cctv-provision check --config agent.toml``: every check of the site, one line each.

  OK   camera cam-1: reachable with its credentials (RTSP)
  OK   stream cam-1: h264 640x360 25.0 fps 0.98 Mbit/s
  FAIL broker 10.0.0.2:8883: refused: 10.0.0.2:8883 refused 'high-street': not authorised
  ...

Exit codes: 0 when nothing failed (warnings allowed), 1 when any check failed, 2 for a config
that cannot be used. The checks are the agent's own (``edge_agent.health``): the agent repeats
them and reports them to the hub. The broker check logs in as the site: a running agent is
disconnected for about a second and reconnects with its session kept.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any, TextIO

from edge_agent.config import ConfigError, load_config
from edge_agent.health.checks import Verdict, worst
from edge_agent.health.site_check import CHECK_NAMES, run_site_checks

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_BAD_CONFIG = 2


def cmd_check(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    config_path: Path = args.config
    try:
        config = load_config(config_path)
    except ConfigError as exc:
        for line in exc.errors:
            err.write(f"{config_path}: {line}\n")
        return EXIT_BAD_CONFIG
    results = run_site_checks(config, skip=set(args.skip or ()))
    for result in results:
        out.write(result.line() + "\n")
    verdict = worst(results)
    failed = sum(1 for r in results if r.verdict is Verdict.FAIL)
    warned = sum(1 for r in results if r.verdict is Verdict.WARN)
    out.write(
        f"site {config.site_id}: {verdict.value} ({len(results)} checks, {failed} failed,"
        f" {warned} warned)\n"
    )
    return EXIT_FAILED if verdict is Verdict.FAIL else EXIT_OK


def add_check_command(sub: Any) -> None:
    """Add ``check`` to ``cctv-provision``'s sub-commands (``sub`` is argparse's subparsers)."""
    check = sub.add_parser(
        "check", help="check the site: cameras, clocks, streams, broker, disk, time sync"
    )
    check.add_argument("--config", type=Path, required=True, help="the agent's config (agent.toml)")
    check.add_argument(
        "--skip",
        action="append",
        choices=CHECK_NAMES,
        metavar="CHECK",
        help=f"leave out a check ({', '.join(CHECK_NAMES)}); repeatable",
    )
    check.set_defaults(handler=cmd_check)
