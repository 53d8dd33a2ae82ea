"""The ``microgan`` entry points: help, version, every command registered, user errors as one line."""
from __future__ import annotations

import subprocess
import sys

import pytest

from microgan import __version__, cli
from microgan.errors import MicroGANError


def test_python_dash_m_and_version() -> None:
    out = subprocess.run([sys.executable, "-m", "microgan", "--version"], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == f"microgan {__version__}"


def test_every_command_is_registered() -> None:
    parser = cli.build_parser()
    choices = next(a for a in parser._actions if a.dest == "command").choices
    assert sorted(choices) == sorted(cli.COMMANDS)


def test_no_command_prints_help_and_fails(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main([]) == 2
    assert "usage: microgan" in capsys.readouterr().out


def _models_command_raising(monkeypatch: pytest.MonkeyPatch, exc: BaseException) -> None:
    """Make ``microgan models`` raise ``exc`` inside its command function."""
    def raising(args) -> int:
        raise exc

    parser = cli.build_parser()
    monkeypatch.setattr(cli, "build_parser", lambda: parser)
    sub = next(a for a in parser._actions if a.dest == "command")
    sub.choices["models"].set_defaults(func=raising)


def test_user_error_is_one_line_and_exit_2(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    _models_command_raising(monkeypatch, MicroGANError("img.png: not an image"))
    assert cli.main(["models"]) == 2
    err = capsys.readouterr().err
    assert err == "microgan models: error: img.png: not an image\n"


def test_running_out_of_memory_is_one_line_and_exit_2(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    _models_command_raising(monkeypatch, MemoryError())
    assert cli.main(["models"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("microgan models: error: out of memory")
