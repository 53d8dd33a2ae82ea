"""The one value contract (core.contract): the [0, 1] <-> [-1, 1] mapping written once, recorded in
checkpoints by training, and assumed with a note for checkpoints written before the record."""
from __future__ import annotations

import re
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch

import microgan
from microgan.core import contract
from microgan.core.checkpoint import read_meta

SRC = Path(microgan.__file__).resolve().parent


def test_the_mapping_and_its_inverse() -> None:
    x = np.linspace(0, 1, 11, dtype=np.float32)
    np.testing.assert_allclose(contract.to_network(x), 2 * x - 1)
    np.testing.assert_allclose(contract.from_network(contract.to_network(x)), x)
    t = torch.linspace(0, 1, 5)
    assert torch.allclose(contract.from_network(contract.to_network(t)), t)
    y = x.copy()
    contract.from_network_(contract.to_network_(y))
    np.testing.assert_allclose(y, x, atol=1e-7)
    assert contract.to_network(0.0) == contract.NETWORK_RANGE[0] and contract.to_network(1.0) == contract.NETWORK_RANGE[1]


def test_the_mapping_is_written_in_one_module() -> None:
    """No other module maps values into or out of the network's range by hand."""
    patterns = [r"\*\s*2(\.0)?\s*-\s*1(\.0)?\b", r"\+\s*1(\.0)?\)\s*/\s*2\b", r"\*\s*0\.5\s*\+\s*0\.5"]
    found = []
    for path in SRC.rglob("*.py"):
        if path.name == "contract.py":
            continue
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if any(re.search(p, line) for p in patterns):
                found.append(f"{path.relative_to(SRC)}:{number}: {line.strip()}")
    assert not found, "\n".join(found)


def test_contracts_of_plain_and_psf_models() -> None:
    plain = contract.contract_for({"generator": {"type": "unet-trimmed", "in_channels": 1, "out_channels": 1}})
    assert plain["image_channels"] == 1 and plain["psf_input"] is None and plain["normalizer"] == "range"
    told = contract.contract_for({"generator": {"type": "unet-psf", "image_channels": 3}})
    assert told["image_channels"] == 3 and "deconvolution" in told["psf_input"]
    assert contract.contract_of({"io": plain}) == (plain, True)
    assert contract.contract_of({"config": {"generator": {"type": "unet-psf", "image_channels": 3}}}) == (told, False)


def test_bundled_models_carry_their_contract() -> None:
    for name in ("microgan-bccd", "microgan-bccd-gan", "microgan-blind", "microgan-psf"):
        meta = read_meta(SRC / "weights" / f"{name}.safetensors")
        assert contract.contract_of(meta)[1], name
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no note for them
        microgan.load("microgan-psf", device="cpu")


def test_an_older_checkpoint_loads_with_the_contract_assumed_and_a_note(tmp_path: Path, save_tiny_generator) -> None:
    model = save_tiny_generator(tmp_path / "old.safetensors")
    with pytest.warns(UserWarning, match="records no value contract"):
        enhancer = microgan.load(model, device="cpu")
    assert enhancer.contract == contract.contract_for(read_meta(model)["config"])
    assert enhancer.enhance(np.zeros((8, 8, 3), np.uint8)).shape == (8, 8, 3)


def test_a_contract_of_another_range_is_refused(tmp_path: Path, save_tiny_generator) -> None:
    from microgan.core.checkpoint import Checkpoint, load_checkpoint, save_checkpoint
    from microgan.errors import MicroGANError

    source = load_checkpoint(save_tiny_generator(tmp_path / "a.safetensors"))
    meta = {**source.meta, "io": {**contract.contract_for(source.meta["config"]), "network_range": [0.0, 1.0]}}
    save_checkpoint(tmp_path / "b.safetensors", Checkpoint(meta=meta, generator=source.generator))
    with pytest.raises(MicroGANError, match="maps values to \\[0.0, 1.0\\]"):
        microgan.load(tmp_path / "b.safetensors", device="cpu")
