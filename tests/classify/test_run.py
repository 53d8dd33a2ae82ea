"""``run_classification`` end to end on synthetic cells (tiny classifier), its outputs and its errors."""
from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Dict, List

import cv2
import numpy as np
import pytest

from microgan.data.io import read_image, write_image
from microgan.errors import CheckpointError, ImageReadError, MicroGANError
from microgan.core.atomic import atomic_write_json
from microgan.classify.run import ClassifySettings, run_classification

FIELDS = ["id", "split", "source", "x", "y", "w", "h", "label", "degradation", "hr_path", "lr_path"]


def disk_cell(rng: np.random.Generator, bright: bool) -> np.ndarray:
    """A disk on a grey background; bright and dark disks are the two classes."""
    h, w = (int(v) for v in rng.integers(20, 36, size=2))
    yy, xx = np.mgrid[:h, :w]
    r = min(h, w) * rng.uniform(0.25, 0.4)
    inside = (yy - h / 2) ** 2 + (xx - w / 2) ** 2 < r * r
    img = 128 + rng.normal(0, 8, (h, w, 3))
    img[inside] = (210 if bright else 50) + rng.normal(0, 8, (int(inside.sum()), 3))
    return np.clip(img, 0, 255).astype(np.uint8)


def make_prepared(root: Path, n_sources: int = 10, per_source: int = 4, unlabelled: int = 2, seed: int = 0) -> Path:
    """A prepared folder (manifest + {split}/{hr,lr}/<id>.png) whose source images hold both classes."""
    rng = np.random.default_rng(seed)
    rows: List[Dict[str, object]] = []
    for s in range(n_sources):
        for j in range(per_source + (unlabelled if s == 0 else 0)):
            cid = f"src{s}_{j}"
            hr = disk_cell(rng, bright=j % 2 == 0)
            lr = cv2.GaussianBlur(hr, (7, 7), 2.0)
            hr_rel, lr_rel = f"train/hr/{cid}.png", f"train/lr/{cid}.png"
            write_image(root / hr_rel, hr)
            write_image(root / lr_rel, lr)
            label = "" if j >= per_source else ("bright" if j % 2 == 0 else "dark")
            rows.append({"id": cid, "split": "train", "source": f"src{s}.jpg", "x": 0, "y": 0, "w": hr.shape[1],
                         "h": hr.shape[0], "label": label, "degradation": '{"type":"gaussian-blur","sigma":2.0}',
                         "hr_path": hr_rel, "lr_path": lr_rel})
    with open(root / "manifest.csv", "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=FIELDS)
        writer.writeheader()
        writer.writerows(rows)
    return root


def make_folders(root: Path, per_class: int = 12, seed: int = 1) -> Path:
    rng = np.random.default_rng(seed)
    for name, bright in (("bright", True), ("dark", False)):
        for i in range(per_class):
            write_image(root / name / f"cell{i}.png", disk_cell(rng, bright))
    return root


def tiny(tmp_path: Path, **kw) -> ClassifySettings:
    return ClassifySettings(**{"folds": 3, "classifier": "tiny", "device": "cpu", "cache_dir": str(tmp_path / "cache"), **kw})


def quiet(_msg: str) -> None:
    pass


def test_folder_per_class_learns_a_separable_task_and_writes_outputs(tmp_path):
    data = make_folders(tmp_path / "cells")
    doc = run_classification(data, ["lr"], tiny(tmp_path), out_dir=tmp_path / "out", log=quiet)
    r = doc["inputs"]["lr"]
    assert doc["classes"] == ["bright", "dark"]
    assert doc["class_counts"] == {"bright": 12, "dark": 12}
    assert r["accuracy"] >= 0.9 and r["macro_f1"] >= 0.9
    assert len(r["per_fold"]) == 3
    assert sum(f["n_test"] for f in r["per_fold"]) == 24
    assert np.allclose(np.sum(r["confusion"], axis=1), 1.0)
    png = read_image(tmp_path / "out" / "confusion-lr.png")
    assert png.width > 100 and png.height > 100
    assert "| lr |" in (tmp_path / "out" / "summary.md").read_text()
    path = atomic_write_json(tmp_path / "classify.json", doc)
    loaded = json.loads(path.read_text())
    assert set(loaded["inputs"]["lr"]) >= {"accuracy", "accuracy_std", "macro_f1", "per_fold", "confusion"}
    assert loaded["settings"]["classifier"] == "tiny"


def test_prepared_hr_and_lr_use_manifest_labels_and_same_folds(tmp_path):
    data = make_prepared(tmp_path / "prep")
    doc = run_classification(data, ["hr", "lr"], tiny(tmp_path), log=quiet)
    assert doc["class_counts"] == {"bright": 20, "dark": 20}
    assert doc["settings"]["skipped_unlabelled"] == 2
    assert doc["settings"]["source_images"] == 10
    hr, lr = doc["inputs"]["hr"], doc["inputs"]["lr"]
    assert [f["n_test"] for f in hr["per_fold"]] == [f["n_test"] for f in lr["per_fold"]]
    assert [f["test_class_counts"] for f in hr["per_fold"]] == [f["test_class_counts"] for f in lr["per_fold"]]
    assert hr["accuracy"] >= 0.9


def test_missing_hr_file_is_a_clear_error(tmp_path):
    data = make_prepared(tmp_path / "prep", n_sources=5)
    (data / "train" / "hr" / "src3_1.png").unlink()
    with pytest.raises(ImageReadError, match=r"input 'hr': 1 of 20 .*src3_1\.png"):
        run_classification(data, ["lr", "hr"], tiny(tmp_path), log=quiet)


def test_hr_of_a_folder_layout_is_a_clear_error(tmp_path):
    with pytest.raises(MicroGANError, match="input 'hr' needs a prepared folder"):
        run_classification(make_folders(tmp_path / "cells"), ["hr"], tiny(tmp_path), log=quiet)


def test_unknown_input_kind_and_missing_checkpoint(tmp_path):
    data = make_folders(tmp_path / "cells", per_class=4)
    with pytest.raises(MicroGANError, match="unknown input kind 'sr'"):
        run_classification(data, ["sr"], tiny(tmp_path), log=quiet)
    with pytest.raises(CheckpointError, match="nope.safetensors"):
        run_classification(data, ["lr", f"sr:{tmp_path / 'nope.safetensors'}"], tiny(tmp_path), log=quiet)


def test_one_class_is_a_clear_error(tmp_path):
    rng = np.random.default_rng(0)
    for i in range(3):
        write_image(tmp_path / "cells" / "only" / f"{i}.png", disk_cell(rng, True))
    with pytest.raises(MicroGANError, match="at least two classes"):
        run_classification(tmp_path / "cells", ["lr"], tiny(tmp_path), log=quiet)


def test_sr_input_restores_lr_crops_once_and_reuses_the_cache(tmp_path, monkeypatch, save_tiny_generator):
    data = make_prepared(tmp_path / "prep", n_sources=4, unlabelled=0)
    ckpt = save_tiny_generator(tmp_path / "run" / "best.safetensors")
    spec = f"sr:{ckpt}"
    doc = run_classification(data, ["lr", spec], tiny(tmp_path, folds=2), out_dir=tmp_path / "out", log=quiet)
    assert set(doc["inputs"]) == {"lr", spec}
    cached = sorted((tmp_path / "cache").glob("sr-*/*.png"))
    assert len(cached) == 16
    lr = read_image(data / "train" / "lr" / "src0_0.png").array
    assert any(read_image(p).array.shape == lr.shape for p in cached)
    assert (tmp_path / "out" / "confusion-sr-best.png").is_file()

    from microgan import infer

    def no_restoring(*_args, **_kwargs):
        raise AssertionError("restored again instead of reading the cache")

    monkeypatch.setattr(infer.Enhancer, "enhance", no_restoring)
    again = run_classification(data, [spec], tiny(tmp_path, folds=2), log=quiet)
    assert again["inputs"][spec]["per_fold"][0]["n_test"] == doc["inputs"][spec]["per_fold"][0]["n_test"]


def test_runs_on_the_output_of_prepare(tiny_prepared, tmp_path):
    from microgan.data.manifest import read_manifest

    labelled = [r for r in read_manifest(tiny_prepared) if r.label]
    doc = run_classification(tiny_prepared, ["hr", "lr"], tiny(tmp_path), log=quiet)
    assert doc["classes"] == sorted({r.label for r in labelled})
    assert sum(doc["class_counts"].values()) == len(labelled)
    for kind in ("hr", "lr"):
        assert sum(f["n_test"] for f in doc["inputs"][kind]["per_fold"]) == len(labelled)


def test_inputs_at_a_lower_magnification(tmp_path):
    """``--degradation paper+down:2``: LR crops half the size, a classical method and an upscaling model
    (told each crop's PSF) give crops of the HR crop cut to even sides; tuning compares with that cut crop."""
    import torch

    from microgan.archs import build_generator
    from microgan.classify.data import load_labelled
    from microgan.classify.inputs import LowRes, iter_images, parse_input_kind
    from microgan.core.checkpoint import Checkpoint, save_checkpoint
    from microgan.core.contract import contract_for
    from microgan.data.degrade.presets import parse_degradation_text

    data = load_labelled(make_prepared(tmp_path / "prep", n_sources=2, per_source=2, unlabelled=0))
    lowres = LowRes(parse_degradation_text("paper+down:2"))
    spec = {"type": "unet-psf", "channels": [4, 8], "image_channels": 3, "identity_init": True}
    config = {"name": "tiny-x2", "generator": spec,
              "data": {"degradation": {"type": "compose", "steps": [{"type": "blur", "sigma": 1.0}, {"type": "downsample", "factor": 2}]}}}
    torch.manual_seed(0)
    model = tmp_path / "x2.safetensors"
    save_checkpoint(model, Checkpoint(meta={"config": config, "io": contract_for(config), "step": 1},
                                      generator=build_generator(spec).state_dict()))
    truths = [lowres.truth(c) for c in data.crops]
    assert all(t.shape[0] % 2 == 0 and t.shape[1] % 2 == 0 for t in truths)
    lrs = list(iter_images(parse_input_kind("lr"), data, tmp_path / "cache", "cpu", lowres))
    assert [a.shape[:2] for a in lrs] == [(t.shape[0] // 2, t.shape[1] // 2) for t in truths]
    for kind in ("classical:wiener", f"sr:{model}"):
        out = list(iter_images(parse_input_kind(kind), data, tmp_path / "cache", "cpu", lowres))
        assert [a.shape for a in out] == [t.shape for t in truths]
