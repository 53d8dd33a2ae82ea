"""``--scale`` of ``enhance`` and the upscaling model's exports: a larger output with the PSF, a model of
another scale refused in one line, an ONNX export and a bioimage.io package that upscale."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from microgan import cli
from microgan.archs import build_generator
from microgan.core.checkpoint import Checkpoint, save_checkpoint
from microgan.core.contract import contract_for
from microgan.data.io import read_image, write_image

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning", "ignore::UserWarning")

SPEC = {"type": "unet-psf", "channels": [4, 8], "image_channels": 3, "identity_init": True}


def _model(path: Path, scale: int) -> Path:
    torch.manual_seed(0)
    steps = [{"type": "blur", "sigma": [0.5, 3.0]}] + ([{"type": "downsample", "factor": scale}] if scale > 1 else [])
    config = {"name": f"tiny-psf-x{scale}", "generator": SPEC, "data": {"degradation": {"type": "compose", "steps": steps}}}
    meta = {"config": config, "step": 1, "epoch": 0, "io": contract_for(config)}
    save_checkpoint(path, Checkpoint(meta=meta, generator=build_generator(SPEC).state_dict()))
    return path


@pytest.fixture()
def image(tmp_path: Path) -> Path:
    path = tmp_path / "in" / "a.png"
    write_image(path, np.random.default_rng(0).integers(60, 200, (24, 30, 3), dtype=np.uint8))
    return path


def test_enhance_upscales_with_the_model_and_the_psf(tmp_path: Path, image: Path) -> None:
    model = _model(tmp_path / "x2.safetensors", 2)
    out = tmp_path / "out"
    assert cli.main(["enhance", str(image), "-o", str(out), "--model", str(model), "--psf", "gauss:1.5", "--scale", "2"]) == 0
    written = read_image(out / "a.png").array
    assert written.shape == (48, 60, 3) and written.dtype == np.uint8
    again = tmp_path / "again"  # --scale may be left out: the model's own scale
    assert cli.main(["enhance", str(image), "-o", str(again), "--model", str(model), "--psf", "gauss:1.5"]) == 0
    assert np.array_equal(read_image(again / "a.png").array, written)


@pytest.mark.parametrize("scale, asked, says", [(2, "4", "upscales by 2, not by 4"), (1, "2", "restores at the input's size")])
def test_a_model_of_another_scale_is_one_line(tmp_path: Path, image: Path, scale: int, asked: str, says: str,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    model = _model(tmp_path / "m.safetensors", scale)
    code = cli.main(["enhance", str(image), "-o", str(tmp_path / "out"), "--model", str(model), "--psf", "gauss:1.5",
                     "--scale", asked])
    err = capsys.readouterr().err
    assert code != 0 and says in err and "Traceback" not in err


def test_an_upscaling_model_without_the_psf_is_one_line(tmp_path: Path, image: Path,
                                                         capsys: pytest.CaptureFixture[str]) -> None:
    model = _model(tmp_path / "x2.safetensors", 2)
    code = cli.main(["enhance", str(image), "-o", str(tmp_path / "out"), "--model", str(model)])
    err = capsys.readouterr().err
    assert code == 1 and "needs the PSF" in err and "Traceback" not in err


def test_onnx_export_upscales(tmp_path: Path) -> None:
    import onnxruntime as ort

    model = _model(tmp_path / "x2.safetensors", 2)
    onnx = tmp_path / "x2.onnx"
    assert cli.main(["export", "--model", str(model), "--psf", "gauss:1.5", "--format", "onnx", "-o", str(onnx)]) == 0
    session = ort.InferenceSession(str(onnx), providers=["CPUExecutionProvider"])
    x = np.random.default_rng(0).random((1, 3, 20, 28)).astype(np.float32) * 2 - 1
    assert session.run(None, {session.get_inputs()[0].name: x})[0].shape == (1, 3, 40, 56)


def test_bioimageio_package_of_an_upscaler_declares_the_scale_and_passes_its_test(tmp_path: Path) -> None:
    pytest.importorskip("bioimageio.core")
    from bioimageio.spec import load_model_description

    model = _model(tmp_path / "x2.safetensors", 2)
    package = tmp_path / "x2.zip"
    assert cli.main(["export", "--model", str(model), "--psf", "gauss:1.5", "--format", "bioimageio", "-o", str(package)]) == 0
    descr = load_model_description(package)
    y_in, y_out = descr.inputs[0].axes[2], descr.outputs[0].axes[2]
    assert y_out.scale == pytest.approx(0.5) and y_in.scale == 1
    assert y_out.halo % 2 == 0
