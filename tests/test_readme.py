"""CI runs exactly the README's test command, and the README's commands name real sub-commands."""
from __future__ import annotations

import re
from pathlib import Path

from microgan import cli

ROOT = Path(__file__).resolve().parents[1]


def test_ci_runs_the_readme_test_command() -> None:
    ci_command = (ROOT / ".ci/run").read_text().strip().splitlines()[-1]
    assert "pytest" in ci_command
    assert f"\n{ci_command}\n" in (ROOT / "README.md").read_text()


def test_readme_commands_exist() -> None:
    used = set(re.findall(r"^microgan (\w+)", (ROOT / "README.md").read_text(), flags=re.M))
    assert used and used <= set(cli.COMMANDS)
