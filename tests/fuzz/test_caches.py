"""Caches are data, not truth (issue 30): a doctored calibration entry (a tile margin of 0 gave seams
silently) or a truncated cached ONNX graph (it broke every later ONNX Runtime run) is noticed,
measured or exported again with a warning, and the image comes out right."""
from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch

from microgan.archs import build_generator
from microgan.infer import Enhancer, backends, calibrate


def _net() -> torch.nn.Module:
    torch.manual_seed(0)
    return build_generator({"type": "unet", "channels": [4, 8, 16]}).eval()


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    return tmp_path / "microgan"


def _field_key(doc: dict) -> str:
    return next(k for k in doc if k.startswith("field|"))


@pytest.mark.parametrize("edit", ["margin 0", "margin a string", "margin above radius", "checksum removed"])
def test_a_doctored_tile_margin_is_measured_again(edit: str, cache: Path) -> None:
    net = _net()
    image = np.random.default_rng(0).integers(0, 255, (200, 180, 3), dtype=np.uint8)
    whole = Enhancer(net, {}, device="cpu", precision="fp32", backend="torch", tile=None).enhance(image)
    true_margin = Enhancer(net, {}, device="cpu", precision="fp32", backend="torch").field.margin
    path = cache / "calibration.json"
    doc = json.loads(path.read_text())
    entry = doc[_field_key(doc)]
    if edit == "margin 0":
        entry["margin"] = 0
    elif edit == "margin a string":
        entry["margin"] = "46"
    elif edit == "margin above radius":
        entry["margin"] = entry["radius"] + 5
    else:
        entry.pop("check")
    path.write_text(json.dumps(doc))
    tiled = Enhancer(net, {}, device="cpu", precision="fp32", backend="torch", tile=64)
    if edit == "checksum removed":  # as an entry written before checksums: measured again quietly
        assert tiled.field.margin == true_margin
    else:
        with pytest.warns(UserWarning, match="does not match its checksum"):
            assert tiled.field.margin == true_margin
    assert np.abs(tiled.enhance(image).astype(int) - whole).max() <= 1  # no seams (rounding at most)


def test_a_forged_entry_with_a_valid_checksum_but_impossible_values_is_not_trusted(cache: Path) -> None:
    net = _net()
    true_margin = Enhancer(net, {}, device="cpu", precision="fp32", backend="torch").field.margin
    doc = json.loads((cache / "calibration.json").read_text())
    key = _field_key(doc)
    calibrate.remember(key, {"radius": 10, "margin": 0})
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the checksum matches: no warning, the range check catches it
        assert Enhancer(net, {}, device="cpu", precision="fp32", backend="torch").field.margin == true_margin


def test_a_truncated_cached_onnx_graph_is_exported_again(cache: Path) -> None:
    pytest.importorskip("onnxruntime")
    net = _net()
    image = np.random.default_rng(1).integers(0, 255, (40, 48, 3), dtype=np.uint8)
    first = Enhancer(net, {}, device="cpu", precision="fp32", backend="onnxruntime", tile=None).enhance(image)
    (graph,) = (cache / "onnx").glob("*.onnx")
    graph.write_bytes(graph.read_bytes()[:1000])
    with pytest.warns(UserWarning, match="does not match its checksum; exporting it again"):
        again = Enhancer(net, {}, device="cpu", precision="fp32", backend="onnxruntime", tile=None).enhance(image)
    np.testing.assert_array_equal(again, first)
    assert backends.onnx_graph(net) == graph  # intact now: reused without a word
