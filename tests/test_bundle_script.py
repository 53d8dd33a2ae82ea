"""scripts/bundle_pretrained.py's lineage: every stage that made a bundled model, oldest first,
including the stages of a bundled model a run started from (``--init-from microgan-blind``)."""
from __future__ import annotations

import importlib.util
from pathlib import Path

import torch

from microgan.core.checkpoint import Checkpoint, load_checkpoint, save_checkpoint

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "bundle_pretrained.py"


def _script():
    spec = importlib.util.spec_from_file_location("bundle_pretrained", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _config(name: str) -> dict:
    return {"name": name, "losses": {"pixel": {"type": "l1", "weight": 1.0}}, "train": {"pixel_warmup_steps": 10 ** 6}}


def test_a_run_from_a_bundled_model_takes_over_its_recorded_stages(tmp_path: Path) -> None:
    """It recorded the bundled start by name only ("recorded by name only"), losing its earlier stages."""
    bundle = _script()
    recorded = [{"config": "first", "training": {"steps": 10}}, {"config": "second", "training": {"steps": 20}}]
    bundled = tmp_path / "bundled.safetensors"
    save_checkpoint(bundled, Checkpoint(meta={"config": _config("second"), "step": 20, "lineage": recorded,
                                              "init_from": {"name": "first", "step": 10}},
                                         generator={"w": torch.zeros(1)}))
    run_meta = {"config": _config("third"), "step": 30,
                "init_from": {"name": "second", "step": 20, "path": str(bundled)}}
    stages = bundle.lineage(run_meta)
    assert [s["config"] for s in stages] == ["first", "second", "third"]
    assert stages[-1]["training"]["steps"] == 30 and not any("note" in s for s in stages)


def test_a_start_whose_file_is_gone_is_recorded_by_name(tmp_path: Path) -> None:
    bundle = _script()
    run_meta = {"config": _config("third"), "step": 30,
                "init_from": {"name": "second", "step": 20, "path": str(tmp_path / "gone.safetensors")}}
    stages = bundle.lineage(run_meta)
    assert [s["config"] for s in stages] == ["second", "third"] and stages[0]["note"] == "recorded by name only"


def test_a_start_file_replaced_since_is_not_taken_for_the_start(tmp_path: Path) -> None:
    """Re-bundling over the file a stage started from (``--init-from microgan-blind``, then
    ``--out .../microgan-blind.safetensors``) made the next bundle take the new file's lineage, which
    already holds the stage itself: a stage recorded twice."""
    bundle = _script()
    replaced = tmp_path / "bundled.safetensors"
    save_checkpoint(replaced, Checkpoint(meta={"config": _config("third"), "step": 30,
                                               "lineage": [{"config": "second"}, {"config": "third"}]},
                                          generator={"w": torch.zeros(1)}))
    run_meta = {"config": _config("third"), "step": 30,
                "init_from": {"name": "second", "step": 20, "path": str(replaced)}}
    stages = bundle.lineage(run_meta)
    assert [s["config"] for s in stages] == ["second", "third"] and stages[0]["note"] == "recorded by name only"


def test_a_run_with_a_moving_average_ships_the_average_alone(tmp_path: Path, monkeypatch) -> None:
    """The bundle holds the weights that restore images (``train.ema_decay``), once, in float16."""
    bundle = _script()
    config = _config("blind")
    config["train"]["ema_decay"] = 0.999
    run = tmp_path / "last.safetensors"
    save_checkpoint(run, Checkpoint(meta={"config": config, "step": 5}, generator={"w": torch.zeros(2)},
                                    generator_ema={"w": torch.full((2,), 0.5)}))
    out = tmp_path / "bundled.safetensors"
    monkeypatch.setattr("sys.argv", ["bundle_pretrained.py", str(run), "--out", str(out)])
    assert bundle.main() == 0
    shipped = load_checkpoint(out, generator_only=True)
    assert shipped.generator_ema is None and shipped.generator["w"].dtype == torch.float16
    assert torch.equal(shipped.generator["w"].float(), torch.full((2,), 0.5))
    assert shipped.meta["bundle"]["weights"] == "moving average (train.ema_decay 0.999)"
    best = tmp_path / "best.safetensors"  # a run's best holds the average as its generator: said all the same
    save_checkpoint(best, Checkpoint(meta={"config": config, "step": 5}, generator={"w": torch.full((2,), 0.5)}))
    monkeypatch.setattr("sys.argv", ["bundle_pretrained.py", str(best), "--out", str(out)])
    assert bundle.main() == 0
    assert load_checkpoint(out, generator_only=True).meta["bundle"]["weights"] == "moving average (train.ema_decay 0.999)"


def test_a_recipe_run_bundles_its_last_stage_with_the_recipe_as_lineage(tmp_path: Path, monkeypatch, tiny_prepared: Path) -> None:
    from microgan.cli import main

    run = tmp_path / "run"
    assert main(["train", "--recipe", "microgan-bccd-gan", "--data", f"bccd={tiny_prepared}", "--out", str(run),
                 "--steps", "1", "--set", "train.val_every=1", "--set", "train.val_max_crops=2",
                 "--set", "train.threads=1", "--quiet"]) == 0
    out = tmp_path / "bundled.safetensors"
    monkeypatch.setattr("sys.argv", ["bundle_pretrained.py", str(run), "--out", str(out)])
    assert _script().main() == 0
    meta = load_checkpoint(out, generator_only=True).meta
    assert meta["recipe"] == "microgan-bccd-gan"
    assert [s["config"] for s in meta["lineage"]] == ["microgan-bccd", "microgan-bccd-gan"]
