"""``--psf`` and the optics options of ``enhance`` and ``evaluate``: a model told the PSF restores with
it, a bad or half-given PSF is one line and a non-zero exit before any work, a blind model refuses it."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Callable

import numpy as np
import pytest
import torch

from microgan import cli
from microgan.archs import build_generator
from microgan.core.checkpoint import Checkpoint, save_checkpoint
from microgan.data.io import read_image, write_image

PSF_SPEC = {"type": "unet-psf", "channels": [4, 8], "image_channels": 3, "identity_init": True}


@pytest.fixture()
def psf_model(tmp_path: Path) -> Path:
    torch.manual_seed(0)
    path = tmp_path / "psf.safetensors"
    meta = {"config": {"name": "tiny-psf", "generator": PSF_SPEC}, "step": 1, "epoch": 0}
    save_checkpoint(path, Checkpoint(meta=meta, generator=build_generator(PSF_SPEC).state_dict()))
    return path


@pytest.fixture()
def image(tmp_path: Path) -> Path:
    rng = np.random.default_rng(0)
    path = tmp_path / "in" / "a.png"
    write_image(path, rng.integers(60, 200, (24, 30, 3), dtype=np.uint8))
    return path


def test_enhance_with_a_given_psf_writes_the_output_and_says_what_it_used(
        tmp_path: Path, psf_model: Path, image: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "out"
    assert cli.main(["enhance", str(image), "-o", str(out), "--model", str(psf_model), "--psf", "gauss:1.5"]) == 0
    assert read_image(out / "a.png").array.shape == (24, 30, 3)
    assert "restored with the given PSF (RMS width 1.50 px)" in capsys.readouterr().err


def test_enhance_with_the_optics(tmp_path: Path, psf_model: Path, image: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "out"
    argv = ["enhance", str(image), "-o", str(out), "--model", str(psf_model), "--na", "0.75", "--wavelength", "550",
            "--pixel-size", "0.1"]
    assert cli.main(argv) == 0
    assert "RMS width 1.5" in capsys.readouterr().err  # 0.21 * 0.55 / 0.75 / 0.1 = 1.54 px


@pytest.mark.parametrize("extra, says", [
    (["--psf", "gauss:-2"], "widths must be positive"),
    (["--psf", "nope.tif"], "no such PSF file"),
    (["--na", "0.75"], "need all three"),
    (["--psf", "gauss:2", "--na", "0.75", "--wavelength", "500", "--pixel-size", "0.1"], "not both"),
])
def test_bad_psf_options_are_one_line_and_exit_2(tmp_path: Path, psf_model: Path, image: Path, extra: list, says: str,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "out"
    assert cli.main(["enhance", str(image), "-o", str(out), "--model", str(psf_model), *extra]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and says in err[0] and "Traceback" not in err[0]
    assert not out.exists() or not any(out.iterdir())


def test_a_psf_for_a_blind_model_is_refused(tmp_path: Path, image: Path, save_tiny_generator: Callable[..., Path],
                                            capsys: pytest.CaptureFixture[str]) -> None:
    blind = save_tiny_generator(tmp_path / "blind.safetensors")
    assert cli.main(["enhance", str(image), "-o", str(tmp_path / "o"), "--model", str(blind), "--psf", "gauss:2"]) == 2
    assert "trained blind" in capsys.readouterr().err


def test_a_bad_psf_file_is_named(tmp_path: Path, psf_model: Path, image: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "bead.npy"
    np.save(bad, np.ones((3, 16, 16)))
    assert cli.main(["enhance", str(image), "-o", str(tmp_path / "o"), "--model", str(psf_model), "--psf", str(bad)]) == 2
    err = capsys.readouterr().err
    assert "bead.npy" in err and "3-D stack" in err


def test_evaluate_tells_a_psf_model_each_crops_own_psf(tmp_path: Path, psf_model: Path, tiny_prepared: Path,
                                                      save_tiny_generator: Callable[..., Path]) -> None:
    blind = save_tiny_generator(tmp_path / "blind.safetensors")
    report = tmp_path / "r.json"
    argv = ["evaluate", "--data", str(tiny_prepared), "--split", "test", "--degradation", "gauss:1.5+noise:0.01",
            "--model", f"told={psf_model}", f"blind={blind}", "--baselines", "identity", "--psf", "true",
            "--json", str(report), "--quiet"]
    assert cli.main(argv) == 0
    methods = json.loads(report.read_text())["methods"]
    assert methods["told"]["settings"]["psf"].startswith("told each crop's own")
    assert "psf" not in methods["blind"]["settings"]  # a blind model ignores it


def test_bioimageio_export_of_a_psf_model_is_refused_but_onnx_works(tmp_path: Path, psf_model: Path,
                                                                      capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "m.zip"
    assert cli.main(["export", "--model", str(psf_model), "--format", "bioimageio", "-o", str(out)]) == 2
    assert "told the PSF" in capsys.readouterr().err and not out.exists()
    onnx = tmp_path / "m.onnx"
    assert cli.main(["export", "--model", str(psf_model), "--format", "onnx", "-o", str(onnx)]) == 0
    assert onnx.is_file()
