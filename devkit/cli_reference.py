"""docs/cli.md, rendered from every program's ``--help`` (and each subcommand's).

``python -m devkit.cli_reference --write`` regenerates it; ``tests/unit/test_cli_reference.py``
fails when the file and the programs differ.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Final

DOC: Final = Path(__file__).resolve().parents[1] / "docs" / "cli.md"
WIDTH: Final = "100"
REGENERATE: Final = ".venv/bin/python -m devkit.cli_reference --write"


def _programs() -> list[tuple[str, Callable[[], argparse.ArgumentParser]]]:
    from cctv_common.evidence.verify import build_parser as verify
    from devkit.demo import build_parser as demo
    from edge_agent.cli import build_parser as agent
    from hub.cli import build_parser as hub
    from provisioning.cli import build_parser as provision

    return [
        ("cctv-hub", hub),
        ("cctv-agent", agent),
        ("cctv-provision", provision),
        ("cctv-verify", verify),
        ("cctv-demo", demo),
    ]


def _walk(parser: argparse.ArgumentParser, name: str) -> Iterator[tuple[str, str]]:
    yield name, parser.format_help()
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub_name, sub in action.choices.items():
                yield from _walk(sub, f"{name} {sub_name}")


def render() -> str:
    os.environ["COLUMNS"] = WIDTH  # argparse wraps to the terminal: make it the same everywhere
    lines = [
        "# Command-line reference",
        "",
        "Generated from each program's `--help`; do not edit by hand. Regenerate with",
        f"`{REGENERATE}` (a test fails when this file and the programs differ).",
        "",
        "Every program takes `--version`, `-v/--verbose` (debug logging) and `--log-level LEVEL`",
        "the same way; those with a config check it with `validate-config FILE`.",
        "",
    ]
    for program, build in _programs():
        for name, text in _walk(build(), program):
            lines += [f"## `{name}`", "", "```", text.rstrip(), "```", ""]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    args = argv if argv is not None else sys.argv[1:]
    text = render()
    if args == ["--write"]:
        DOC.write_text(text, encoding="utf-8")
        print(f"wrote {DOC}")
        return 0
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
