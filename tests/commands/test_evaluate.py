"""`microgan evaluate` end to end on a tiny prepared folder: baselines, a model, reports, errors."""
from __future__ import annotations

import csv
import json

import cv2
import jsonschema
import numpy as np
import pytest

from microgan.cli import main
from microgan.data.io import read_image, write_image
from microgan.data.manifest import read_manifest
from microgan.evaluate.runner import model_and_ensemble_methods, model_method
from microgan.infer import Enhancer
from microgan.evaluate.report import load_schema

DEGRADATION = '{"type":"gaussian-blur","kernel_size":15,"sigma":2.6}'
COLUMNS = ["id", "split", "source", "x", "y", "w", "h", "label", "degradation", "hr_path", "lr_path"]
# (split, height, width): tiny to medium crops, a 2-px one to exercise the SSIM skip
CROPS = [("val", 20, 24), ("val", 30, 18), ("test", 2, 9), ("test", 9, 7), ("test", 24, 30), ("test", 40, 36)]


def _cell(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    yy, xx = np.mgrid[:h, :w]
    disc = (yy - h / 2) ** 2 + (xx - w / 2) ** 2 < (min(h, w) / 3) ** 2
    image = np.full((h, w, 3), 210.0)
    image[disc] = rng.uniform(60, 160, 3)
    return np.clip(image + rng.normal(0, 2, image.shape), 0, 255).astype(np.uint8)


@pytest.fixture
def prepared(tmp_path):
    """A prepared folder in the documented layout (manifest.csv + {split}/{hr,lr}/<id>.png)."""
    root = tmp_path / "prep"
    rng = np.random.default_rng(0)
    rows = []
    for i, (split, h, w) in enumerate(CROPS):
        crop_id = f"src{i // 2:02d}_{i:03d}"
        hr = _cell(rng, h, w)
        lr = cv2.GaussianBlur(hr, (15, 15), 2.6, borderType=cv2.BORDER_REFLECT_101)
        for kind, array in (("hr", hr), ("lr", lr)):
            (root / split / kind).mkdir(parents=True, exist_ok=True)
            write_image(root / split / kind / f"{crop_id}.png", array)
        rows.append([crop_id, split, f"src{i // 2:02d}.jpg", 0, 0, w, h, "RBC", DEGRADATION,
                     f"{split}/hr/{crop_id}.png", f"{split}/lr/{crop_id}.png"])
    with open(root / "manifest.csv", "w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(COLUMNS)
        writer.writerows(rows)
    return root


@pytest.fixture
def checkpoint(tmp_path, save_tiny_generator):
    """A tiny untrained generator saved the way training saves one, and its parameter count."""
    from microgan.core.checkpoint import load_checkpoint

    path = save_tiny_generator(tmp_path / "tiny.safetensors", step=3)
    return path, sum(t.numel() for t in load_checkpoint(path, generator_only=True).generator.values())


def test_baselines_and_model_end_to_end(prepared, checkpoint, tmp_path, capsys):
    ckpt, n_params = checkpoint
    out_json, out_html = tmp_path / "r" / "report.json", tmp_path / "r" / "report.html"
    code = main(["evaluate", "--data", str(prepared), "--model", f"tiny={ckpt}",
                 "--baselines", "identity", "wiener", "unsharp", "--json", str(out_json), "--html", str(out_html),
                 "--device", "cpu", "--quiet"])
    assert code == 0
    report = json.loads(out_json.read_text())
    jsonschema.validate(report, load_schema())
    assert report["split"] == "test" and report["n_images"] == 4
    assert list(report["methods"]) == ["tiny", "identity", "wiener", "unsharp"]
    assert report["methods"]["tiny"]["params"] == n_params
    assert report["methods"]["tiny"]["settings"]["step"] == 3
    assert report["methods"]["wiener"]["params"] is None and "balance" in report["methods"]["wiener"]["settings"]
    assert report["tuning"] == {"split": "val", "n_images": 2}
    assert report["n_ssim_skipped"] == 1  # the 2x9 crop
    # identity's PSNR is the blurred input's; tuned deblurring beats it on these synthetic cells
    assert report["methods"]["wiener"]["psnr"] > report["methods"]["identity"]["psnr"]
    page = out_html.read_text()
    assert "data:image/png;base64," in page and "http" not in page
    printed = capsys.readouterr().out
    assert "test split, 4 crops" in printed and "wiener" in printed
    assert "tiny: PSNR " in printed and "vs best baseline" in printed


def test_limit_and_bare_checkpoint_path_name(prepared, checkpoint, tmp_path):
    ckpt, _ = checkpoint
    out_json = tmp_path / "report.json"
    assert main(["evaluate", "--data", str(prepared), "--model", str(ckpt), "--limit", "2",
                 "--json", str(out_json), "--device", "cpu", "--quiet"]) == 0
    report = json.loads(out_json.read_text())
    assert report["n_images"] == 2 and list(report["methods"]) == ["tiny"]
    assert "tuning" not in report


def test_self_ensemble_adds_a_variant_of_each_model(prepared, checkpoint, tmp_path):
    ckpt, _ = checkpoint
    out_json = tmp_path / "report.json"
    assert main(["evaluate", "--data", str(prepared), "--model", f"tiny={ckpt}", "--self-ensemble",
                 "--json", str(out_json), "--device", "cpu", "--quiet"]) == 0
    methods = json.loads(out_json.read_text())["methods"]
    assert list(methods) == ["tiny", "tiny+x8"]
    assert methods["tiny+x8"]["settings"]["self_ensemble"] is True and "self_ensemble" not in methods["tiny"]["settings"]
    assert methods["tiny+x8"]["psnr"] != methods["tiny"]["psnr"]  # a different (averaged) restoration


def test_self_ensemble_loads_each_model_once_and_scores_as_a_separate_load_would(prepared, checkpoint, tmp_path, monkeypatch):
    """One load serves the plain and the x8 column (the x8 one a copy of the loaded Enhancer), with
    the consistency step on so the copied path is the full one; the scores equal separate loads'."""
    ckpt, _ = checkpoint
    records = [r for r in read_manifest(prepared) if r.split == "test"]
    lrs = [read_image(prepared / r.lr_path).array for r in records]
    separate = [model_method(n, ckpt, device="cpu", self_ensemble=x8, consistency=True) for n, x8 in (("p", False), ("e", True))]
    expected = [[m.restore(lr, {}) for lr in lrs] for m in separate]
    loads = []
    real = Enhancer.from_model.__func__
    monkeypatch.setattr(Enhancer, "from_model", classmethod(lambda cls, *a, **k: loads.append(a) or real(cls, *a, **k)))
    out_json = tmp_path / "report.json"
    assert main(["evaluate", "--data", str(prepared), "--model", f"tiny={ckpt}", "--self-ensemble", "--consistency", "on",
                 "--json", str(out_json), "--device", "cpu", "--quiet"]) == 0
    assert len(loads) == 1
    methods = json.loads(out_json.read_text())["methods"]
    assert methods["tiny+x8"]["settings"]["self_ensemble"] is True and methods["tiny"]["settings"]["consistency"] is True
    plain, ensembled = model_and_ensemble_methods("tiny", ckpt, device="cpu", consistency=True)
    for method, want in ((plain, expected[0]), (ensembled, expected[1])):  # plain first, as evaluate runs them
        for lr, out in zip(lrs, want):
            np.testing.assert_array_equal(method.restore(lr, {}), out)


def _error(capsys) -> str:
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0, f"expected one line, got: {err!r}"
    return err


def test_missing_checkpoint_is_one_clear_line(prepared, tmp_path, capsys):
    missing = tmp_path / "nope.safetensors"
    assert main(["evaluate", "--data", str(prepared), "--model", f"m={missing}"]) == 2
    err = _error(capsys)
    assert "model 'm'" in err and "nope.safetensors" in err and "no such checkpoint" in err


def test_mismatched_checkpoint_is_one_clear_line(prepared, checkpoint, tmp_path, capsys):
    """Weights saved for one architecture but a config naming a wider one: refused, naming the file."""
    from microgan.core.checkpoint import Checkpoint, load_checkpoint, save_checkpoint

    ckpt, _ = checkpoint
    original = load_checkpoint(ckpt, generator_only=True)
    meta = dict(original.meta)
    meta["config"] = {"name": "tiny", "generator": {"type": "unet", "in_channels": 3, "out_channels": 3, "channels": [8, 16]}}
    bad = tmp_path / "bad.safetensors"
    save_checkpoint(bad, Checkpoint(meta=meta, generator=original.generator))
    assert main(["evaluate", "--data", str(prepared), "--model", f"bad={bad}"]) == 2
    err = _error(capsys)
    assert "bad.safetensors" in err and "do not match" in err


def test_grayscale_model_on_rgb_data_is_refused(prepared, tmp_path, capsys):
    import torch

    from microgan.archs import build_generator
    from microgan.core.checkpoint import Checkpoint, save_checkpoint

    spec = {"type": "unet", "in_channels": 1, "out_channels": 1, "channels": [4, 8]}
    path = tmp_path / "gray.safetensors"
    torch.manual_seed(0)
    save_checkpoint(path, Checkpoint(meta={"config": {"generator": spec}}, generator=build_generator(spec).state_dict()))
    assert main(["evaluate", "--data", str(prepared), "--model", f"gray={path}", "--device", "cpu", "--quiet"]) == 2
    err = _error(capsys)
    assert "RGB image given to a grayscale model" in err and ".png" in err


@pytest.mark.parametrize(
    "extra, message",
    [
        ([], "nothing to evaluate"),
        (["--baselines", "sharpen-magic"], "unknown baseline"),
        (["--baselines", "--split", "train"], "no crops in split 'train'"),
        (["--baselines", "--tune-split", "train"], "no crops in split 'train' to tune"),
        (["--model", "LR=x.safetensors"], "reserved"),
        (["--baselines", "--self-ensemble"], "--self-ensemble averages a model's passes: it needs --model"),
        (["--model", "a=x.safetensors", "--model", "a+x8=y.safetensors", "--self-ensemble"], "two methods are named 'a+x8'"),
    ],
)
def test_usage_errors(prepared, capsys, extra, message):
    assert main(["evaluate", "--data", str(prepared), *extra]) == 2
    assert message in _error(capsys)


def test_missing_prepared_folder(tmp_path, capsys):
    assert main(["evaluate", "--data", str(tmp_path / "absent"), "--baselines"]) == 2
    assert "absent" in _error(capsys)


def test_on_the_output_of_prepare(tiny_prepared, tmp_path, capsys):
    """The folder `microgan prepare` really writes (shared fixture), not only our hand-made layout."""
    from microgan.data.manifest import read_manifest

    out_json = tmp_path / "report.json"
    assert main(["evaluate", "--data", str(tiny_prepared), "--baselines", "identity", "wiener",
                 "--json", str(out_json)]) == 0
    err = capsys.readouterr().err
    n_val = sum(r.split == "val" for r in read_manifest(tiny_prepared))
    assert f"tuned wiener on {n_val} val crops: balance=" in err and "; grid: balance=0.001: " in err
    report = json.loads(out_json.read_text())
    jsonschema.validate(report, load_schema())
    assert report["n_images"] == sum(r.split == "test" for r in read_manifest(tiny_prepared))
    assert report["methods"]["wiener"]["psnr"] > report["methods"]["identity"]["psnr"]


def test_per_crop_csv_matches_the_report_and_outputs_are_never_overwritten_silently(prepared, checkpoint, tmp_path, capsys):
    ckpt, _ = checkpoint
    out_json, out_csv = tmp_path / "report.json", tmp_path / "crops.csv"
    args = ["evaluate", "--data", str(prepared), "--model", f"tiny={ckpt}", "--baselines", "identity", "wiener",
            "--json", str(out_json), "--per-crop", str(out_csv), "--device", "cpu", "--quiet"]
    assert main(args) == 0
    report = json.loads(out_json.read_text())
    with open(out_csv, newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == 4 * 3 and {r["method"] for r in rows} == {"tiny", "identity", "wiener"}
    for name, summary in report["methods"].items():
        mine = [r for r in rows if r["method"] == name]
        assert np.mean([float(r["psnr"]) for r in mine]) == pytest.approx(summary["psnr"], abs=1e-4)
        ssims = [float(r["ssim"]) for r in mine if r["ssim"]]
        assert len(ssims) == 3 and np.mean(ssims) == pytest.approx(summary["ssim"], abs=1e-5)  # the 2x9 crop: empty
    identity = [r for r in rows if r["method"] == "identity"]
    assert all(float(r["psnr_gain"]) == pytest.approx(0, abs=1e-4) for r in identity)  # the input scores itself
    assert {(int(r["height"]), int(r["width"])) for r in identity} == {(h, w) for s, h, w in CROPS if s == "test"}

    before = out_csv.read_bytes()
    capsys.readouterr()
    assert main(args) == 2
    assert f"{out_json}: already exists (pass --overwrite to replace it)" in _error(capsys)
    assert out_csv.read_bytes() == before
    assert main(args + ["--overwrite"]) == 0
    assert main(["evaluate", "--data", str(prepared), "--baselines", "identity", "--json", str(out_json),
                 "--per-crop", str(out_json), "--overwrite"]) == 2
    assert "must be different files" in _error(capsys)
