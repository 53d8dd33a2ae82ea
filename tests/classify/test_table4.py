"""Table 4 additions: balanced accuracy, paired per-fold differences, classical restoration as an
input kind, LR made by a given degradation, and the no-leak rule for sr: models."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from microgan.classify.fit import balanced_accuracy
from microgan.classify.inputs import parse_input_kind
from microgan.classify.leak import trained_images
from microgan.classify.report import paired_differences
from microgan.classify.run import run_classification
from microgan.core.checkpoint import Checkpoint, read_meta, resolve_model_path, save_checkpoint
from microgan.errors import MicroGANError

from tests.classify.test_run import make_prepared, quiet, tiny  # noqa: E402


def test_balanced_accuracy_weighs_every_class_equally():
    conf = np.array([[90, 10], [5, 5]])  # 95 % of class 0 ... accuracy 0.86
    assert balanced_accuracy(conf) == pytest.approx((0.9 + 0.5) / 2)
    assert balanced_accuracy(np.array([[3, 0, 0], [0, 0, 0], [1, 0, 1]])) == pytest.approx((1.0 + 0.5) / 2)


def test_paired_differences_are_per_fold_and_give_the_share_of_the_gap():
    def kind(*f1):
        return {"per_fold": [{"macro_f1": v, "balanced_accuracy": v, "accuracy": v} for v in f1]}

    paired = paired_differences({"hr": kind(0.9, 0.8, 0.7), "lr": kind(0.5, 0.6, 0.5), "sr:m": kind(0.7, 0.7, 0.6)})
    assert set(paired) == {"hr-lr", "sr:m-lr"}
    assert paired["sr:m-lr"]["per_fold"] == pytest.approx([0.2, 0.1, 0.1])
    assert paired["sr:m-lr"]["mean"] == pytest.approx(0.4 / 3) and paired["sr:m-lr"]["std"] == pytest.approx(np.std([0.2, 0.1, 0.1], ddof=1))
    assert paired["hr-lr"]["recovered"] == pytest.approx(1.0)
    assert paired["sr:m-lr"]["recovered"] == pytest.approx(0.5)  # (0.2+0.1+0.1) of the gap (0.4+0.2+0.2)
    assert paired_differences({"hr": kind(1.0)}) == {}


def test_input_kinds_parse():
    assert parse_input_kind("classical:wiener").kind == "classical"
    with pytest.raises(MicroGANError, match="unknown classical method 'magic'"):
        parse_input_kind("classical:magic")
    with pytest.raises(MicroGANError, match="unknown classical method 'identity'"):
        parse_input_kind("classical:identity")


def test_table4_document_with_classical_rows_and_a_degradation(tmp_path):
    data = make_prepared(tmp_path / "prep", n_sources=6, per_source=2, unlabelled=0)
    doc = run_classification(data, ["hr", "lr", "classical:wiener"], tiny(tmp_path, degradation="gauss:2+noise:0.02", epochs=2), log=quiet)
    for kind in ("hr", "lr", "classical:wiener"):
        result = doc["inputs"][kind]
        assert {"accuracy", "balanced_accuracy", "macro_f1", "per_fold", "confusion"} <= set(result)
        assert all("balanced_accuracy" in f for f in result["per_fold"])
    assert set(doc["paired"]) == {"hr-lr", "classical:wiener-lr"}
    assert len(doc["paired"]["classical:wiener-lr"]["per_fold"]) == 3
    assert doc["settings"]["degradation"]["type"] == "compose"
    cached = list((tmp_path / "cache").glob("classical-wiener-balance*/*.png"))
    assert len(cached) == doc["settings"]["crops"]


def _generator_with_training_data(path: Path, data: Path, images) -> Path:
    from microgan.archs import build_generator

    spec = {"type": "unet", "channels": [4, 8], "in_channels": 3, "out_channels": 3}
    torch.manual_seed(0)
    meta = {"config": {"name": "tiny", "generator": spec}, "step": 1, "epoch": 0}
    if images is not None:
        meta["training_data"] = {"folders": [{"path": str(data), "source": {"type": "folder", "data": str(data)}, "images": list(images)}]}
    save_checkpoint(path, Checkpoint(meta=meta, generator=build_generator(spec).state_dict()))
    return path


def test_sr_models_never_restore_crops_of_images_they_trained_on(tmp_path):
    data = make_prepared(tmp_path / "prep", n_sources=6, per_source=2, unlabelled=0)
    (data / "prepare.json").write_text(json.dumps({"source": {"type": "folder", "data": str(data)}}))
    seen = _generator_with_training_data(tmp_path / "seen.safetensors", data, ["src0.jpg", "src1.jpg", "elsewhere.jpg"])
    logs = []
    doc = run_classification(data, ["lr", f"sr:{seen}"], tiny(tmp_path, epochs=2), log=logs.append)
    leak = doc["settings"]["leak_check"]
    assert leak["excluded_images"] == 2 and leak["excluded_crops"] == 4
    assert doc["settings"]["crops"] == 6 * 2 - 4 and doc["inputs"][f"sr:{seen}"]["per_fold"]
    assert any("no leak: classifying only the 8 crops of the 4 source images" in line for line in logs)
    blind = _generator_with_training_data(tmp_path / "unknown.safetensors", data, None)
    doc = run_classification(data, ["lr", f"sr:{blind}"], tiny(tmp_path, epochs=2), log=logs.append)
    assert doc["settings"]["crops"] == 12 and doc["settings"]["leak_check"]["models"][f"sr:{blind}"] == {"checked": False}
    assert any("cannot be ruled out" in line for line in logs)
    everything = _generator_with_training_data(tmp_path / "all.safetensors", data, [f"src{i}.jpg" for i in range(6)])
    with pytest.raises(MicroGANError, match="nothing is left to classify without a leak"):
        run_classification(data, ["lr", f"sr:{everything}"], tiny(tmp_path), log=quiet)


def test_bundled_bccd_model_records_its_training_images():
    meta = read_meta(resolve_model_path("microgan-bccd"))
    assert meta["training_data"]["crops"] == 2804
    assert len(trained_images(meta, {"type": "bccd", "data": "/anywhere"})) == 205
    assert trained_images(meta, {"type": "chula-rbc12"}) == set()
