"""The adversarial fine-tuning phase: from an L1-trained generator, a critic-only warm-up on the
frozen generator, then GAN steps that move it; separate critic rate; the record says so."""
from __future__ import annotations

from pathlib import Path

import pytest
import torch

from microgan import cli
from microgan.core.checkpoint import LAST_NAME, load_checkpoint
from microgan.core.provenance import describe, training_record
from microgan.train.settings import TrainSettings, scheduled_lr
from microgan.train.step import CRITIC, GAN, PIXEL, phase

TINY = [
    "generator.channels=[4,8]", "critic.base=4", "losses.perceptual.weight=0", "losses.pixel.weight=1",
    "train.critic_steps=1", "train.val_every=2", "train.ckpt_every=1", "train.val_max_crops=2", "train.threads=1",
]


def _run(data: Path, out: Path, *extra: str) -> int:
    sets = sum((["--set", s] for s in TINY), [])
    return cli.main(["train", "--config", "microgan", "--data", str(data), "--out", str(out), "--quiet", *sets, *extra])


def test_phases_in_order():
    cfg = TrainSettings(steps=10, pixel_warmup_steps=2, critic_warmup_steps=3)
    assert [phase(cfg, s) for s in range(7)] == [PIXEL, PIXEL, CRITIC, CRITIC, CRITIC, GAN, GAN]


def test_critic_rate_follows_its_own_base_on_the_same_schedule():
    cfg = TrainSettings(steps=100, lr_schedule="cosine", lr_min=1e-6, optimizer={"lr": 1e-4}, critic_optimizer={"lr": 4e-4})
    assert scheduled_lr(cfg, 0, "critic_optimizer") == pytest.approx(4e-4)
    assert scheduled_lr(cfg, 50, "critic_optimizer") == pytest.approx(4 * scheduled_lr(cfg, 50))
    assert TrainSettings(steps=1).critic_optimizer == TrainSettings(steps=1).optimizer
    with pytest.raises(Exception, match="takes lr and betas"):
        TrainSettings(steps=1, critic_optimizer={"momentum": 0.9})


def test_gan_fine_tuning_from_an_l1_generator(tiny_prepared: Path, tmp_path: Path, save_tiny_generator) -> None:
    start = save_tiny_generator(tmp_path / "l1.safetensors")
    original = load_checkpoint(start).generator
    frozen_run = tmp_path / "critic-only"
    args = ["--init-from", str(start), "--set", "train.critic_warmup_steps=2", "--set", "losses.adversarial.weight=0.5",
            "--set", "train.critic_optimizer={lr: 4.0e-4}"]
    assert _run(tiny_prepared, frozen_run, "--steps", "2", *args) == 0
    after_warmup = load_checkpoint(frozen_run / LAST_NAME)
    assert all(torch.equal(after_warmup.generator[k], original[k]) for k in original)  # generator frozen
    assert after_warmup.optimizers["critic"]["state"]  # the critic did train
    assert after_warmup.meta["training"]["critic_warmup_steps"] == 2 and after_warmup.meta["training"]["objective"] == "l1"

    run = tmp_path / "gan"
    assert _run(tiny_prepared, run, "--steps", "4", *args) == 0
    ckpt = load_checkpoint(run / LAST_NAME)
    assert any(not torch.equal(ckpt.generator[k], original[k]) for k in original)  # the GAN steps moved it
    record = ckpt.meta["training"]
    assert record["objective"] == "gan" and record["adversarial_steps"] == 2 and record["critic_warmup_steps"] == 2
    assert record["loss_weights"]["adversarial"] == 0.5 and record["critic"] == "gap"
    assert "2 critic warm-up + 2 adversarial steps" in describe(record)
    metrics = (run / "metrics.csv").read_text()
    for key in ("critic/wasserstein", "critic/gp", "generator/adversarial"):
        assert key in metrics, key


def test_record_counts_critic_warmup_apart():
    config = {"losses": {"pixel": {"type": "l1"}, "adversarial": {"type": "wgan-gp", "weight": 0.01}},
              "critic": {"type": "gap"}, "train": {"pixel_warmup_steps": 0, "critic_warmup_steps": 100, "critic_steps": 2}}
    assert training_record(config, 50)["objective"] == "l1"
    rec = training_record(config, 300)
    assert rec["adversarial_steps"] == 200 and rec["critic_warmup_steps"] == 100 and rec["critic_steps"] == 2
