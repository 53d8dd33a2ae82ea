"""Backends: ONNX Runtime equals PyTorch within 1/255; auto races once and remembers; clear
messages when onnxruntime is missing or asked for on a GPU."""
from __future__ import annotations

import copy
from pathlib import Path

import numpy as np
import pytest
import torch

from microgan.archs import build_generator
from microgan.core import portable
from microgan.errors import MicroGANError
from microgan.infer import Enhancer, backends, calibrate

SPEC = {"type": "unet", "channels": [4, 8, 16]}
needs_ort = pytest.mark.skipif(not backends.onnxruntime_available(), reason="onnxruntime not installed")


def _net(seed: int = 0, **kw) -> torch.nn.Module:
    torch.manual_seed(seed)
    return build_generator({**SPEC, **kw}).eval()


def _enh(net: torch.nn.Module, backend: str, **kw) -> Enhancer:
    return Enhancer(net, {}, device="cpu", precision="fp32", tile=None, backend=backend, **kw)


@pytest.fixture(autouse=True)
def _cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    return tmp_path / "microgan"


@needs_ort
def test_self_ensemble_on_onnxruntime_with_non_square_tiles_equals_torch() -> None:
    """The turned passes give ONNX Runtime a second, transposed tile shape: same result as PyTorch's
    whole-image ensemble, for a batch of two equal images."""
    net = _net()
    rng = np.random.default_rng(3)
    images = [rng.random((150, 131, 3), dtype=np.float32) for _ in range(2)]
    ort = Enhancer(net, {}, device="cpu", precision="fp32", tile=96, backend="onnxruntime", self_ensemble=True)
    ref = _enh(copy.deepcopy(net), "torch", self_ensemble=True)
    assert len(ort.plan(152, 132)) == 6
    for got, image in zip(ort.enhance_batch(images), images):
        assert np.abs(got - ref.enhance(image)).max() < 1e-4


@needs_ort
@pytest.mark.parametrize("normalizer", [None, "percentile"])
def test_onnxruntime_equals_torch_within_one_level(normalizer) -> None:
    net = _net()
    rng = np.random.default_rng(0)
    images = [rng.integers(0, 256, (37, 50, 3), dtype=np.uint8), rng.integers(0, 65536, (64, 41), dtype=np.uint16)]
    for image in images:
        ort = _enh(net, "onnxruntime", normalizer=normalizer)
        ref = _enh(copy.deepcopy(net), "torch", normalizer=normalizer)
        assert ort.backend_name == "onnxruntime" and ref.backend_name == "torch"
        diff = np.abs(ort.enhance(image).astype(np.int64) - ref.enhance(image))
        assert diff.max() <= np.iinfo(image.dtype).max // 255  # within 1/255 of the range


@needs_ort
def test_onnx_graph_is_exported_once_per_weights(monkeypatch: pytest.MonkeyPatch, _cache: Path) -> None:
    calls = []
    export = portable.export_generator
    monkeypatch.setattr(portable, "export_generator", lambda *a, **k: calls.append(1) or export(*a, **k))
    net = _net()
    first = backends.onnx_graph(net)
    assert backends.onnx_graph(copy.deepcopy(net)) == first and len(calls) == 1
    assert backends.onnx_graph(_net(seed=1)) != first and len(calls) == 2
    assert first.parent == _cache / "onnx" and not list(first.parent.glob(".*.tmp"))


def test_weights_digest_follows_the_weights_not_the_layout() -> None:
    net = _net()
    digest = backends.weights_digest(net)
    assert backends.weights_digest(copy.deepcopy(net).to(memory_format=torch.channels_last)) == digest
    assert backends.weights_digest(_net(seed=1)) != digest


@needs_ort
def test_auto_races_once_and_remembers_the_winner(monkeypatch: pytest.MonkeyPatch, _cache: Path) -> None:
    races = []
    race = calibrate.race
    monkeypatch.setattr(calibrate, "race", lambda forwards, x, **k: races.append(sorted(forwards)) or race(forwards, x, **k))
    net = _net()
    first = _enh(net, "auto").backend.candidate
    assert races == [["onnxruntime", "torch-channels_last", "torch-nchw"]]
    assert _enh(copy.deepcopy(net), "auto").backend.candidate == first and len(races) == 1  # remembered
    entry = next(v for k, v in calibrate._load().items() if k.startswith("speed|"))
    assert entry["winner"] == first and set(entry["seconds"]) == {"torch-channels_last", "torch-nchw", "onnxruntime"}
    # --backend torch races the two layouts only
    assert _enh(net, "torch").backend_name == "torch" and races[-1] == ["torch-channels_last", "torch-nchw"]
    # bf16/fp16 (and GPUs) have nothing to race: onnxruntime computes fp32 on the CPU
    assert Enhancer(net, {}, device="cpu", precision="bf16", tile=None).backend_name == "torch"


def test_missing_onnxruntime_is_a_clear_error_and_auto_falls_back(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(backends, "onnxruntime_available", lambda: False)
    x = np.arange(16 * 16 * 3, dtype=np.uint8).reshape(16, 16, 3)  # not flat: a flat field needs no network
    with pytest.raises(MicroGANError, match=r"onnxruntime is not installed \(pip install 'microgan\[onnx\]'\)"):
        _enh(_net(), "onnxruntime").enhance(x)
    assert _enh(_net(), "auto").backend_name == "torch"
    assert backends.candidates_for("auto", torch.device("cpu"), "fp32") == ["torch-channels_last", "torch-nchw"]


def test_onnxruntime_is_refused_off_the_cpu_and_below_fp32() -> None:
    with pytest.raises(MicroGANError, match="runs on the CPU"):
        backends.candidates_for("onnxruntime", torch.device("cuda"), "fp16")
    with pytest.raises(MicroGANError, match="computes in fp32"):
        backends.candidates_for("onnxruntime", torch.device("cpu"), "bf16")
    with pytest.raises(MicroGANError, match="backend 'tensorrt'"):
        _enh(_net(), "tensorrt")
