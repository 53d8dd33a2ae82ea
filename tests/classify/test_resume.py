"""A classification run of several hours survives an interruption: ``--resume`` takes over the
input kinds an earlier run finished, only when that run used the same settings and crops; and
earlier results are never overwritten without ``--overwrite``."""
from __future__ import annotations

import json

import numpy as np
import pytest

from microgan.classify import run as run_module
from microgan.classify.fit import Recipe, train_fold
from microgan.classify.networks import tiny_classifier
from microgan.classify.run import run_classification
from microgan.cli import main
from microgan.errors import MicroGANError

from tests.classify.test_run import make_prepared, quiet, tiny


def _without_timing(doc):
    """The document minus wall-clock seconds (the only thing a rerun may change)."""
    doc = json.loads(json.dumps(doc))
    for row in doc["inputs"].values():
        row.pop("seconds", None)
    return doc


def test_an_interrupted_run_resumes_to_the_uninterrupted_result(tmp_path, monkeypatch):
    data = make_prepared(tmp_path / "prep")
    settings = tiny(tmp_path, epochs=8)
    whole = run_classification(data, ["hr", "lr"], settings, log=quiet)

    written = []
    run_classification(data, ["hr", "lr"], settings, log=quiet, on_progress=written.append)
    assert [list(d["inputs"]) for d in written] == [["hr"], ["hr", "lr"]]
    assert [d["complete"] for d in written] == [False, True]
    partial = json.loads(json.dumps(written[0]))  # what the command writes and reads back

    computed = []
    real = run_module._run_input
    monkeypatch.setattr(run_module, "_run_input", lambda kind, *a, **k: computed.append(kind.spec) or real(kind, *a, **k))
    logged = []
    resumed = run_classification(data, ["hr", "lr"], settings, log=logged.append, previous=partial)
    assert computed == ["lr"]
    assert any("[hr] finished in the earlier run: reused" in m for m in logged)
    assert resumed["complete"] is True
    assert _without_timing(resumed) == _without_timing(whole)


def test_a_row_of_other_model_weights_is_computed_again(tmp_path, monkeypatch, save_tiny_generator):
    data = make_prepared(tmp_path / "prep", n_sources=4, unlabelled=0)
    spec = f"sr:{save_tiny_generator(tmp_path / 'run' / 'best.safetensors')}"
    settings = tiny(tmp_path, folds=2, epochs=4)
    first = run_classification(data, ["lr", spec], settings, log=quiet)
    assert len(first["inputs"][spec]["model_sha256"]) == 64 and "model_sha256" not in first["inputs"]["lr"]
    earlier = json.loads(json.dumps(first))
    earlier["inputs"][spec]["model_sha256"] = "0" * 64  # as if the checkpoint had been retrained since
    computed = []
    real = run_module._run_input
    monkeypatch.setattr(run_module, "_run_input", lambda kind, *a, **k: computed.append(kind.spec) or real(kind, *a, **k))
    logged = []
    again = run_classification(data, ["lr", spec], settings, log=logged.append, previous=earlier)
    assert computed == [spec]
    assert any("came from other model weights: computed again" in m for m in logged)
    assert again["inputs"][spec]["model_sha256"] == first["inputs"][spec]["model_sha256"]


def test_resume_refuses_an_earlier_run_with_other_settings(tmp_path):
    data = make_prepared(tmp_path / "prep")
    partials = []
    run_classification(data, ["hr", "lr"], tiny(tmp_path, epochs=8), log=quiet, on_progress=partials.append)
    with pytest.raises(MicroGANError, match=r"cannot resume, the earlier run differs \(recipe: .*'epochs': 8.* -> .*'epochs': 2.*; seed: 0 -> 3\)"):
        run_classification(data, ["hr", "lr"], tiny(tmp_path, seed=3, epochs=2), log=quiet, previous=partials[0])
    other = make_prepared(tmp_path / "other", n_sources=9)  # fewer source images: other crops
    with pytest.raises(MicroGANError, match=r"differs \(crops: 40 -> 36; crops_sha1: .*; data: "):
        run_classification(other, ["hr", "lr"], tiny(tmp_path, epochs=8), log=quiet, previous=partials[0])


def test_patience_stops_a_fold_after_epochs_without_a_better_validation_loss():
    rng = np.random.default_rng(0)
    feats = rng.normal(size=(60, 8)).astype(np.float32)
    labels = (feats[:, 0] > 0).astype(np.int64)
    feats[:, 1:] += rng.normal(size=(60, 7)) * 3  # noise to overfit on: the validation loss turns early
    import torch

    model = tiny_classifier(2)
    model.frozen = torch.nn.Identity()
    model.head = type(model.head)(8, 2, hidden=64, dropout=0.0)  # no draws from the global generator
    train, val = np.arange(0, 40), np.arange(40, 60)
    patient = train_fold(model, torch.from_numpy(feats), labels, train, val, Recipe(epochs=300, lr=0.05, patience=2), seed=0)
    assert patient["epochs_run"] == patient["best_epoch"] + 2 < 300
    same_epochs = Recipe(epochs=patient["epochs_run"], lr=0.05)
    full = train_fold(model, torch.from_numpy(feats), labels, train, val, same_epochs, seed=0)
    assert full["epochs_run"] == patient["epochs_run"]
    assert full["best_epoch"] == patient["best_epoch"]  # the same trajectory: patience only cuts its end


def _cli(data, tmp_path, *extra):
    return main(["classify", "--data", str(data), "--inputs", "hr", "lr", "--classifier", "tiny", "--folds", "3", "--epochs", "8",
                 "--device", "cpu", "--cache-dir", str(tmp_path / "cache"), "--json", str(tmp_path / "c.json"), *extra])


def test_cli_never_overwrites_results_without_being_told(tmp_path, capsys):
    data = make_prepared(tmp_path / "prep")
    assert _cli(data, tmp_path) == 0
    first = (tmp_path / "c.json").read_text()
    capsys.readouterr()
    assert _cli(data, tmp_path) == 2
    err = capsys.readouterr().err.strip()
    assert "c.json: exists; pass --overwrite to replace it or --resume to continue that run" in err
    assert len(err.splitlines()) == 1 and (tmp_path / "c.json").read_text() == first
    assert _cli(data, tmp_path, "--resume", "--overwrite") == 2
    assert "exclude each other" in capsys.readouterr().err
    assert _cli(data, tmp_path, "--resume") == 0  # every input finished: all reused
    assert capsys.readouterr().out.count("finished in the earlier run: reused") == 2
    assert _cli(data, tmp_path, "--overwrite") == 0
    (tmp_path / "c.json").write_text("{not json")
    assert _cli(data, tmp_path, "--resume") == 2
    assert "c.json: not a classify result to resume" in capsys.readouterr().err
    (tmp_path / "c.json").write_text(json.dumps({"settings": {}, "inputs": {"hr": 3}}))
    assert _cli(data, tmp_path, "--resume") == 2
    assert "c.json: not a classify result to resume" in capsys.readouterr().err
    (tmp_path / "c.json").write_text(json.dumps({"settings": {"seed": 7}, "inputs": {}}))
    assert _cli(data, tmp_path, "--resume") == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "c.json: cannot resume, the earlier run differs (" in err


def test_cli_checks_its_output_paths_before_any_work(tmp_path, capsys):
    data = make_prepared(tmp_path / "prep")
    (tmp_path / "c.json").mkdir()
    assert _cli(data, tmp_path, "--overwrite") == 2
    assert "c.json: is a folder" in capsys.readouterr().err
    (tmp_path / "c.json").rmdir()
    (tmp_path / "maps").write_text("a file")
    assert _cli(data, tmp_path, "--out", str(tmp_path / "maps")) == 2
    assert "maps: exists and is not a folder" in capsys.readouterr().err
    (tmp_path / "maps").unlink()
    (tmp_path / "maps").mkdir()
    (tmp_path / "maps" / "summary.md").write_text("another run")
    assert _cli(data, tmp_path, "--out", str(tmp_path / "maps"), "--resume") == 2
    assert "summary.md: exists from another run; pass --overwrite" in capsys.readouterr().err
    assert not (tmp_path / "c.json").exists()


def test_cli_resume_without_an_earlier_file_starts_afresh(tmp_path, capsys):
    data = make_prepared(tmp_path / "prep")
    assert _cli(data, tmp_path, "--resume") == 0
    assert "nothing to resume, starting afresh" in capsys.readouterr().out
    assert json.loads((tmp_path / "c.json").read_text())["complete"] is True
