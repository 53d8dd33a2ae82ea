"""Every value checked before work starts (issue 30): numbers finite and in range, configs that
parse, networks that fit in memory, output places that can be written. Each was a traceback, a
hang or an exit 0 before; each is now one line naming the value and a non-zero exit, and nothing
is written."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

import microgan
from microgan.errors import MicroGANError

TINY = ["--set", "generator.channels=[4,8]", "--set", "critic.base=4", "--set", "train.threads=1", "--quiet"]


def _inputs(tmp_path: Path, field) -> Path:
    from microgan.data.io import write_image

    folder = tmp_path / "in"
    write_image(folder / "a.png", field())
    return folder


@pytest.mark.parametrize("args, reason", [
    (["--max-memory", "inf"], "--max-memory: must be a size above 0"),
    (["--max-memory", "1e400"], "--max-memory: must be a size above 0"),
    (["--max-memory", "nan"], "--max-memory: must be a size above 0"),
    (["--tile", "nan"], "--tile"),
    (["--suffix", "/x"], "must be part of a file name"),
])
def test_enhance_values(args, reason, tmp_path: Path, check, field, rgb_model: Path) -> None:
    result = check.cli("enhance", "--model", str(rgb_model), str(_inputs(tmp_path, field)), "-o", str(tmp_path / "out"), *args)
    assert result.code == 2
    check.one_line_naming(result.err, reason)
    assert not (tmp_path / "out").exists()


def test_a_memory_budget_below_what_the_process_holds_is_refused_with_the_floor(tmp_path: Path, check, field, rgb_model: Path) -> None:
    """It cut 104x104 tiles and ran a 2-second image for over 15 minutes."""
    result = check.cli("enhance", "--model", str(rgb_model), str(_inputs(tmp_path, field)), "-o", str(tmp_path / "out"),
                       "--max-memory", "10M", "--tile", "auto")
    assert result.code == 1
    check.one_line_naming(result.err, "a.png", "max_memory 10 MB is below what restoring needs", "give at least")


@pytest.mark.parametrize("args, reason", [
    (["--set", "train.steps=abc"], "train.steps must be a whole number"),
    (["--set", "train.optimizer.lr=nan", "--steps", "1"], "lr must be a finite number"),
    (["--set", "train.max_minutes=.nan"], "train.max_minutes must be a finite number"),
    (["--steps", "-5"], "--steps: must be >= 1"),
    (["--epochs", "-1"], "--epochs: must be >= 1"),
    (["--max-minutes", "nan"], "--max-minutes: must be a finite number"),
    (["--set", "losses.pixel.weight=-1", "--steps", "1"], "losses.pixel.weight must be a finite number >= 0"),
    (["--set", "generator.channels=[100000,200000]", "--steps", "1"], "the networks are too large to train here"),
    (["--set", "train.steps=[1,"], "is not valid YAML"),
])
def test_train_values(args, reason, tmp_path: Path, check, tiny_prepared: Path) -> None:
    result = check.cli("train", "--config", "microgan", "--data", str(tiny_prepared), "--out", str(tmp_path / "run"),
                       *TINY, *args)
    assert result.code == 2, result.err
    check.one_line_naming(result.err, reason)
    assert not (tmp_path / "run").exists() or not any((tmp_path / "run").iterdir())


@pytest.mark.parametrize("text, reason", [
    (b"name: x\ngenerator: [\n", "invalid YAML (expected the node content"),
    (b'name: !!python/object/apply:os.system ["echo pwned"]\n', "invalid YAML (could not determine a constructor"),
    (b"name: \xff\xfe\n", "not UTF-8 text"),
])
def test_config_files_that_do_not_parse(text: bytes, reason: str, tmp_path: Path, check, tiny_prepared: Path) -> None:
    config = tmp_path / "config.yaml"
    config.write_bytes(text)
    result = check.cli("train", "--config", str(config), "--data", str(tiny_prepared), "--out", str(tmp_path / "run"))
    assert result.code == 2 and len(result.err.strip().splitlines()) == 1
    check.one_line_naming(result.err, str(config), reason)


@pytest.mark.parametrize("command, reason", [
    (["prepare", "--source", "folder", "--out", "OUT", "--blur-sigma", "nan"], "sigma must be > 0"),
    (["prepare", "--source", "folder", "--out", "OUT", "--noise", "nan"], "noise must be a fraction"),
    (["prepare", "--source", "folder", "--out", "OUT", "--blur-kernel", "100001"], "kernel_size must be odd, 1 to 255"),
    (["models", "--size", "100000"], "--size must be at most 2048"),
    (["export", "--format", "onnx", "-o", "OUT/m.onnx", "--opset", "7"], "--opset: must be >= 12"),
    (["export", "--format", "onnx", "-o", "OUT/m.onnx", "--opset", "99"], "--opset 99: this exporter writes opsets"),
    (["classify", "--inputs", "hr", "--lr", "nan"], "--lr: must be a finite number"),
    (["classify", "--inputs", "hr", "--batch-size", "0"], "--batch-size: must be >= 1"),
    (["classify", "--inputs", "hr", "--json", "/proc/nope/c.json"], "--json cannot be written"),
    (["evaluate", "--split", "test", "--baselines", "identity", "--degradation", "gauss:1e9"], "blur sigma must be at most"),
    (["evaluate", "--split", "test", "--baselines", "identity", "--json", "/proc/nope/r.json"], "cannot be written"),
    (["demo", "--out", "/proc/nope/demo"], "the demo's output folder cannot be written"),
])
def test_other_commands_values(command, reason, tmp_path: Path, check, field, rgb_model: Path, tiny_prepared: Path) -> None:
    argv = [a.replace("OUT", str(tmp_path / "out")) for a in command]
    if argv[0] == "prepare":
        argv += ["--data", str(_inputs(tmp_path, field))]
    if argv[0] in ("classify", "evaluate"):
        argv += ["--data", str(tiny_prepared)]
    if argv[0] == "export":
        argv += ["--model", str(rgb_model)]
    result = check.cli(*argv)
    assert result.code == 2, result.err
    check.one_line_naming(result.err, reason)
    assert not (tmp_path / "out").exists()


def test_a_checkpoint_whose_metadata_nests_200000_deep(tmp_path: Path, check, field) -> None:
    from safetensors.torch import save_file

    model = tmp_path / "deep.safetensors"
    save_file({"x": torch.zeros(1)}, str(model), metadata={"microgan": "[" * 200_000 + "]" * 200_000})
    result = check.cli("enhance", "--model", str(model), str(_inputs(tmp_path, field)), "-o", str(tmp_path / "out"))
    assert result.code == 2
    check.one_line_naming(result.err, str(model), "nested too deeply")


def test_an_overflowing_model_is_refused_not_written_as_a_saturated_image(tmp_path: Path, save_tiny_generator) -> None:
    from microgan.archs import build_generator
    from microgan.core.checkpoint import Checkpoint, load_checkpoint, save_checkpoint
    from microgan.core.portable import export_model

    source = load_checkpoint(save_tiny_generator(tmp_path / "tiny.safetensors"))
    spec = source.meta["config"]["generator"]
    net = build_generator(spec)
    net.load_state_dict(source.generator)
    with torch.no_grad():
        head = [m for m in net.modules() if isinstance(m, torch.nn.Conv2d)][-1]
        head.weight.fill_(1e20)
        head.bias.fill_(1e20)
    bad = tmp_path / "overflow.safetensors"
    save_checkpoint(bad, Checkpoint(meta=source.meta, generator=net.state_dict()))
    with pytest.raises(MicroGANError, match="far outside its \\[-1, 1\\] range"):
        microgan.load(bad, device="cpu", tile=None, consistency=False).enhance(np.arange(768, dtype=np.uint8).reshape(16, 16, 3))
    with pytest.raises(MicroGANError, match="far outside its \\[-1, 1\\] range"):
        export_model(str(bad), tmp_path / "m.pt", "torchscript")
    assert not (tmp_path / "m.pt").exists()


def test_an_export_onto_a_full_disk_is_refused_before_writing(tmp_path: Path, monkeypatch, rgb_model: Path) -> None:
    """TorchScript's writer aborted the process on a full disk and left a temporary file."""
    import shutil
    from collections import namedtuple

    from microgan.core.portable import export_model

    usage = namedtuple("usage", "total used free")
    monkeypatch.setattr(shutil, "disk_usage", lambda place: usage(10**9, 10**9 - 1000, 1000))
    with pytest.raises(MicroGANError, match="not enough free space"):
        export_model(str(rgb_model), tmp_path / "m.pt", "torchscript")
    assert list(tmp_path.iterdir()) == []
