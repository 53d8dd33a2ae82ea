"""The training loop: exact resume, atomic checkpoints under crashes, NaN stops, the schedule's
settings (warm-up, critic batches, stop criteria, precision) and masked padding."""
from __future__ import annotations

import csv
import math
from pathlib import Path
from typing import Callable, Dict, List

import pytest
import torch

from microgan.config import apply_overrides, load_config
from microgan.data.datasets import PairedCropDataset
from microgan.data.samplers import pad_collate
from microgan.errors import ConfigError, MicroGANError
from microgan.core import checkpoint as ck
from microgan.train.distributed import DistContext
from microgan.train.trainer import Trainer, TrainingDivergedError, prepare_run_dir, run_training

CPU = DistContext(0, 1, torch.device("cpu"))
BUCKETS = ["data.batch_size=2"]


@pytest.fixture
def make(tiny_sets: List[str]) -> Callable[..., Trainer]:
    """``make(data, out, sets, resume=False, variant="microgan")``: a Trainer with tiny networks."""

    def build(data: Path, out: Path, sets: List[str], resume: bool = False, variant: str = "microgan") -> Trainer:
        if not resume:
            prepare_run_dir(out, resume=False, overwrite=False)
        config = apply_overrides(load_config(variant), tiny_sets + sets)
        return Trainer(config, data, out, CPU, resume=resume, quiet=True)

    return build


def state(trainer: Trainer) -> Dict[str, torch.Tensor]:
    out = {f"g.{k}": v for k, v in trainer.generator.state_dict().items()}
    out.update({f"c.{k}": v for k, v in trainer.critic.state_dict().items()})
    for name, opt in (("og", trainer.opt_g), ("oc", trainer.opt_c)):
        for i, s in opt.state_dict()["state"].items():
            out.update({f"{name}.{i}.{k}": v for k, v in s.items()})
    return out


def metric_rows(run: Path) -> List[Dict[str, str]]:
    with open(run / "metrics.csv", newline="") as fh:
        return list(csv.DictReader(fh))


def test_resume_continues_exactly(prepared_varied: Path, tmp_path: Path, make: Callable[..., Trainer]) -> None:
    # 8 crops, batches of 2: 6 steps cross an epoch end, the critic stream crosses two
    straight = make(prepared_varied, tmp_path / "straight", BUCKETS + ["train.steps=6"])
    straight.fit()
    first = make(prepared_varied, tmp_path / "resumed", BUCKETS + ["train.steps=3", "train.ckpt_every=100"])
    first.fit()  # stops at 3 with a final checkpoint: the state a kill right after it leaves
    del first
    second = make(prepared_varied, tmp_path / "resumed", BUCKETS + ["train.steps=6"], resume=True)
    assert second.step == 3
    summary = second.fit()
    assert summary["step"] == 6 and summary["epoch"] == straight.g_stream.epoch == 1
    a, b = state(straight), state(second)
    assert a.keys() == b.keys()
    for k in a:
        assert torch.equal(a[k], b[k]), f"{k} differs after resume"
    assert second.c_stream.state() == straight.c_stream.state()
    steps = [int(r["step"]) for r in metric_rows(tmp_path / "resumed") if r["tag"] == "train/generator/loss"]
    assert steps == [1, 2, 3, 4, 5, 6]


def test_a_critic_never_stepped_is_not_stored_and_resume_stays_exact(
        prepared_varied: Path, tmp_path: Path, make: Callable[..., Trainer]) -> None:
    """An L1-only run (pixel warm-up as long as the run, microgan-blind's recipe) never steps the
    critic: ``last`` holds neither it nor its optimizer (the resume rebuilds the same seeded
    initialisation), and a resume that runs on into the GAN phase matches an uninterrupted run."""
    sets = BUCKETS + ["train.pixel_warmup_steps=3"]
    straight = make(prepared_varied, tmp_path / "straight", sets + ["train.steps=5"])
    straight.fit()
    first = make(prepared_varied, tmp_path / "resumed", sets + ["train.steps=3", "train.ckpt_every=100"])
    first.fit()
    del first
    saved = ck.load_checkpoint(tmp_path / "resumed" / ck.LAST_NAME)
    assert saved.critic is None and set(saved.optimizers) == {"generator"}
    second = make(prepared_varied, tmp_path / "resumed", sets + ["train.steps=5"], resume=True)
    assert second.step == 3
    second.fit()
    a, b = state(straight), state(second)
    assert a.keys() == b.keys() and any(k.startswith("oc.") for k in a)  # the critic did train after step 3
    for k in a:
        assert torch.equal(a[k], b[k]), f"{k} differs after resume"
    after = ck.load_checkpoint(tmp_path / "resumed" / ck.LAST_NAME)
    assert after.critic is not None and "critic" in after.optimizers


def test_resume_drops_log_rows_after_the_checkpoint(prepared_varied: Path, tmp_path: Path, make: Callable[..., Trainer]) -> None:
    run = tmp_path / "run"
    make(prepared_varied, run, ["train.steps=3", "train.ckpt_every=2"]).fit()
    ckpt = ck.load_checkpoint(run / ck.LAST_NAME)
    assert ckpt.meta["step"] == 3  # the final save
    # simulate a crash after step 3's logs but with the checkpoint of step 2
    trainer = make(prepared_varied, run, ["train.steps=2"], resume=True)
    trainer.step = 2
    trainer.save_last()
    resumed = make(prepared_varied, run, ["train.steps=3"], resume=True)
    resumed.fit()
    steps = [int(r["step"]) for r in metric_rows(run) if r["tag"] == "train/generator/loss"]
    assert steps == [1, 2, 3]


def test_crash_while_writing_a_checkpoint_keeps_the_previous_one(prepared_varied: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, make: Callable[..., Trainer]) -> None:
    run = tmp_path / "run"
    trainer = make(prepared_varied, run, ["train.steps=2"])
    trainer.fit()

    def crash(tensors, path, metadata=None):
        Path(path).write_bytes(b"half a safetensors file")
        raise KeyboardInterrupt  # the process dies mid-write

    monkeypatch.setattr(ck, "save_file", crash)
    trainer.step = 99
    with pytest.raises(KeyboardInterrupt):
        trainer.save_last()
    assert ck.load_checkpoint(run / ck.LAST_NAME).meta["step"] == 2
    assert not list(run.glob(".*.tmp"))


def test_nan_loss_stops_with_crop_ids_and_keeps_the_last_good_checkpoint(prepared_varied: Path, tmp_path: Path, make: Callable[..., Trainer]) -> None:
    run = tmp_path / "run"
    trainer = make(prepared_varied, run, ["train.steps=10"])
    real_loss, calls = trainer.adversarial.generator_loss, []

    def poisoned(critic, fake, mask=None):
        calls.append(1)
        loss = real_loss(critic, fake, mask)
        return loss * math.nan if len(calls) == 3 else loss

    trainer.adversarial.generator_loss = poisoned
    with pytest.raises(TrainingDivergedError, match=r"non-finite generator loss at step 3 \(crops: train\d{3}\)"):
        trainer.fit()
    good = ck.load_checkpoint(run / ck.LAST_NAME)
    assert good.meta["step"] == 2
    assert all(torch.isfinite(t).all() for t in good.generator.values())


def test_pixel_warmup_trains_only_the_generator(prepared_varied: Path, tmp_path: Path, make: Callable[..., Trainer]) -> None:
    trainer = make(prepared_varied, tmp_path / "run", ["train.steps=3", "train.pixel_warmup_steps=2"])
    critic_before = {k: v.clone() for k, v in trainer.critic.state_dict().items()}
    gen_before = {k: v.clone() for k, v in trainer.generator.state_dict().items()}
    trainer.cfg.steps = 2  # stop inside the warm-up: the critic was built (the run goes on) but not stepped
    trainer.fit()
    assert all(torch.equal(v, trainer.critic.state_dict()[k]) for k, v in critic_before.items())
    assert any(not torch.equal(v, trainer.generator.state_dict()[k]) for k, v in gen_before.items())
    assert trainer.c_stream.state() == {"epoch": 0, "index": 0}
    tags = {r["tag"] for r in metric_rows(tmp_path / "run")}
    assert "train/generator/pixel" in tags and not any(t.startswith("train/critic") for t in tags)


@pytest.mark.parametrize("mode, critic_batches_used", [("fresh", 4), ("same", 0)])
def test_critic_batches_fresh_or_same(prepared_varied: Path, tmp_path: Path, mode: str, critic_batches_used: int, make: Callable[..., Trainer]) -> None:
    trainer = make(prepared_varied, tmp_path / "run", ["train.steps=2", f"train.critic_batches={mode}"])
    trainer.fit()
    assert trainer.c_stream.state()["index"] == critic_batches_used  # 2 steps x 2 critic steps
    assert trainer.g_stream.state()["index"] == 2


def test_stops_at_the_first_criterion(prepared_varied: Path, tmp_path: Path, make: Callable[..., Trainer]) -> None:
    by_epochs = make(prepared_varied, tmp_path / "a", BUCKETS + ["train.epochs=1", "train.steps=100"]).fit()
    assert by_epochs["step"] == 4 and by_epochs["epoch"] == 1 and "epochs" in by_epochs["reason"]
    by_time = make(prepared_varied, tmp_path / "b", ["train.max_minutes=1e-9"]).fit()
    assert by_time["step"] == 1 and "minutes" in by_time["reason"]


def test_cosine_schedule_decays_to_lr_min_at_the_last_step(prepared_varied: Path, tmp_path: Path, make: Callable[..., Trainer]) -> None:
    sets = ["train.steps=4", "train.lr_schedule=cosine", "train.optimizer.lr=1e-3", "train.lr_min=1e-5", "train.log_every=1"]
    trainer = make(prepared_varied, tmp_path / "run", sets)
    trainer.fit()
    logged = [float(r["value"]) for r in metric_rows(tmp_path / "run") if r["tag"] == "train/lr"]
    expected = [1e-5 + 0.5 * (1e-3 - 1e-5) * (1 + math.cos(math.pi * s / 4)) for s in range(4)]
    assert logged == pytest.approx(expected)
    assert logged[0] == pytest.approx(1e-3) and logged[-1] < logged[0] / 5
    # the rate is a function of the step alone: a resumed run sets the one the straight run had
    assert trainer.opt_g.param_groups[0]["lr"] == trainer.opt_c.param_groups[0]["lr"] == pytest.approx(expected[-1])


def test_cosine_schedule_needs_a_step_count(prepared_varied: Path, tmp_path: Path, make: Callable[..., Trainer]) -> None:
    with pytest.raises(MicroGANError, match="train.steps"):
        make(prepared_varied, tmp_path / "run", ["train.lr_schedule=cosine", "train.steps=null"])
    with pytest.raises(MicroGANError, match="lr_schedule"):
        make(prepared_varied, tmp_path / "run2", ["train.lr_schedule=step"])


def test_run_writes_best_last_logs_and_config(prepared_varied: Path, tmp_path: Path, make: Callable[..., Trainer]) -> None:
    run = tmp_path / "run"
    summary = make(prepared_varied, run, ["train.steps=4"]).fit()
    for name in ("best.safetensors", "last.safetensors", "metrics.csv", "config.yaml"):
        assert (run / name).is_file(), name
    assert any((run / "tensorboard").iterdir())
    rows = metric_rows(run)
    psnrs = [float(r["value"]) for r in rows if r["tag"] == "val/psnr"]
    assert len(psnrs) == 2 and summary["best_psnr"] == pytest.approx(max(psnrs), abs=1e-4)
    assert {"val/psnr_input", "val/ssim_input", "train/critic/gp", "train/images_per_s"} <= {r["tag"] for r in rows}
    best = ck.load_checkpoint(run / ck.BEST_NAME)
    assert best.meta["metrics"]["psnr"] == pytest.approx(max(psnrs), abs=1e-4)
    # how it was trained is recorded: the paper's schedule, no warm-up, 4 GAN steps by the end
    last = ck.load_checkpoint(run / ck.LAST_NAME).meta["training"]
    assert last["objective"] == "gan" and last["adversarial_steps"] == 4 and last["pixel_steps"] == 0
    generator, meta = ck.load_generator(run)  # a run folder works wherever a model is taken
    assert meta["path"].endswith(ck.BEST_NAME)


def test_bf16_channels_last_keeps_losses_finite(prepared_varied: Path, tmp_path: Path, make: Callable[..., Trainer]) -> None:
    run = tmp_path / "run"
    make(prepared_varied, run, BUCKETS + ["train.steps=2", "train.precision=bf16", "train.channels_last=true"]).fit()
    losses = [float(r["value"]) for r in metric_rows(run) if r["tag"].startswith("train/")]
    assert losses and all(math.isfinite(v) for v in losses)
    assert any(r["tag"] == "train/critic/gp" and float(r["value"]) > 0 for r in metric_rows(run))


def test_fp16_needs_cuda(prepared_varied: Path, tmp_path: Path, make: Callable[..., Trainer]) -> None:
    with pytest.raises(MicroGANError, match="fp16 needs CUDA"):
        make(prepared_varied, tmp_path / "run", ["train.precision=fp16"])


def test_microgan_fs_trains_on_resized_crops(prepared_varied: Path, tmp_path: Path, make: Callable[..., Trainer]) -> None:
    sets = ["data.resize_to=16", "critic.input_size=16", "data.batch_size=2", "train.steps=1"]
    trainer = make(prepared_varied, tmp_path / "run", sets, variant="microgan-fs")
    trainer.fit()
    assert trainer.step == 1 and trainer.train_set.sizes()[0] == (16, 16)


def test_data_repeat_lengthens_the_epoch_and_is_checked(prepared_varied: Path, tmp_path: Path, make: Callable[..., Trainer]) -> None:
    plain = make(prepared_varied, tmp_path / "plain", ["train.steps=1"])
    twice = make(prepared_varied, tmp_path / "twice", ["train.steps=1", "data.repeat=[2]"])
    assert len(twice.g_stream.sampler) == 2 * len(plain.g_stream.sampler)
    with pytest.raises(MicroGANError, match=r"data.repeat: 2 value\(s\) for 1 data folder\(s\)"):
        make(prepared_varied, tmp_path / "bad", ["data.repeat=[2, 1]"])
    with pytest.raises(MicroGANError, match=r"data.repeat must be a list of whole numbers >= 1"):
        make(prepared_varied, tmp_path / "zero", ["data.repeat=[0]"])


def test_unknown_setting_is_a_config_error(prepared_varied: Path, tmp_path: Path, make: Callable[..., Trainer]) -> None:
    with pytest.raises(MicroGANError, match="unknown 'train' setting.*critc_steps"):
        make(prepared_varied, tmp_path / "run", ["train.critc_steps=3"])
    with pytest.raises(MicroGANError, match=r"unknown config section\(s\): trian"):  # was ignored: the run trained on defaults
        make(prepared_varied, tmp_path / "section", ["trian.steps=3"])
    with pytest.raises(MicroGANError, match=r"unknown 'losses' term\(s\): pixle"):
        make(prepared_varied, tmp_path / "loss", ["losses.pixle.weight=0"])


def test_a_bad_config_fails_before_overwrite_empties_the_run(prepared_varied: Path, tmp_path: Path) -> None:
    """The check ran in the Trainer, after ``--overwrite`` had already deleted the old run."""
    run = tmp_path / "run"
    run.mkdir()
    (run / ck.LAST_NAME).write_bytes(b"an earlier run's checkpoint")
    for bad in ({"trian": {"steps": 1}}, {"train": {"critc_steps": 3}}):
        config = {**load_config("microgan"), **bad}
        with pytest.raises(MicroGANError, match="unknown"):
            run_training(config, prepared_varied, run, overwrite=True, quiet=True, device="cpu")
        assert (run / ck.LAST_NAME).read_bytes() == b"an earlier run's checkpoint"


def test_run_folder_refuses_to_mix_runs(tmp_path: Path) -> None:
    run = tmp_path / "run"
    run.mkdir()
    (run / ck.LAST_NAME).write_bytes(b"x")
    for name in (ck.LAST_NAME, "config.yaml", "metrics.csv"):  # every atomic write training does
        (run / f".{name}.abc.tmp").write_bytes(b"left by kill -9")
    with pytest.raises(MicroGANError, match="--resume"):
        prepare_run_dir(run, resume=False, overwrite=False)
    assert not list(run.glob(".*.tmp"))
    assert prepare_run_dir(run, resume=True, overwrite=False) is True
    prepare_run_dir(run, resume=False, overwrite=True)
    assert not (run / ck.LAST_NAME).exists()


def test_resume_of_a_run_stopped_before_its_first_checkpoint_starts_it_again(tmp_path: Path) -> None:
    """It refused ("nothing to resume"): a kill before the first checkpoint needed --overwrite. A
    run with best but no last is a trained model: refused, never cleared (issue 30)."""
    run = tmp_path / "run"
    run.mkdir()
    for name in ("metrics.csv", "config.yaml"):
        (run / name).write_text("from the killed run")
    assert prepare_run_dir(run, resume=True, overwrite=False) is False
    assert list(run.iterdir()) == []
    assert prepare_run_dir(tmp_path / "new", resume=True, overwrite=False) is False
    assert (tmp_path / "new").is_dir()
    (run / ck.BEST_NAME).write_text("a trained model")
    with pytest.raises(MicroGANError, match="best.safetensors but no last.safetensors.*--init-from"):
        prepare_run_dir(run, resume=True, overwrite=False)
    assert (run / ck.BEST_NAME).read_text() == "a trained model"


def test_last_is_written_at_least_every_ckpt_every_minutes(prepared_uniform: Path, tmp_path: Path,
                                                           make: Callable[..., Trainer], monkeypatch: pytest.MonkeyPatch) -> None:
    """At ~2 s per step, 500 steps between checkpoints let a kill lose ~17 minutes: a time interval
    bounds it. A fake clock runs 20 s per step; every 0.5 minutes -> a save every second step."""
    import microgan.train.trainer as trainer_module

    trainer = make(prepared_uniform, tmp_path / "run", ["train.steps=5", "train.ckpt_every=1000",
                                                        "train.ckpt_every_minutes=0.5", "train.val_every=1000"])
    saves: List[int] = []
    monkeypatch.setattr(trainer, "save_last", lambda: saves.append(trainer.step))

    class Clock:
        @staticmethod
        def monotonic() -> float:
            return trainer.step * 20.0

    monkeypatch.setattr(trainer_module, "time", Clock)
    trainer.fit()
    assert saves == [2, 4, 5]  # 40 s and 80 s after the last save, and the final one


@pytest.mark.parametrize("value", ["0", "-1"])
def test_ckpt_every_minutes_must_be_positive_or_null(prepared_uniform: Path, tmp_path: Path, make: Callable[..., Trainer], value: str) -> None:
    with pytest.raises(MicroGANError, match="ckpt_every_minutes must be > 0"):
        make(prepared_uniform, tmp_path / "run", [f"train.ckpt_every_minutes={value}"])
    assert make(prepared_uniform, tmp_path / "ok", ["train.ckpt_every_minutes=null"]).cfg.ckpt_every_minutes is None


def test_resume_drops_a_log_line_cut_by_a_kill(prepared_uniform: Path, tmp_path: Path, make: Callable[..., Trainer]) -> None:
    run = tmp_path / "run"
    make(prepared_uniform, run, ["train.steps=2"]).fit()
    with open(run / "metrics.csv", "a") as fh:
        fh.write("1")  # a kill cut a row of a longer run ("12,0,...") after its first digit: "step 1"
    make(prepared_uniform, run, ["train.steps=3"], resume=True).fit()
    rows = metric_rows(run)
    assert all(r["tag"] and r["value"] and None not in r.values() for r in rows)
    assert max(int(r["step"]) for r in rows) == 3


def test_an_l1_only_run_does_not_build_the_perceptual_loss(
        prepared_varied: Path, tmp_path: Path, make: Callable[..., Trainer]) -> None:
    """A pixel warm-up as long as the run: the GAN phase never comes, so no feature network is loaded."""
    l1_only = make(prepared_varied, tmp_path / "l1", ["losses.perceptual.weight=1", "train.steps=2", "train.pixel_warmup_steps=2"])
    assert l1_only.perceptual is None and l1_only.pixel is not None
    gan = make(prepared_varied, tmp_path / "gan", ["losses.perceptual.weight=1", "train.steps=3", "train.pixel_warmup_steps=2"])
    assert gan.perceptual is not None


def test_padding_is_masked_out_of_every_loss(prepared_varied: Path, tmp_path: Path, make: Callable[..., Trainer]) -> None:
    trainer = make(prepared_varied, tmp_path / "run", ["losses.perceptual.weight=100"])
    ds = PairedCropDataset(prepared_varied, "train")
    batch = pad_collate([ds[0], ds[4]])  # 12x16 and 24x18
    mask = batch["mask"]
    assert mask is not None and mask.min() == 0
    fake = batch["lr"] + 0.1 * torch.randn_like(batch["lr"])
    noise = (1 - mask) * torch.randn_like(fake)
    alpha = torch.tensor([0.3, 0.7])
    wgan, critic = trainer.adversarial, trainer.critic
    for f, h in ((fake, batch["hr"]), (fake + noise, batch["hr"] - noise)):
        values = [
            wgan.generator_loss(critic, f, mask),
            critic(h, mask=mask),  # with generator_loss: the critic loss's Wasserstein terms
            wgan.gradient_penalty(critic, h, f, mask, alpha=alpha),
            trainer.perceptual(f, h, mask),
            trainer.pixel(f, h, mask),
        ]
        if f is fake:
            ref = values
    for i, (got, want) in enumerate(zip(values, ref)):
        torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-6, msg=f"loss {i}")


def test_resume_refuses_changed_data(prepared_varied: Path, tiny_prepared: Path, tmp_path: Path, make: Callable[..., Trainer]) -> None:
    run = tmp_path / "run"
    make(prepared_varied, run, ["train.steps=1"]).fit()
    with pytest.raises(ck.CheckpointError, match="trained on 8 crops"):
        make(tiny_prepared, run, ["train.steps=2"], resume=True)


def test_resume_refuses_another_training_order(prepared_varied: Path, tmp_path: Path, make: Callable[..., Trainer]) -> None:
    import csv as _csv
    import shutil

    other = Path(shutil.copytree(prepared_varied, tmp_path / "other"))
    rows = list(_csv.reader(open(other / "manifest.csv")))
    with open(other / "manifest.csv", "w", newline="") as fh:
        writer = _csv.writer(fh, lineterminator="\n")
        writer.writerow(rows[0])
        writer.writerows([["b-" + r[0]] + r[1:] for r in rows[1:]])
    run = tmp_path / "run"
    make([prepared_varied, other], run, ["train.steps=1"]).fit()
    with pytest.raises(ck.CheckpointError, match=r"training order cannot be continued \(data.repeat: None -> \[2, 1\]\)"):
        make([prepared_varied, other], run, ["train.steps=2", "data.repeat=[2, 1]"], resume=True)
    with pytest.raises(ck.CheckpointError, match="not the checkpoint's in the same order"):
        make([other, prepared_varied], run, ["train.steps=2"], resume=True)
    assert make([prepared_varied, other], run, ["train.steps=2"], resume=True).step == 1


def test_the_critic_step_scales_the_gradient_penalty_by_the_critic_loss_scale(
        prepared_uniform: Path, tmp_path: Path, make: Callable[..., Trainer], monkeypatch: pytest.MonkeyPatch) -> None:
    """fp16 computed the penalty from unscaled scores (fp16 needs CUDA: the scale is injected here)."""
    trainer = make(prepared_uniform, tmp_path / "run", ["train.critic_steps=1"])
    monkeypatch.setattr(trainer.optimize.amp, "loss_scale", lambda name: {"critic": 1024.0}[name])
    seen: List[float] = []
    critic_loss = trainer.adversarial.critic_loss

    def recording(*args, scale: float = 1.0, **kwargs):
        seen.append(scale)
        return critic_loss(*args, scale=scale, **kwargs)

    monkeypatch.setattr(trainer.adversarial, "critic_loss", recording)
    trainer.train_step()
    assert seen == [1024.0]


def test_a_restoration_run_builds_no_critic(prepared_varied: Path, tmp_path: Path, make: Callable[..., Trainer]) -> None:
    """train.algorithm restoration (or a warm-up covering every step): the pixel loss alone, and no critic,
    critic optimizer or critic batch stream is built; the checkpoints hold none."""
    trainer = make(prepared_varied, tmp_path / "run", ["train.steps=2", "train.algorithm=restoration",
                                                       "train.pixel_warmup_steps=0"])
    assert trainer.critic is None and trainer.opt_c is None and trainer.c_stream is None
    trainer.fit()
    saved = ck.load_checkpoint(tmp_path / "run" / ck.LAST_NAME)
    assert saved.critic is None and set(saved.optimizers) == {"generator"} and "critic" not in saved.meta["position"]
    assert saved.meta["training"]["objective"] == "l1" and saved.meta["training"]["adversarial_steps"] == 0
    with pytest.raises(ConfigError, match="train.algorithm must be one of"):
        make(prepared_varied, tmp_path / "bad", ["train.steps=2", "train.algorithm=gan"])
    with pytest.raises(ConfigError, match="never reach the critic"):
        make(prepared_varied, tmp_path / "bad2", ["train.steps=2", "train.algorithm=adversarial", "train.pixel_warmup_steps=2"])
