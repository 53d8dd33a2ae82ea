"""Recipes: every bundled model's chain of stages in one file, run by one command, resumable at its
stage; checked against what the bundled models record of how they were made."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

import microgan
from microgan.cli import main
from microgan.core import checkpoint as ck
from microgan.errors import ConfigError, MicroGANError
from microgan.train.recipe import STATE_NAME, bundled_recipe_names, check_recipe, load_recipe, run_recipe

TOY = ["--steps", "1", "--set", "train.val_every=1", "--set", "train.val_max_crops=2", "--set", "train.threads=1",
       "--set", "train.ckpt_every=1", "--set", "train.log_every=1", "--quiet"]


def _folders(tiny_prepared: Path, names, root: Path) -> dict:
    """One tiny prepared folder per data name, with distinct crop ids (folders read together must)."""
    import dataclasses
    import shutil

    from microgan.data.manifest import read_manifest, write_manifest

    folders = {}
    for name in names:
        folder = Path(shutil.copytree(tiny_prepared, root / name))
        records = [dataclasses.replace(r, id=f"{name}-{r.id}") for r in read_manifest(folder)]
        (folder / "manifest.csv").unlink()
        write_manifest(folder, records)
        folders[name] = folder
    return folders


def test_every_bundled_model_has_a_recipe() -> None:
    models = {p.stem for p in ck.BUNDLED_DIR.glob("*.safetensors")}
    assert models == set(bundled_recipe_names())


@pytest.mark.parametrize("name", ["microgan-bccd", "microgan-bccd-gan", "microgan-blind", "microgan-psf"])
def test_every_recipe_runs_end_to_end_at_toy_scale(name: str, tiny_prepared: Path, tmp_path: Path) -> None:
    recipe = load_recipe(name)
    data = [f"{d}={path}" for d, path in _folders(tiny_prepared, recipe.data, tmp_path).items()]
    out = tmp_path / "run"
    assert main(["train", "--recipe", name, "--data", *data, "--out", str(out), *TOY]) == 0
    state = json.loads((out / STATE_NAME).read_text())
    assert state["done"] == [s.name for s in recipe.stages]
    model = out / state["folders"][-1] / ck.BEST_NAME
    meta = ck.read_meta(model)
    assert meta["io"]["version"] == 1 and meta["io"]["network_range"] == [-1.0, 1.0]  # training records the contract
    assert meta["config"]["name"] == load_recipe(name).stages[-1].settings()["name"]
    # each stage started where the recipe says: its init_from names the earlier stage's file
    for i, stage in enumerate(recipe.stages):
        started = ck.read_meta(out / state["folders"][i] / ck.BEST_NAME).get("init_from")
        if stage.start is None:
            assert started is None
        else:
            assert started is not None and Path(started["model"]).name in (ck.BEST_NAME, ck.LAST_NAME, stage.start)
    microgan.load(model, device="cpu")  # the result is a model users can load


def test_a_killed_recipe_resumes_at_its_stage(tiny_prepared: Path, tmp_path: Path) -> None:
    from microgan.train.trainer import run_training

    recipe = load_recipe("microgan-bccd-gan")
    out = tmp_path / "run"
    extra = ["train.steps=1", "train.val_every=1", "train.val_max_crops=2", "train.threads=1"]
    calls = []

    def killed_in_stage_two(config, data, folder, **kwargs):
        calls.append((Path(folder).name, kwargs["resume"]))
        if len(calls) == 2:
            raise KeyboardInterrupt
        return run_training(config, data, folder, quiet=True, **kwargs)

    with pytest.raises(KeyboardInterrupt):
        run_recipe(recipe, {"bccd": tiny_prepared}, out, train=killed_in_stage_two, extra=extra)
    assert json.loads((out / STATE_NAME).read_text())["done"] == ["bccd"]
    with pytest.raises(MicroGANError, match="--resume to continue it or --overwrite"):
        run_recipe(recipe, {"bccd": tiny_prepared}, out, train=killed_in_stage_two, extra=extra)
    model = run_recipe(recipe, {"bccd": tiny_prepared}, out, train=killed_in_stage_two, extra=extra, resume=True)
    assert [name for name, _ in calls[2:]] == ["02-gan"]  # stage one skipped, stage two run (no last yet: from its start)
    assert model == out / "02-gan" / ck.BEST_NAME and model.is_file()


def test_a_resume_never_clears_a_stage_and_a_stage_cut_short_is_not_done(tiny_prepared: Path, tmp_path: Path) -> None:
    from microgan.train.recipe import StageUnfinished
    from microgan.train.trainer import run_training

    recipe = load_recipe("microgan-bccd-gan")
    out = tmp_path / "run"
    extra = ["train.steps=1", "train.val_every=1", "train.val_max_crops=2", "train.threads=1"]
    train = lambda *a, **k: run_training(*a, quiet=True, **k)  # noqa: E731
    run_recipe(recipe, {"bccd": tiny_prepared}, out, train=train, extra=extra)
    # stage two holds a trained model (best) but no last: --resume refuses, keeps it, and says what to do
    state = json.loads((out / STATE_NAME).read_text())
    state["done"] = ["bccd"]
    (out / STATE_NAME).write_text(json.dumps(state))
    (out / "02-gan" / ck.LAST_NAME).unlink()
    best = (out / "02-gan" / ck.BEST_NAME).read_bytes()
    with pytest.raises(MicroGANError, match="best.safetensors but no last.safetensors"):
        run_recipe(recipe, {"bccd": tiny_prepared}, out, train=train, extra=extra, resume=True)
    assert (out / "02-gan" / ck.BEST_NAME).read_bytes() == best
    # a stage stopped by the clock is not recorded as done
    calls = []

    def clock_stop(config, data, folder, **kwargs):
        calls.append(Path(folder).name)
        return {"reason": "reached 0.01 minutes", "step": 0}

    with pytest.raises(StageUnfinished, match="stage bccd stopped before its end"):
        run_recipe(recipe, {"bccd": tiny_prepared}, tmp_path / "other", train=clock_stop, extra=extra)
    assert json.loads((tmp_path / "other" / STATE_NAME).read_text())["done"] == []


def test_the_bundled_blind_model_was_made_as_its_recipe_says() -> None:
    """The lineage the bundled default records, stage by stage: config, steps, degradation, data mix.
    A stage continued from its best step (stage 5: 14000 of 16000) records that step."""
    lineage = microgan.load("microgan-blind", device="cpu").meta["lineage"]
    recipe = load_recipe("microgan-blind")
    assert len(lineage) == len(recipe.stages)
    for record, stage in zip(lineage, recipe.stages):
        settings = stage.settings()
        assert record["config"] == settings["name"], stage.name
        steps = record["training"]["steps"]
        assert steps == settings["train"]["steps"] or (stage.name == "bccd-x24" and steps == 14000), stage.name
        assert record["degradation"] == (settings.get("data") or {}).get("degradation"), stage.name
        assert record.get("repeat") == (settings.get("data") or {}).get("repeat"), stage.name
        kinds = [kind for kind, _ in record["data"]]
        assert kinds == [{"bccd": "bccd", "chula-rbc12": "chula-rbc12"}[d] for d in stage.data], stage.name


@pytest.mark.parametrize("recipe_text, message", [
    ("name: x\ndata: [a]\nstages: []\n", "'stages' must be a non-empty list"),
    ("name: x\ndata: [a]\nstages: [{name: s, config: microgan, from: later}, {name: later, config: microgan}]\n",
     "starts from 'later', which is not an earlier stage"),
    ("name: x\ndata: [a]\nstages: [{name: s, config: microgan, data: [b]}]\n", "'data' must list names from"),
    ("name: x\ndata: [a]\nstages: [{name: s, config: microgan, from: no-such-model}]\n", "neither an earlier stage"),
    ("name: x\ndata: [a]\nstages: [{name: s, config: microgan, sett: {}}]\n", "unknown key(s)"),
    ("name: x\ndata: [a]\nstages: [{name: s, config: microgan, set: {1: 2}}]\n", "'set' must map dotted keys"),
    ("name: x\ndata: [a]\nstages: [{name: s, config: microgan, data: [[a]]}]\n", "'data' must list names from"),
    ("name: x\ndata: [a]\nstages: [{name: s, config: microgan, set: {train: 5}}]\n", "train must be a mapping"),
])
def test_bad_recipes_are_one_clear_line(recipe_text: str, message: str, tmp_path: Path) -> None:
    path = tmp_path / "r.yaml"
    path.write_text(recipe_text)
    with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace(")", r"\)").replace("[", r"\[")):
        check_recipe(load_recipe(str(path)), {"a": tmp_path})


def test_a_stage_config_that_does_not_check_is_refused_before_any_training(tiny_prepared: Path, tmp_path: Path, capsys) -> None:
    out = tmp_path / "run"
    folders = _folders(tiny_prepared, ["bccd", "chula-rbc12"], tmp_path)
    code = main(["train", "--recipe", "microgan-blind", "--data", f"bccd={folders['bccd']}",
                 f"chula-rbc12={folders['chula-rbc12']}", "--out", str(out), "--set", "train.optimizer.lr=-1"])
    assert code == 2 and "recipe microgan-blind, stage bccd: train.optimizer" in capsys.readouterr().err
    assert not out.exists()
    code = main(["train", "--recipe", "microgan-blind", "--data", f"bccd={tiny_prepared}", "--out", str(out)])
    assert code == 2 and "missing: chula-rbc12" in capsys.readouterr().err
