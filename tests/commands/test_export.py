"""``microgan export``: writes a checked ONNX / TorchScript file and prints the parity error."""
from __future__ import annotations

from pathlib import Path

import pytest
import torch

from microgan import cli
from microgan.archs import build_generator
from microgan.core import checkpoint as ck


@pytest.fixture()
def model(tmp_path: Path) -> str:
    torch.manual_seed(0)
    spec = {"type": "unet", "in_channels": 1, "out_channels": 1, "channels": [4, 8]}
    path = tmp_path / "run" / "best.safetensors"
    ck.save_checkpoint(path, ck.Checkpoint(meta={"config": {"generator": spec}}, generator=build_generator(spec).state_dict()))
    return str(path.parent)


@pytest.mark.parametrize("fmt, name", [("onnx", "g.onnx"), ("torchscript", "g.pt")])
def test_export_writes_and_reports_parity(fmt: str, name: str, model: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / name
    assert cli.main(["export", "--model", model, "--format", fmt, "-o", str(out)]) == 0
    text = capsys.readouterr().out
    assert out.is_file() and "1x1" in text and "129x100" in text
    worst = float(text.rsplit("max |error| ", 1)[1].split()[0])
    assert worst < 1e-4
    assert cli.main(["export", "--model", model, "--format", fmt, "-o", str(out)]) == 2
    assert "already exists" in capsys.readouterr().err


def test_export_without_a_model_is_a_clear_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setattr(ck, "BUNDLED_DIR", tmp_path / "no-weights")
    assert cli.main(["export", "-o", str(tmp_path / "g.onnx")]) == 2
    assert "pass --model" in capsys.readouterr().err


def test_an_unwritable_output_is_one_line(model: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """``-o /proc/nope/x.onnx`` raised FileNotFoundError (a traceback)."""
    assert cli.main(["export", "--model", model, "-o", "/proc/nope/x.onnx"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "/proc/nope/x.onnx: cannot write" in err
