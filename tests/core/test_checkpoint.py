"""Checkpoints: round trip of weights, optimizer and RNG states; atomic writes; corruption is a clear error."""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import torch

from microgan.errors import CheckpointError
from microgan.core import checkpoint as ck


def _trained_adam() -> tuple[torch.nn.Module, torch.optim.Optimizer]:
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.ReLU(), torch.nn.Conv2d(4, 3, 1))
    opt = torch.optim.Adam(net.parameters(), lr=1e-3, betas=(0.9, 0.99))
    for _ in range(3):
        opt.zero_grad()
        net(torch.randn(1, 3, 8, 8)).square().mean().backward()
        opt.step()
    return net, opt


def _ckpt(net: torch.nn.Module, opt: torch.optim.Optimizer) -> ck.Checkpoint:
    return ck.Checkpoint(
        meta={"config": {"generator": {"type": "x"}}, "step": 3, "epoch": 0, "metrics": {"psnr": 30.5}},
        generator=net.state_dict(),
        critic={"w": torch.ones(2)},
        optimizers={"generator": opt.state_dict()},
        rng={"torch": torch.get_rng_state(), "numpy": np.random.default_rng(1).bit_generator.state, "python": [1, (2, 3)]},
    )


def test_round_trip_restores_weights_optimizer_and_rng(tmp_path: Path) -> None:
    net, opt = _trained_adam()
    path = tmp_path / "last.safetensors"
    ck.save_checkpoint(path, _ckpt(net, opt))
    got = ck.load_checkpoint(path)

    assert got.meta["step"] == 3 and got.meta["metrics"]["psnr"] == 30.5
    for k, v in net.state_dict().items():
        assert torch.equal(got.generator[k], v)
    assert torch.equal(got.critic["w"], torch.ones(2))
    assert torch.equal(got.rng["torch"], torch.get_rng_state()) or got.rng["torch"].dtype == torch.uint8
    assert got.rng["python"] == [1, (2, 3)]
    rng = np.random.default_rng()
    rng.bit_generator.state = got.rng["numpy"]
    assert rng.random() == np.random.default_rng(1).random()

    # the optimizer state loads into a fresh optimizer and continues identically
    net2, _ = _trained_adam()
    opt2 = torch.optim.Adam(net2.parameters(), lr=5.0)
    opt2.load_state_dict(got.optimizers["generator"])
    assert opt2.param_groups[0]["lr"] == 1e-3 and opt2.param_groups[0]["betas"] == (0.9, 0.99)
    x = torch.randn(1, 3, 8, 8)
    for o, n in ((opt, net), (opt2, net2)):
        o.zero_grad()
        n(x).square().mean().backward()
        o.step()
    for a, b in zip(net.parameters(), net2.parameters()):
        assert torch.equal(a, b)


def test_generator_only_and_fp16_export(tmp_path: Path) -> None:
    net, opt = _trained_adam()
    path = tmp_path / "g.safetensors"
    ck.save_checkpoint(path, _ckpt(net, opt), weights_dtype=torch.float16)
    got = ck.load_checkpoint(path, generator_only=True)
    assert got.critic is None and not got.optimizers
    assert all(t.dtype == torch.float16 for t in got.generator.values())


def test_crash_during_write_keeps_previous_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    net, opt = _trained_adam()
    path = tmp_path / "last.safetensors"
    ck.save_checkpoint(path, _ckpt(net, opt))
    before = path.read_bytes()

    def dying_save(tensors, filename, metadata=None):
        Path(filename).write_bytes(b"half a file")
        raise KeyboardInterrupt("simulated kill")

    monkeypatch.setattr(ck, "save_file", dying_save)
    with pytest.raises(KeyboardInterrupt):
        ck.save_checkpoint(path, _ckpt(net, opt))
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["last.safetensors"]
    ck.load_checkpoint(path)


@pytest.mark.parametrize("damage", ["truncate", "garbage", "empty"])
def test_corrupt_checkpoint_is_a_clear_error(tmp_path: Path, damage: str) -> None:
    net, opt = _trained_adam()
    path = tmp_path / "best.safetensors"
    ck.save_checkpoint(path, _ckpt(net, opt))
    data = path.read_bytes()
    path.write_bytes({"truncate": data[: len(data) // 2], "garbage": os.urandom(300), "empty": b""}[damage])
    with pytest.raises(CheckpointError, match="best.safetensors"):
        ck.load_checkpoint(path)


def test_foreign_safetensors_is_rejected(tmp_path: Path) -> None:
    from safetensors.torch import save_file

    path = tmp_path / "other.safetensors"
    save_file({"a": torch.zeros(1)}, str(path))
    with pytest.raises(CheckpointError, match="not a MicroGAN checkpoint"):
        ck.load_checkpoint(path)


def test_resolve_model_path(tmp_path: Path) -> None:
    net, opt = _trained_adam()
    ck.save_checkpoint(tmp_path / "last.safetensors", _ckpt(net, opt))
    assert ck.resolve_model_path(tmp_path) == tmp_path / "last.safetensors"
    ck.save_checkpoint(tmp_path / "best.safetensors", _ckpt(net, opt))
    assert ck.resolve_model_path(tmp_path) == tmp_path / "best.safetensors"
    assert ck.resolve_model_path(tmp_path / "last.safetensors") == tmp_path / "last.safetensors"
    with pytest.raises(CheckpointError, match="no such checkpoint"):
        ck.resolve_model_path(tmp_path / "missing.safetensors")
    (tmp_path / "empty-run").mkdir()
    with pytest.raises(CheckpointError, match="neither"):
        ck.resolve_model_path(tmp_path / "empty-run")


# ------------------------------------------------------------------------------ issue 15: what a load must refuse

TINY_SPEC = {"type": "unet", "channels": [4, 8], "in_channels": 3, "out_channels": 3}


def _tiny_generator_file(path: Path, **meta: object) -> Path:
    from microgan.archs import build_generator

    torch.manual_seed(0)
    state = build_generator(TINY_SPEC).state_dict()
    ck.save_checkpoint(path, ck.Checkpoint(meta={"config": {"generator": TINY_SPEC}, "step": 1, **meta}, generator=state))
    return path


@pytest.mark.parametrize("value", [float("nan"), float("inf")])
def test_non_finite_weights_are_refused_at_load_naming_the_tensor(tmp_path: Path, value: float) -> None:
    """They restored to all-black images with exit 0, and exported with a parity error of nan."""
    path = _tiny_generator_file(tmp_path / "m.safetensors")
    ckpt = ck.load_checkpoint(path)
    name = sorted(ckpt.generator)[0]
    ckpt.generator[name].view(-1)[0] = value
    ck.save_checkpoint(path, ckpt)
    for load in (ck.load_checkpoint, ck.load_generator):
        with pytest.raises(CheckpointError, match=rf"m\.safetensors: generator weight '{name}' holds NaN or Inf"):
            load(path)


def test_a_checkpoint_with_a_moving_average_serves_it_and_refuses_it_non_finite(tmp_path: Path) -> None:
    """``train.ema_decay``: the average is the model of a checkpoint that has one (best and last agree)."""
    path = _tiny_generator_file(tmp_path / "m.safetensors")
    ckpt = ck.load_checkpoint(path)
    ckpt.generator_ema = {k: v + 1 if v.is_floating_point() else v for k, v in ckpt.generator.items()}
    ck.save_checkpoint(path, ckpt)
    net, _ = ck.load_generator(path)
    assert all(torch.equal(net.state_dict()[k], ckpt.generator_ema[k]) for k in ckpt.generator_ema)
    name = sorted(ckpt.generator_ema)[0]
    ckpt.generator_ema[name].view(-1)[0] = float("nan")
    ck.save_checkpoint(path, ckpt)
    with pytest.raises(CheckpointError, match=rf"m\.safetensors: generator average weight '{name}' holds NaN or Inf"):
        ck.load_generator(path)


def _raw_meta_file(path: Path, meta: str) -> Path:
    from safetensors.torch import save_file

    save_file({"generator.w": torch.zeros(1)}, str(path), metadata={ck.META_KEY: meta})
    return path


@pytest.mark.parametrize(
    "meta, reason",
    [
        ("[1, 2]", "metadata is not a JSON object"),
        ("{not json", "metadata is not valid JSON"),
        ('{"format": 1, "config": "unet"}', "config is not a mapping"),
        ('{"format": 1, "config": {"generator": "unet"}}', "config.generator is not a mapping"),
        ('{"format": 1, "config": {"generator": {"type": "unet", "channels": "ab"}}}', "cannot build generator 'unet'"),
    ],
)
def test_malformed_metadata_is_one_clear_error(tmp_path: Path, meta: str, reason: str) -> None:
    """A JSON list or a config that is a string raised AttributeError (a traceback)."""
    path = _raw_meta_file(tmp_path / "odd.safetensors", meta)
    with pytest.raises(CheckpointError, match=rf"odd\.safetensors: .*{reason}"):
        ck.load_generator(path)
    if "generator" not in meta:  # metadata-level problems: read_meta and load_checkpoint say so too
        for read in (ck.read_meta, ck.load_checkpoint):
            with pytest.raises(CheckpointError, match=rf"odd\.safetensors: .*{reason}"):
                read(path)
