"""`microgan demo` end to end on a tiny budget: BCCD and scikit-image routes, --train, refusals, errors.

A stand-in checkpoint (a tiny untrained U-Net) replaces the bundled model, and Richardson-Lucy's grid
is cut to two short iteration counts: the demo's own steps are under test, not RL's convergence
(tests/evaluate covers that)."""
from __future__ import annotations

import json

import jsonschema
import pytest

from microgan.cli import main
from microgan.infer.classical import RichardsonLucy
from microgan.evaluate.report import load_schema
from microgan.core import checkpoint as ck

TINY_TRAIN = ["--set", "generator.channels=[4,8]", "--set", "critic.base=4", "--set", "losses.perceptual.weight=0",
              "--set", "losses.pixel.weight=1.0", "--set", "train.steps=2", "--set", "train.critic_steps=1",
              "--set", "train.pixel_warmup_steps=1",
              "--set", "train.threads=1"]
SMALL = ["--limit", "2", "--tune-limit", "1", "--device", "cpu", "--quiet"]


@pytest.fixture(autouse=True)
def short_rl(monkeypatch):
    monkeypatch.setattr(RichardsonLucy, "grid", {"num_iter": (2, 4)})


@pytest.fixture
def stand_in(tmp_path_factory, save_tiny_generator):
    """A tiny untrained generator saved the way training saves one."""
    return save_tiny_generator(tmp_path_factory.mktemp("model") / "stand-in.safetensors", name="stand-in", step=7)


def _check_reports(out, model="stand-in"):
    noisy = json.loads((out / "report-noisy.json").read_text())
    jsonschema.validate(noisy, load_schema())
    assert noisy["degradation"]["spec"]["type"] == "compose" and list(noisy["methods"]) == [model, "identity", "richardson-lucy"]
    assert (out / "report-noisy.html").read_text().startswith("<!DOCTYPE html>")
    report = json.loads((out / "report.json").read_text())
    assert "degradation" not in report  # the prepared LR crops: the paper's blur
    assert noisy["methods"]["identity"]["psnr"] < report["methods"]["identity"]["psnr"]  # noise was added
    jsonschema.validate(report, load_schema())
    assert list(report["methods"]) == [model, "identity", "richardson-lucy"]  # the model under its config's name
    assert report["split"] == "test" and report["tuning"]["split"] == "val"
    page = (out / "report.html").read_text()
    assert page.startswith("<!DOCTYPE html>")
    assert "data:image/png;base64," in page and "<script" not in page and 'src="http' not in page
    return report


def test_bccd_route_end_to_end(bccd_root, stand_in, tmp_path, capsys):
    out = tmp_path / "demo"
    code = main(["demo", "--out", str(out), "--data", str(bccd_root), "--images", "1", "--model", str(stand_in),
                 *SMALL])
    assert code == 0
    report = _check_reports(out)
    assert report["n_images"] == 2
    assert report["methods"]["stand-in"]["settings"]["checkpoint"] == str(stand_in)
    assert len(list((out / "source" / "test").iterdir())) == 1
    assert len(list((out / "source" / "val").iterdir())) == 3
    printed = capsys.readouterr().out
    assert "stand-in vs the blurred input: PSNR" in printed and "stand-in vs Richardson-Lucy" in printed
    # how the model was trained is said; the stand-in's checkpoint holds no training config to tell
    assert "model stand-in: training unknown" in printed
    assert "MicroGAN vs" not in printed
    assert f"reports: {out / 'report.html'}, {out / 'report-noisy.html'}" in printed
    assert "paper blur + noise (paper+noise:0.01):" in printed
    gain = report["methods"]["stand-in"]["psnr"] - report["methods"]["identity"]["psnr"]
    assert f"PSNR {gain:+.2f} dB" in printed


def test_skimage_route_when_bccd_is_not_found(stand_in, tmp_path, capsys):
    empty = tmp_path / "empty"
    empty.mkdir()
    out = tmp_path / "demo"
    code = main(["demo", "--out", str(out), "--data", str(empty), "--model", str(stand_in),
                 "--limit", "2", "--tune-limit", "1", "--device", "cpu"])
    assert code == 0
    captured = capsys.readouterr()
    assert "using scikit-image's bundled microscopy" in captured.err
    assert (out / "source" / "test" / "cell.png").is_file()
    # the untrained stand-in trails Richardson-Lucy: the user is told why and what to do
    report = json.loads((out / "report.json").read_text())
    trails = report["methods"]["stand-in"]["psnr"] < report["methods"]["richardson-lucy"]["psnr"]
    assert trails == ("unlike the BCCD blood smears" in captured.out)
    _check_reports(out)


def test_refuses_a_previous_demo_without_overwrite(stand_in, tmp_path, capsys):
    out = tmp_path / "demo"
    out.mkdir()
    (out / "report.json").write_text("{}")
    code = main(["demo", "--out", str(out), "--model", str(stand_in), "--quiet"])
    err = capsys.readouterr().err
    assert code == 2 and "--overwrite" in err and len(err.strip().splitlines()) == 1
    assert (out / "report.json").read_text() == "{}"
    assert not (out / "source").exists()


def test_overwrite_replaces_a_previous_demo(stand_in, tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    out = tmp_path / "demo"
    (out / "prepared").mkdir(parents=True)
    (out / "prepared" / "stale.png").write_text("old")
    (out / "report.json").write_text("{}")
    code = main(["demo", "--out", str(out), "--data", str(empty), "--model", str(stand_in), "--overwrite", *SMALL])
    assert code == 0
    assert not (out / "prepared" / "stale.png").exists()
    _check_reports(out)


def test_missing_bundled_model_is_one_clear_line(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(ck, "BUNDLED_DIR", tmp_path / "no-weights")
    out = tmp_path / "demo"
    code = main(["demo", "--out", str(out), "--quiet"])
    err = capsys.readouterr().err
    assert code == 2
    assert len(err.strip().splitlines()) == 1 and "--train" in err and "--model" in err
    assert not out.exists()  # nothing done before the check


def test_train_a_tiny_model_then_evaluate_it(tmp_path, capsys):
    empty = tmp_path / "empty"
    empty.mkdir()
    out = tmp_path / "demo"
    code = main(["demo", "--out", str(out), "--data", str(empty), "--train", *TINY_TRAIN, *SMALL])
    assert code == 0
    assert (out / "run" / ck.BEST_NAME).is_file() and (out / "source" / "train").is_dir()
    report = _check_reports(out, model="microgan-bccd")  # the pretrained model's recipe by default
    settings = report["methods"]["microgan-bccd"]["settings"]
    assert settings["checkpoint"] == str(out / "run" / ck.BEST_NAME) and settings["step"] == 2
    assert settings["config"] == "microgan-bccd"
    # 1 warm-up step then 1 GAN step: the report says it was GAN-trained, and how
    assert settings["training"].startswith("GAN-trained (critic gap; 1 pixel warm-up + 1 adversarial steps")


@pytest.mark.parametrize("argv, message", [
    (["--set", "train.steps=1"], "needs --train"),
    (["--train", "--model", "x.safetensors"], "not both"),
    (["--device", "tpu"], "device 'tpu': not a device name"),
])
def test_contradictory_options(tmp_path, capsys, argv, message):
    code = main(["demo", "--out", str(tmp_path / "demo"), *argv, "--quiet"])
    assert code == 2 and message in capsys.readouterr().err
    assert not (tmp_path / "demo").exists()  # refused before any work
