"""The moving average of the generator's weights (``train.ema_decay``): its arithmetic, what it
changes in a run (validation, ``best``, the served model) and an exact resume."""
from __future__ import annotations

import csv
from pathlib import Path
from typing import Callable, List

import pytest
import torch

from microgan.config import apply_overrides, load_config
from microgan.core import checkpoint as ck
from microgan.errors import ConfigError
from microgan.train.distributed import DistContext
from microgan.train.ema import WeightAverage
from microgan.train.trainer import Trainer, prepare_run_dir

CPU = DistContext(0, 1, torch.device("cpu"))
EMA = ["train.ema_decay=0.5", "train.pixel_warmup_steps=2"]


@pytest.fixture
def make(tiny_sets: List[str]) -> Callable[..., Trainer]:
    def build(data: Path, out: Path, sets: List[str], resume: bool = False) -> Trainer:
        if not resume:
            prepare_run_dir(out, resume=False, overwrite=False)
        return Trainer(apply_overrides(load_config("microgan"), tiny_sets + sets), data, out, CPU, resume=resume, quiet=True)

    return build


def test_each_update_moves_the_average_by_one_minus_decay() -> None:
    live = torch.nn.Conv2d(1, 2, 3)
    average = WeightAverage(live, 0.9)
    before = {k: v.clone() for k, v in average.state_dict().items()}
    with torch.no_grad():
        for p in live.parameters():
            p.add_(1.0)
    average.update(live)
    for name, p in live.named_parameters():
        assert torch.allclose(average.state_dict()[name], 0.9 * before[name] + 0.1 * p.detach())
    assert not any(p.requires_grad for p in average.model.parameters())


@pytest.mark.parametrize("value", ["0", "1", "1.5", "-0.1", "true", "fast"])
def test_ema_decay_outside_zero_to_one_is_refused(prepared_varied: Path, tmp_path: Path, make: Callable[..., Trainer], value: str) -> None:
    with pytest.raises(ConfigError, match="train.ema_decay must be (between 0 and 1|a finite number)"):
        make(prepared_varied, tmp_path / "run", [f"train.ema_decay={value}"])


def test_a_run_with_an_average_validates_keeps_and_serves_it(prepared_varied: Path, tmp_path: Path, make: Callable[..., Trainer]) -> None:
    run = tmp_path / "run"
    trainer = make(prepared_varied, run, EMA + ["train.steps=4", "train.val_every=4"])  # one validation: best = step 4
    trainer.fit()
    average = trainer.nets.average.state_dict()
    live = trainer.generator.state_dict()
    assert any(not torch.equal(average[k], live[k]) for k in live)  # the average lags the live weights
    last = ck.load_checkpoint(run / ck.LAST_NAME)
    for k in live:  # last holds both: the live weights a resume continues, the average it serves
        assert torch.equal(last.generator[k], live[k]) and torch.equal(last.generator_ema[k], average[k])
    assert not trainer.nets.average.model.training and trainer.generator.training  # validation restored both modes
    served, _ = ck.load_generator(run / ck.LAST_NAME)
    assert all(torch.equal(served.state_dict()[k], average[k]) for k in average)
    with open(run / "metrics.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    kept = {int(r["step"]): float(r["value"]) for r in rows if r["tag"] == "val/psnr"}
    assert {int(r["step"]) for r in rows if r["tag"] == "val/psnr_live"} == set(kept) == {4}
    best = ck.load_checkpoint(run / ck.BEST_NAME)  # the average, alone
    assert best.generator_ema is None and best.meta["metrics"]["psnr"] == pytest.approx(kept[4], abs=1e-4)
    assert all(torch.equal(best.generator[k], average[k]) for k in average)


def test_resume_continues_the_same_average(prepared_varied: Path, tmp_path: Path, make: Callable[..., Trainer]) -> None:
    straight = make(prepared_varied, tmp_path / "straight", EMA + ["train.steps=6"])
    straight.fit()
    first = make(prepared_varied, tmp_path / "resumed", EMA + ["train.steps=3", "train.ckpt_every=100"])
    first.fit()
    del first
    second = make(prepared_varied, tmp_path / "resumed", EMA + ["train.steps=6"], resume=True)
    second.fit()
    a, b = straight.nets.average.state_dict(), second.nets.average.state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_turning_the_average_on_at_a_resume_starts_it_from_the_resumed_weights(
        prepared_varied: Path, tmp_path: Path, make: Callable[..., Trainer]) -> None:
    run = tmp_path / "run"
    make(prepared_varied, run, ["train.steps=2"]).fit()
    resumed = make(prepared_varied, run, EMA + ["train.steps=4"], resume=True)
    assert any("holds no moving average" in n for n in resumed.state.notes)
    live = resumed.generator.state_dict()
    assert all(torch.equal(resumed.nets.average.state_dict()[k], live[k]) for k in live)


def test_turning_the_average_off_at_a_resume_says_it_is_dropped(
        prepared_varied: Path, tmp_path: Path, make: Callable[..., Trainer]) -> None:
    run = tmp_path / "run"
    make(prepared_varied, run, EMA + ["train.steps=2"]).fit()
    resumed = make(prepared_varied, run, ["train.pixel_warmup_steps=2", "train.steps=4"], resume=True)
    assert resumed.nets.average is None
    assert any("the average is dropped" in n for n in resumed.state.notes)
