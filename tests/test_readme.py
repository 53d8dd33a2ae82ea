"""The README's claims, checked by running them: CI runs exactly its test command, every `microgan`
command it shows parses (a renamed flag or sub-command fails here), its `enhance` lines restore a
bundled field, its Python block runs, and it stays short enough to read in five minutes."""
from __future__ import annotations

import re
import shlex
from pathlib import Path
from typing import List

import numpy as np
import pytest

from microgan import cli

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()


def _blocks(language: str) -> List[str]:
    return re.findall(rf"^```{language}\n(.*?)^```", README, flags=re.M | re.S)


def _commands() -> List[List[str]]:
    """Every `microgan ...` line of the bash blocks (continuations joined, comments dropped)."""
    out = []
    for block in _blocks("bash"):
        for line in block.replace("\\\n", " ").splitlines():
            line = line.split(" #", 1)[0].strip()
            line = line.split("&& ")[-1].replace(".venv/bin/", "")
            if line.startswith("microgan "):
                out.append(shlex.split(line)[1:])
    return out


def test_ci_runs_the_readme_test_command() -> None:
    ci_command = (ROOT / ".ci/run").read_text().strip().splitlines()[-1]
    assert "pytest" in ci_command
    assert f"\n{ci_command}\n" in README


def test_readme_is_short() -> None:
    assert len(README.splitlines()) < 150


def test_every_readme_command_parses() -> None:
    commands = _commands()
    assert {argv[0] for argv in commands} >= {"demo", "enhance", "prepare", "train", "evaluate", "export", "classify"}
    parser = cli.build_parser()
    for argv in commands:
        try:
            parser.parse_args(argv)
        except SystemExit:
            pytest.fail(f"README command does not parse: microgan {' '.join(argv)}")


@pytest.fixture(scope="module")
def small_field(tmp_path_factory) -> Path:
    from microgan.data.io import write_image
    from microgan.data.samples import blurred_bccd_field

    folder = tmp_path_factory.mktemp("raw_images")
    write_image(folder / "cell.png", np.ascontiguousarray(blurred_bccd_field()[150:246, 130:250]))
    return folder


def test_the_readme_enhance_lines_restore_a_bundled_field(small_field, tmp_path) -> None:
    from microgan.data.io import read_image

    ran = 0
    for argv in _commands():
        if argv[0] != "enhance" or argv[1] != "raw_images/":
            continue
        argv = [str(small_field) if a == "raw_images/" else a for a in argv]
        argv = [str(tmp_path / f"out{ran}") if a == "restored/" else a for a in argv]
        if "--psf" in argv and argv[argv.index("--psf") + 1].endswith(".tif"):  # a measured PSF: make one
            from microgan.core.psf import gaussian_kernel
            from microgan.data.io import write_image

            write_image(tmp_path / "bead.tif", gaussian_kernel(2.6).astype(np.float32))
            argv[argv.index("--psf") + 1] = str(tmp_path / "bead.tif")
        assert cli.main([*argv, "--quiet"]) == 0, argv
        assert read_image(tmp_path / f"out{ran}" / "cell.png").array.shape == (96, 120, 3)
        ran += 1
    assert ran >= 4


def test_the_readme_python_block_runs() -> None:
    from microgan.data.samples import blurred_bccd_field

    (block,) = _blocks("python")
    scope = {"array": np.ascontiguousarray(blurred_bccd_field()[150:214, 130:210])}
    exec(block, scope)  # noqa: S102  (our own README)
    assert scope["restored"].shape == scope["told"].shape == (64, 80, 3)
