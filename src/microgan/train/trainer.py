"""The training loop: steps until a stop criterion, with logging, validation and checkpoints.

What each step does is :mod:`microgan.train.step` (the paper's online WGAN-GP schedule, section
3.2); what the run is made of, :mod:`microgan.train.builder`; how it is scored,
:mod:`microgan.train.validator`; what a checkpoint holds and how a resume restores it exactly,
:mod:`microgan.train.state`. This module only runs them in order.

An *epoch* is one pass of the generator over every training crop (each ``data.repeat`` times
where set): with batch size 1 that is the paper's "trained for each example". Training stops at ``epochs``, ``steps`` or ``max_minutes``,
whichever comes first. ``last`` is written every ``ckpt_every`` steps, at least every
``ckpt_every_minutes`` (what a ``kill -9`` can lose) and at the end, ``best``
(generator only) when validation PSNR improves. A non-finite loss stops training with the crop ids
of the step, before anything is saved.
"""
from __future__ import annotations

import time
from pathlib import Path
from typing import Any, Dict, Optional, Tuple

import torch
import yaml

from microgan.core import checkpoint as ck
from microgan.core.atomic import atomic_write
from microgan.errors import MicroGANError
from microgan.train.amp import MixedPrecision
from microgan.train.builder import DataPaths, build_data, build_losses, build_networks, init_generator
from microgan.train.distributed import DistContext, init_distributed, shutdown, wrap
from microgan.train.logging import CSV_NAME, TB_DIR, RunLogger
from microgan.train.settings import check_config
from microgan.train.state import RunState, TrainingDivergedError
from microgan.train.ema import WeightAverage
from microgan.train.step import CRITIC, GANStep, phase
from microgan.train.validator import Validator

CONFIG_NAME = "config.yaml"

#: Files training writes in a run folder (temporaries of their atomic writes are ``.NAME.*.tmp``).
RUN_FILES = (ck.LAST_NAME, ck.BEST_NAME, CSV_NAME, CONFIG_NAME)


def _clear_run(out: Path) -> None:
    """Remove what training writes, nothing else: its files by name, TensorBoard's event files."""
    for name in RUN_FILES:
        (out / name).unlink(missing_ok=True)
    logs = out / TB_DIR
    if logs.is_dir():
        for event in sorted(logs.rglob("events.out.tfevents.*"), key=lambda p: -len(p.parts)):
            event.unlink()
        for folder in sorted((p for p in logs.rglob("*") if p.is_dir()), key=lambda p: -len(p.parts)) + [logs]:
            if not any(folder.iterdir()):
                folder.rmdir()


def prepare_run_dir(out: Path, resume: bool, overwrite: bool) -> bool:
    """Refuse to mix runs: a RUN with checkpoints is continued (``resume``) or explicitly
    replaced (``overwrite``, which removes only what training writes). Returns whether there is a
    checkpoint to resume from: ``resume`` on a run stopped before its first checkpoint starts it
    again (its logs and config are removed); a run with ``best`` but no ``last`` is refused, never
    cleared (``best`` is a trained model). Temporary files of an atomic
    write interrupted by ``kill -9`` are removed (the file they were replacing is intact)."""
    if out.exists() and not out.is_dir():
        raise MicroGANError(f"{out}: exists and is not a folder (--out names the run folder)")
    for name in RUN_FILES:
        for tmp in out.glob(f".{name}.*.tmp"):
            tmp.unlink(missing_ok=True)
    has_ckpt = any((out / n).is_file() for n in (ck.LAST_NAME, ck.BEST_NAME))
    if resume:
        if (out / ck.LAST_NAME).is_file():
            return True
        if (out / ck.BEST_NAME).is_file():  # a trained model without the state to continue: never deleted
            raise MicroGANError(
                f"{out}: holds {ck.BEST_NAME} but no {ck.LAST_NAME}, the exact state a run resumes from; "
                f"continue from the model with --init-from {out / ck.BEST_NAME} --out NEW_FOLDER, or pass "
                "--overwrite to replace this run")
        _clear_run(out)
    elif has_ckpt and not overwrite:
        raise MicroGANError(f"{out}: run folder already holds checkpoints; pass --resume to continue it or --overwrite to start again")
    elif overwrite:
        _clear_run(out)
    out.mkdir(parents=True, exist_ok=True)
    return False


# --------------------------------------------------------------------------------------- trainer


class Trainer:
    """Builds a run from a config (:mod:`~microgan.train.builder`) and runs it (:meth:`fit`).

    ``resume`` loads ``out/last.safetensors``; the caller decides which config to pass (the
    command line uses the checkpoint's own, plus any overrides).
    """

    def __init__(
        self,
        config: Dict[str, Any],
        data: DataPaths,
        out: Path,
        ctx: DistContext,
        resume: bool = False,
        quiet: bool = False,
        init_from: Optional[str] = None,
    ) -> None:
        self.config = config
        self.out = Path(out)
        self.ctx = ctx
        self.data_cfg, self.cfg = check_config(config)
        self.device = ctx.device
        if self.cfg.threads:
            torch.set_num_threads(self.cfg.threads)
        amp = MixedPrecision(self.cfg.precision, self.device)
        memory_format = torch.channels_last if self.cfg.channels_last else torch.contiguous_format

        self.data = build_data(config, data, self.data_cfg, self.cfg, ctx)
        self.nets = build_networks(config, self.cfg, self.device, memory_format)
        self.losses = build_losses(config, self.cfg, self.device)
        started_from = init_generator(self.nets.generator, init_from) if init_from is not None and not resume else None
        if self.cfg.ema_decay is not None:  # after --init-from: the average starts from the weights training starts from
            self.nets.average = WeightAverage(self.nets.generator, self.cfg.ema_decay)
        self.state = RunState(config, self.out, ctx, self.nets, self.data, amp, init_from=started_from)
        rng = self.state.load(self.state.last_path) if resume else None
        self.state.seed_rng(rng, self.cfg.seed)
        critic_ddp = wrap(self.nets.critic, ctx) if self.nets.critic is not None else None
        self.optimize = GANStep(self.nets, wrap(self.nets.generator, ctx), critic_ddp, self.losses, amp, self.cfg, memory_format)
        self.validator = Validator(self.data.val_set, self.device, memory_format, self.cfg.val_samples)
        self.log = RunLogger(self.out, ctx.is_main, self.state.step if resume else None, quiet, self._total_steps())

    # ----------------------------------------------------------------------------- parts, by name

    generator = property(lambda self: self.nets.generator)
    critic = property(lambda self: self.nets.critic)
    opt_g = property(lambda self: self.nets.opt_g)
    opt_c = property(lambda self: self.nets.opt_c)
    train_set = property(lambda self: self.data.train_set)
    g_stream = property(lambda self: self.data.g_stream)
    c_stream = property(lambda self: self.data.c_stream)
    adversarial = property(lambda self: self.losses.adversarial)
    perceptual = property(lambda self: self.losses.perceptual)
    pixel = property(lambda self: self.losses.pixel)

    @property
    def step(self) -> int:
        """Generator steps completed."""
        return self.state.step

    @step.setter
    def step(self, value: int) -> None:
        self.state.step = value

    def _total_steps(self) -> Optional[int]:
        by_epochs = self.cfg.epochs * len(self.g_stream.sampler) if self.cfg.epochs else None
        candidates = [s for s in (self.cfg.steps, by_epochs) if s]
        return min(candidates) if candidates else None

    def save_last(self) -> None:
        """Write ``last`` (all ranks must call: RNG states are gathered; rank 0 writes)."""
        self.state.save_last()

    def train_step(self) -> Tuple[Dict[str, float], int, int]:
        """One generator update (and its critic updates); returns stats, the generator batch's
        crop count and its real (unpadded) pixel count."""
        result = self.optimize(self.step, self.g_stream, self.c_stream)
        if self.nets.average is not None and phase(self.cfg, self.step) != CRITIC:
            self.nets.average.update(self.generator)
        self.step += 1
        return result

    def input_scores(self) -> Dict[str, float]:
        """PSNR/SSIM of the degraded input itself: the baseline the generator must beat."""
        return self.validator.input_scores()

    def validate(self) -> Dict[str, float]:
        """Mean PSNR/SSIM of the kept generator (the moving average where there is one) on the capped
        val set, logging LR | SR | HR strips; with an average, also the live weights' (``*_live``),
        which show what the average is worth."""
        scores = self.validator(self.nets.kept, lambda tag, image: self.log.image(self.step, tag, image))
        if self.nets.average is not None:
            live = self.validator(self.generator, lambda tag, image: None)
            scores.update({f"{k}_live": v for k, v in live.items()})
        return scores

    # ----------------------------------------------------------------------------- loop

    def _stop_reason(self) -> Optional[str]:
        if self.cfg.steps and self.step >= self.cfg.steps:
            return f"reached {self.cfg.steps} steps"
        if self.cfg.epochs and self.g_stream.epoch >= self.cfg.epochs:
            return f"reached {self.cfg.epochs} epochs"
        return None

    def _end_of_step(self, started: float, saved: float) -> Tuple[Optional[str], bool]:
        """The stop reason (or None) and whether ``last`` is due by time (``ckpt_every_minutes``
        since ``saved``). Ranks agree on divergence and on both clocks (clocks differ per rank)."""
        now = time.monotonic()
        timed_out = bool(self.cfg.max_minutes) and now - started >= self.cfg.max_minutes * 60
        due = bool(self.cfg.ckpt_every_minutes) and now - saved >= self.cfg.ckpt_every_minutes * 60
        bad, timed_out, due = self.ctx.any_flags([self.optimize.bad is not None, timed_out, due])
        if bad:
            reports = [r for r in self.ctx.gather(self.optimize.bad) if r]
            raise TrainingDivergedError(f"{'; '.join(reports)}; stopped, {self.state.last_path} is the last good checkpoint")
        return self._stop_reason() or (f"reached {self.cfg.max_minutes} minutes" if timed_out else None), due

    def _validate_and_keep_best(self) -> None:
        if self.ctx.is_main:
            scores = self.validate()
            state = self.state
            state.last_val = scores
            self.log.scalars(self.step, self.g_stream.epoch, {f"val/{k}": v for k, v in scores.items()})
            if scores["psnr"] > state.best_psnr:
                state.best_psnr = scores["psnr"]
                state.save_best()
        self.ctx.barrier()

    def fit(self) -> Dict[str, Any]:
        """Train until a stop criterion; returns a summary (steps, epochs, reason, val scores)."""
        started = saved = time.monotonic()
        if self.ctx.is_main:
            text = yaml.safe_dump(self.config, sort_keys=False)
            atomic_write(self.out / CONFIG_NAME, lambda tmp: Path(tmp).write_text(text))
            if self.step == 0:
                base = self.input_scores()
                self.log.scalars(0, 0, {f"val/{k}_input": v for k, v in base.items()})
                self.log.message(f"input (degraded) val PSNR {base['psnr']:.2f} dB, SSIM {base['ssim']:.4f}")
        for note in self.state.notes:
            self.log.message(note)
        reason = self._stop_reason()
        sums: Dict[str, float] = {}
        count, images, pixels, tick = 0, 0, 0, time.monotonic()
        try:
            while reason is None:
                stats, n, px = self.train_step()
                for k, v in stats.items():
                    sums[k] = sums.get(k, 0.0) + v
                count, images, pixels = count + 1, images + n, pixels + px
                reason, ckpt_due = self._end_of_step(started, saved)
                # images/s counts generator crops on all ranks: the speed at which epochs go by
                seconds = max(time.monotonic() - tick, 1e-9)
                speed = images * self.ctx.world_size / seconds
                shown = {"G": stats.get("generator/loss"), "C": stats.get("critic/loss"), "img/s": speed}
                self.log.progress(1, {k: v for k, v in shown.items() if v is not None})
                if self.step % self.cfg.log_every == 0 or reason:
                    means = {f"train/{k}": v / count for k, v in sums.items()}
                    rates = {"train/images_per_s": speed, "train/megapixels_per_s": pixels * self.ctx.world_size / seconds / 1e6}
                    self.log.scalars(self.step, self.g_stream.epoch, {**means, **rates})
                    sums, count, images, pixels, tick = {}, 0, 0, 0, time.monotonic()
                if self.step % self.cfg.val_every == 0 or reason:
                    self._validate_and_keep_best()
                if self.step % self.cfg.ckpt_every == 0 or ckpt_due or reason:
                    self.save_last()
                    saved = time.monotonic()
        finally:
            self.log.close()
        return {"step": self.step, "epoch": self.g_stream.epoch, "reason": reason, "val": dict(self.state.last_val),
                "best_psnr": self.state.best_psnr, "elapsed_s": time.monotonic() - started}


def run_training(
    config: Dict[str, Any],
    data: DataPaths,
    out: Path,
    *,
    resume: bool = False,
    overwrite: bool = False,
    quiet: bool = False,
    device: str = "auto",
    init_from: Optional[str] = None,
) -> Dict[str, Any]:
    """Train in this process (joining the ``torchrun`` process group if there is one).

    Rank 0 alone checks the run folder; its verdict is shared so that every rank stops together
    on a refusal instead of waiting for rank 0 at the first collective. ``resume`` on a run that
    holds no checkpoint yet starts it again (see :func:`prepare_run_dir`).
    """
    check_config(config)  # before --overwrite empties the run folder
    ctx = init_distributed(device)
    try:
        error, resumable = None, False
        if ctx.is_main:
            try:
                resumable = prepare_run_dir(Path(out), resume, overwrite)
            except MicroGANError as exc:
                error = str(exc)
        error, resumable = ctx.gather((error, resumable))[0]
        if error:
            raise MicroGANError(error)
        return Trainer(config, data, Path(out), ctx, resume=resumable, quiet=quiet, init_from=init_from).fit()
    finally:
        shutdown(ctx)
