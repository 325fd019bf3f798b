"""The README keeps its promises: commands, codes, settings and CLI commands are documented."""

from __future__ import annotations

import re
from pathlib import Path

from click.testing import CliRunner

from authz.codes import Code
from gateway.cli import main

ROOT = Path(__file__).parents[1]
README = (ROOT / "README.md").read_text(encoding="utf-8")


def command_blocks() -> list[str]:
    return re.findall(r"```sh\n(.*?)\n```", README, flags=re.S)


def test_readme_starts_with_the_two_setup_commands() -> None:
    demo, tests = command_blocks()[:2]
    assert README.index("```sh") < 20
    assert demo.endswith("govshare demo") and "python3 -m venv .venv" in demo and ".[dev]" in demo
    assert "pytest" in tests and "python3 -m venv .venv" in tests


def test_ci_runs_the_readme_test_command() -> None:
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8").splitlines()
    assert ci[-1] == command_blocks()[1]


def test_every_error_code_is_documented() -> None:
    for code in Code:
        assert f"`{code.value}`" in README, code


def test_every_command_is_documented() -> None:
    runner = CliRunner()
    groups = {"audit": ["verify"], "catalog": ["validate"], "schema": ["print"], "report": ["usage"]}
    for name in main.commands:
        for sub in groups.get(name, [""]):
            assert f"`govshare {name}{' ' + sub if sub else ''}" in README, (name, sub)
            result = runner.invoke(main, [name, *([sub] if sub else []), "--help"])
            assert result.exit_code == 0


def test_every_environment_setting_is_documented() -> None:
    source = (ROOT / "gateway" / "settings.py").read_text(encoding="utf-8")
    for name in set(re.findall(r'"(GOVSHARE_[A-Z_]+)"', source)):
        assert f"`{name}`" in README, name
