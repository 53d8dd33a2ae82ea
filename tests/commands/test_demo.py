"""`microgan demo` end to end on a tiny budget: the bundled fields and BCCD routes, --train, refusals, errors.

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

TINY_TRAIN = ["--set", "train.algorithm=adversarial", "--set", "generator.channels=[4,8]", "--set", "critic.base=4", "--set", "losses.perceptual.weight=0",
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


def _check_reports(out, model="stand-in", sections=("blood", "held-out")):
    for section in sections:
        noisy = json.loads((out / "details" / f"{section}-noisy.json").read_text())
        jsonschema.validate(noisy, load_schema())
        assert noisy["degradation"]["spec"]["type"] == "compose"
        assert list(noisy["methods"]) == [model, "identity", "richardson-lucy"]
        report = json.loads((out / "details" / f"{section}-clean.json").read_text())
        jsonschema.validate(report, load_schema())
        assert "degradation" not in report  # the prepared LR crops: the paper's blur
        assert noisy["methods"]["identity"]["psnr"] < report["methods"]["identity"]["psnr"]  # noise was added
        assert list(report["methods"]) == [model, "identity", "richardson-lucy"]  # the model under its config's name
        assert report["split"] == "test" and report["tuning"]["split"] == "val"
    page = (out / "report.html").read_text()
    assert page.startswith("<!DOCTYPE html>")
    assert "data:image/png;base64," in page and "<script" not in page and 'src="http' not in page
    assert page.index("Richardson-Lucy told the same PSF") < page.index("<table")  # the answer first
    return json.loads((out / "details" / f"{sections[0]}-clean.json").read_text())


def test_bundled_fields_end_to_end_with_nothing_beside_the_clone(stand_in, tmp_path, monkeypatch, capsys):
    """No BCCD anywhere: the blood-smear section runs on the fields in the package."""
    monkeypatch.setenv("MICROGAN_BCCD", str(tmp_path / "nowhere"))
    out = tmp_path / "demo"
    assert main(["demo", "--out", str(out), "--model", str(stand_in), *SMALL]) == 0
    report = _check_reports(out)
    assert report["methods"]["stand-in"]["settings"]["checkpoint"] == str(stand_in)
    from microgan.data.samples import sample_fields

    assert sorted(p.name for p in (out / "source" / "blood" / "test").iterdir()) == sorted(
        f.path.name for f in sample_fields("score"))
    assert (out / "source" / "held-out" / "test" / "cell.png").is_file()
    printed = capsys.readouterr().out.strip().splitlines()
    assert len(printed) == 3  # a line per section, then where the page is
    assert printed[0].startswith("Blood smears: paper blur: stand-in, no PSF given: ")
    assert printed[1].startswith("Held out: ")
    assert printed[2].startswith(f"report: {out / 'report.html'}")
    gain = report["methods"]["stand-in"]["psnr"] - report["methods"]["richardson-lucy"]["psnr"]
    assert f"vs Richardson-Lucy {gain:+.2f} dB" in printed[0]


def test_bccd_route_with_data(bccd_root, stand_in, tmp_path):
    out = tmp_path / "demo"
    code = main(["demo", "--out", str(out), "--data", str(bccd_root), "--images", "1", "--model", str(stand_in),
                 "--no-held-out", *SMALL])
    assert code == 0
    _check_reports(out, sections=("blood",))
    assert len(list((out / "source" / "blood" / "test").iterdir())) == 1
    assert len(list((out / "source" / "blood" / "val").iterdir())) == 4
    assert not (out / "source" / "held-out").exists()


def test_refuses_a_previous_demo_without_overwrite(stand_in, tmp_path, capsys):
    out = tmp_path / "demo"
    out.mkdir()
    (out / "report.html").write_text("mine")
    code = main(["demo", "--out", str(out), "--model", str(stand_in), "--quiet"])
    err = capsys.readouterr().err
    assert code == 2 and "--overwrite" in err and len(err.strip().splitlines()) == 1
    assert (out / "report.html").read_text() == "mine"
    assert not (out / "source").exists()


def test_overwrite_removes_only_what_the_demo_wrote(stand_in, tmp_path):
    out = tmp_path / "demo"
    assert main(["demo", "--out", str(out), "--model", str(stand_in), "--no-held-out", *SMALL]) == 0
    (out / "prepared" / "blood" / "my-labels.csv").write_text("mine")  # a user's file inside a demo folder
    (out / "notes.txt").write_text("mine")
    stale = out / "details" / "held-out-clean.json"
    stale.write_text("{}")  # not the demo's: stays
    assert main(["demo", "--out", str(out), "--model", str(stand_in), "--no-held-out", "--overwrite", *SMALL]) == 0
    assert (out / "prepared" / "blood" / "my-labels.csv").read_text() == "mine"
    assert (out / "notes.txt").read_text() == "mine" and stale.read_text() == "{}"
    _check_reports(out, sections=("blood",))


def test_missing_bundled_model_is_one_clear_line(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(ck, "BUNDLED_DIR", tmp_path / "no-weights")
    out = tmp_path / "demo"
    code = main(["demo", "--out", str(out), "--quiet"])
    err = capsys.readouterr().err
    assert code == 2
    assert len(err.strip().splitlines()) == 1 and "--train" in err and "--model" in err
    assert not out.exists()  # nothing done before the check


def test_train_a_tiny_model_then_evaluate_it(tmp_path, capsys):
    out = tmp_path / "demo"
    code = main(["demo", "--out", str(out), "--train", *TINY_TRAIN, *SMALL])
    assert code == 0
    assert (out / "run" / ck.BEST_NAME).is_file() and (out / "source" / "blood" / "train").is_dir()
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


def test_train_never_clears_a_run_folder_the_demo_did_not_write(tmp_path, capsys):
    out = tmp_path / "demo"
    (out / "run").mkdir(parents=True)
    (out / "run" / "best.safetensors").write_bytes(b"someone's model")
    code = main(["demo", "--out", str(out), "--train", "--overwrite", *TINY_TRAIN, *SMALL])
    assert code == 2 and "holds files no demo wrote" in capsys.readouterr().err
    assert (out / "run" / "best.safetensors").read_bytes() == b"someone's model"
