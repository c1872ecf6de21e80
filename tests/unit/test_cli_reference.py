"""docs/cli.md is every program's --help as it is now; and the options every program shares."""

from __future__ import annotations

import pytest

from devkit.cli_reference import DOC, REGENERATE, _programs, render


def test_docs_cli_md_matches_every_help() -> None:
    assert DOC.read_text(encoding="utf-8") == render(), (
        f"docs/cli.md is out of date: run `{REGENERATE}`"
    )


@pytest.mark.parametrize("program", [name for name, _ in _programs()])
def test_every_program_has_version_verbose_and_log_level(
    program: str, capsys: pytest.CaptureFixture[str]
) -> None:
    build = dict(_programs())[program]
    parser = build()
    options = {option for action in parser._actions for option in action.option_strings}
    assert {"--version", "-v", "--verbose", "--log-level"} <= options
    with pytest.raises(SystemExit) as stopped:
        parser.parse_args(["--version"])
    assert stopped.value.code == 0
    assert capsys.readouterr().out.startswith(f"{program} ")
    help_text = parser.format_help()
    assert "`" not in help_text and "**" not in help_text  # plain text, no markup


@pytest.mark.parametrize("program", ["cctv-hub", "cctv-agent"])
def test_programs_with_a_config_validate_it_in_one_form(program: str) -> None:
    parser = dict(_programs())[program]()
    parsed = parser.parse_args(["validate-config", "some.toml"])
    assert str(parsed.config) == "some.toml"
