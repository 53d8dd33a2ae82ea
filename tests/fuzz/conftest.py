"""Shared pieces of the bad-input suite (issue 15): every case runs a command or API call on one
bad input among good ones and checks the promise in the README ("What a bad input gets"):

* no traceback: the call returns an exit code (CLI) or raises a ``MicroGANError`` (Python API);
* the bad file named, with the reason, on one line;
* inputs unchanged (SHA-256 of every input file before and after);
* the rest of the batch written;
* no partial or temporary file left in the inputs or outputs;
* a non-zero exit wherever anything failed (1: a batch that skipped files, 2: a refusal).

Shared values are fixtures, not imports (see tests/train/conftest.py).
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Dict, List

import numpy as np
import pytest

from microgan import cli


@dataclass
class Result:
    code: int
    out: str
    err: str


class Checks:
    """The suite's invariants as one helper (a fixture: test modules cannot import each other)."""

    def __init__(self, capsys: pytest.CaptureFixture[str]) -> None:
        self._capsys = capsys

    def cli(self, *argv: str) -> Result:
        """``microgan ARGV`` in this process: any exception other than an exit code fails the test
        (it is what a user would see as a traceback)."""
        self._capsys.readouterr()
        try:
            code = cli.main([str(a) for a in argv])
        except SystemExit as exc:  # argparse's refusal of a bad option: usage, one error line, exit 2
            code = int(exc.code or 0)
        captured = self._capsys.readouterr()
        assert "Traceback" not in captured.err
        return Result(code, captured.out, captured.err)

    @staticmethod
    def hashes(*folders: Path) -> Dict[str, str]:
        return {
            str(p): hashlib.sha256(p.read_bytes()).hexdigest()
            for folder in folders
            for p in sorted(Path(folder).rglob("*"))
            if p.is_file()
        }

    @staticmethod
    def leftovers(*folders: Path) -> List[str]:
        """Temporary files of atomic writes (``.NAME.*.tmp``) or anything else named ``*.tmp``."""
        return [str(p) for folder in folders if Path(folder).exists() for p in Path(folder).rglob("*.tmp")]

    @staticmethod
    def one_line_naming(err: str, *parts: str) -> None:
        """Some line of ``err`` holds every part (the file and the reason), and none is a traceback."""
        lines = [line for line in err.replace("\r", "\n").splitlines() if all(p in line for p in parts)]
        assert lines, f"no line names {parts} in:\n{err}"


@pytest.fixture()
def check(capsys: pytest.CaptureFixture[str]) -> Checks:
    return Checks(capsys)


@pytest.fixture(autouse=True)
def one_thread():
    """The cases run tiny networks: one torch thread each (pytest -n 2 on 2 cores) beats two
    workers fighting over both cores; the thread count is restored afterwards."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def _field(height: int = 80, width: int = 100) -> np.ndarray:
    """Two dark disks on a bright RGB background: the paper's segmentation finds two cells."""
    import cv2

    image = np.full((height, width), 200, np.uint8)
    cv2.circle(image, (30, 35), 15, 70, -1)
    cv2.circle(image, (72, 45), 11, 70, -1)
    return np.repeat(image[..., None], 3, axis=-1)


@pytest.fixture(scope="session")
def field() -> Callable[..., np.ndarray]:
    return _field


@pytest.fixture(scope="session")
def rgb_model(tmp_path_factory: pytest.TempPathFactory, save_tiny_generator: Callable[..., Path]) -> Path:
    """A tiny RGB generator checkpoint (read-only by convention: cases that damage a model copy it)."""
    return save_tiny_generator(tmp_path_factory.mktemp("fuzz-model") / "tiny.safetensors")
