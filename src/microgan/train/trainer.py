"""The GAN training loop: the paper's online WGAN-GP schedule (section 3.2), resumable and distributed.

Schedule. A *step* is one generator update. Before it the critic is updated ``critic_steps`` times
(paper: "the critic network is trained 4 times more than the generator"), each time on a fresh batch
from its own shuffled stream (``critic_batches: fresh``), or ``critic_steps`` times on the
generator's batch (``same``, as DeblurGAN's code does). An *epoch* is one pass of the generator over
every training crop: with batch size 1 that is the paper's "trained for each example", and the
critic then sees every crop ``critic_steps`` times per epoch. Generator loss: WGAN generator loss +
``perceptual.weight`` x perceptual (+ ``pixel.weight`` x pixel); an optional pixel-only warm-up
comes first (its steps count as steps and toward epochs). Training stops at ``epochs``, ``steps``
or ``max_minutes``, whichever comes first.

Reproducibility. The data order is a function of ``(seed, epoch)`` (see
:mod:`microgan.data.samplers`), the only other randomness is torch's RNG (gradient-penalty
interpolation), and a checkpoint holds weights, optimizer and AMP scaler states, every rank's RNG
state and both streams' positions, so ``resume`` continues the same computation.

Safety. Checkpoints are written atomically by :mod:`microgan.core.checkpoint`; ``last`` every
``ckpt_every`` steps and at the end, ``best`` (generator only) when validation PSNR improves. A
non-finite loss stops training with the crop ids of the step, before anything is saved; weights
are also checked before every save, so ``last`` is never overwritten by a diverged model.
"""
from __future__ import annotations

import contextlib
import math
import shutil
import time
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, Dict, Iterator, List, Optional, Tuple

import numpy as np
import torch
import yaml

from microgan.data.datasets import PairedCropDataset
from microgan.data.samplers import DEFAULT_BUCKET_RATIO, BatchStream, BucketBatchSampler
from microgan.errors import ConfigError, MicroGANError
from microgan.core import checkpoint as ck
from microgan.train.distributed import DistContext, wrap
from microgan.train.logging import CSV_NAME, TB_DIR, RunLogger

CONFIG_NAME = "config.yaml"
PRECISIONS = ("fp32", "bf16", "fp16")


class TrainingDivergedError(MicroGANError):
    """A loss became NaN/Inf (or the weights did); the last checkpoint on disk is still good."""


# --------------------------------------------------------------------------------------- settings


def _settings(cls: type, section: Dict[str, Any], name: str) -> Any:
    known = {f.name for f in fields(cls)}
    unknown = sorted(set(section) - known)
    if unknown:
        raise ConfigError(f"unknown '{name}' setting(s): {', '.join(unknown)} (known: {', '.join(sorted(known))})")
    return cls(**section)


@dataclass
class DataSettings:
    """The config's ``data:`` section."""

    resize_to: Optional[int] = None  # 128 for MicroGAN-FS only
    batching: str = "single"  # single (paper: batch of one) | bucket (size-bucketed batches)
    batch_size: int = 1  # per process
    bucket_ratio: float = DEFAULT_BUCKET_RATIO
    num_workers: int = 0

    def __post_init__(self) -> None:
        if self.batching not in ("single", "bucket"):
            raise ConfigError(f"data.batching must be 'single' or 'bucket', got '{self.batching}'")
        if self.batching == "single" and self.batch_size != 1 and not self.resize_to:
            raise ConfigError("data.batching 'single' trains on one crop at a time: set data.batch_size=1 or data.batching=bucket")
        if self.batch_size < 1:
            raise ConfigError(f"data.batch_size must be >= 1, got {self.batch_size}")


LR_SCHEDULES = ("constant", "cosine")


def scheduled_lr(settings: "TrainSettings", step: int) -> float:
    """The learning rate of both optimizers at ``step``: constant, or a cosine from the configured
    rate down to ``lr_min`` at ``steps``. A function of the step alone, so a resumed run sets exactly
    the rate the uninterrupted run would have (nothing extra to checkpoint)."""
    base = float(settings.optimizer["lr"])
    if settings.lr_schedule == "constant":
        return base
    progress = min(step / settings.steps, 1.0)
    return settings.lr_min + 0.5 * (base - settings.lr_min) * (1.0 + math.cos(math.pi * progress))


@dataclass
class TrainSettings:
    """The config's ``train:`` section (see the bundled configs for what each key means)."""

    epochs: Optional[int] = 200
    steps: Optional[int] = None
    max_minutes: Optional[float] = None
    optimizer: Dict[str, Any] = field(default_factory=dict)
    lr_schedule: str = "constant"
    lr_min: float = 0.0
    critic_steps: int = 4
    critic_batches: str = "fresh"
    pixel_warmup_steps: int = 0
    precision: str = "fp32"
    channels_last: bool = False
    val_every: int = 1000
    val_max_crops: int = 64
    val_samples: int = 4
    ckpt_every: int = 500
    log_every: int = 50
    seed: int = 0
    threads: Optional[int] = None  # torch intra-op threads; None = torch's default (all cores)

    def __post_init__(self) -> None:
        self.optimizer = {"lr": 1.0e-4, "betas": [0.9, 0.999], **self.optimizer}
        if self.precision not in PRECISIONS:
            raise ConfigError(f"train.precision must be one of {', '.join(PRECISIONS)}, got '{self.precision}'")
        if self.lr_schedule not in LR_SCHEDULES:
            raise ConfigError(f"train.lr_schedule must be one of {', '.join(LR_SCHEDULES)}, got '{self.lr_schedule}'")
        if self.lr_schedule == "cosine" and not self.steps:
            raise ConfigError("train.lr_schedule cosine decays over train.steps: set train.steps (or --steps)")
        if self.critic_batches not in ("fresh", "same"):
            raise ConfigError(f"train.critic_batches must be 'fresh' or 'same', got '{self.critic_batches}'")
        if self.critic_steps < 1:
            raise ConfigError(f"train.critic_steps must be >= 1, got {self.critic_steps}")
        if not (self.epochs or self.steps or self.max_minutes):
            raise ConfigError("training never stops: set train.epochs, train.steps or train.max_minutes")
        for key in ("val_every", "ckpt_every", "log_every"):
            if getattr(self, key) < 1:
                raise ConfigError(f"train.{key} must be >= 1")


# --------------------------------------------------------------------------------------- pieces


class Precision:
    """fp32, bf16 autocast (CPU or CUDA) or fp16 autocast with loss scaling (CUDA only).

    One GradScaler per optimizer because the critic steps more often than the generator and a
    scaler's ``update`` must follow each of its optimizer's steps. Disabled scalers pass through.
    """

    def __init__(self, mode: str, device: torch.device) -> None:
        if mode == "fp16" and device.type != "cuda":
            raise ConfigError("train.precision fp16 needs CUDA (loss scaling); use bf16 on CPU")
        self.mode = mode
        self.device = device
        self.dtype = {"bf16": torch.bfloat16, "fp16": torch.float16}.get(mode)
        self.scalers = {k: torch.amp.GradScaler(device.type, enabled=mode == "fp16") for k in ("generator", "critic")}

    def autocast(self) -> contextlib.AbstractContextManager:
        if self.dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(self.device.type, dtype=self.dtype)

    def step(self, name: str, loss: torch.Tensor, optimizer: torch.optim.Optimizer) -> None:
        scaler = self.scalers[name]
        scaler.scale(loss).backward()
        scaler.step(optimizer)
        scaler.update()


def _to_uint8(x: torch.Tensor) -> np.ndarray:
    """(C, H, W) in [-1, 1] -> (H, W[, C]) uint8, as images are written."""
    arr = ((x.float().clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8).cpu().numpy()
    return arr[0] if arr.shape[0] == 1 else arr.transpose(1, 2, 0)


def _weighted_loss(spec: Optional[Dict[str, Any]]) -> Tuple[Optional[torch.nn.Module], float]:
    """Build a loss from ``{"type", "weight", ...}``; a zero or missing weight builds nothing."""
    from microgan.losses import build_loss

    if not spec:
        return None, 0.0
    spec = dict(spec)
    weight = float(spec.pop("weight", 1.0))
    return (build_loss(spec) if weight else None), weight


def prepare_run_dir(out: Path, resume: bool, overwrite: bool) -> None:
    """Refuse to mix runs: a RUN with checkpoints is continued (``resume``) or explicitly
    replaced (``overwrite``, which removes only what training writes). Temporary files of a
    checkpoint write interrupted by ``kill -9`` are removed (the checkpoint itself is intact)."""
    for name in (ck.LAST_NAME, ck.BEST_NAME):
        for tmp in out.glob(f".{name}.*.tmp"):
            tmp.unlink(missing_ok=True)
    has_ckpt = any((out / n).is_file() for n in (ck.LAST_NAME, ck.BEST_NAME))
    if resume:
        if not (out / ck.LAST_NAME).is_file():
            raise MicroGANError(f"{out}: nothing to resume ({ck.LAST_NAME} not found)")
        return
    if has_ckpt and not overwrite:
        raise MicroGANError(f"{out}: run folder already holds checkpoints; pass --resume to continue it or --overwrite to start again")
    if overwrite:
        for name in (ck.LAST_NAME, ck.BEST_NAME, CSV_NAME, CONFIG_NAME):
            (out / name).unlink(missing_ok=True)
        shutil.rmtree(out / TB_DIR, ignore_errors=True)
    out.mkdir(parents=True, exist_ok=True)


# --------------------------------------------------------------------------------------- trainer


class Trainer:
    """Builds everything a run needs from a config and runs it (:meth:`fit`).

    ``resume`` loads ``out/last.safetensors``; the caller decides which config to pass (the
    command line uses the checkpoint's own, plus any overrides).
    """

    def __init__(self, config: Dict[str, Any], data: Path, out: Path, ctx: DistContext, resume: bool = False, quiet: bool = False) -> None:
        from microgan.archs import build_critic, build_generator

        self.config = config
        self.out = Path(out)
        self.ctx = ctx
        self.data_cfg: DataSettings = _settings(DataSettings, config.get("data") or {}, "data")
        self.cfg: TrainSettings = _settings(TrainSettings, config.get("train") or {}, "train")
        self.device = ctx.device
        if self.cfg.threads:
            torch.set_num_threads(self.cfg.threads)
        self.precision = Precision(self.cfg.precision, self.device)
        self.memory_format = torch.channels_last if self.cfg.channels_last else torch.contiguous_format

        channels = int(config["generator"].get("in_channels", 3))
        self.train_set = PairedCropDataset(data, "train", resize_to=self.data_cfg.resize_to, channels=channels)
        # validation always at native size: the generator is applied to native crops at inference
        self.val_set = PairedCropDataset(data, "val", channels=channels, limit=self.cfg.val_max_crops)
        sizes = self.train_set.sizes()
        bs, seed = self.data_cfg.batch_size, self.cfg.seed
        g_sampler = BucketBatchSampler(sizes, bs, seed, ctx.rank, ctx.world_size, self.data_cfg.bucket_ratio)
        c_sampler = BucketBatchSampler(sizes, bs, seed + 1, ctx.rank, ctx.world_size, self.data_cfg.bucket_ratio)
        self.g_stream = BatchStream(self.train_set, g_sampler, num_workers=self.data_cfg.num_workers)
        self.c_stream = BatchStream(self.train_set, c_sampler, num_workers=self.data_cfg.num_workers)

        torch.manual_seed(seed)  # same initial weights on every rank and for every world size
        self.generator = build_generator(config["generator"]).to(self.device, memory_format=self.memory_format)
        self.critic = build_critic(config["critic"]).to(self.device, memory_format=self.memory_format)
        opt = self.cfg.optimizer
        self.opt_g = torch.optim.Adam(self.generator.parameters(), lr=float(opt["lr"]), betas=tuple(opt["betas"]))
        self.opt_c = torch.optim.Adam(self.critic.parameters(), lr=float(opt["lr"]), betas=tuple(opt["betas"]))

        losses = config.get("losses") or {}
        self.adversarial, _ = _weighted_loss(losses.get("adversarial"))
        if self.adversarial is None:
            raise ConfigError("losses.adversarial is required (the WGAN-GP loss)")
        self.perceptual, self.w_perceptual = _weighted_loss(losses.get("perceptual"))
        self.pixel, self.w_pixel = _weighted_loss(losses.get("pixel"))
        if self.cfg.pixel_warmup_steps and self.pixel is None:
            self.pixel = _weighted_loss({**losses.get("pixel", {"type": "l1"}), "weight": 1.0})[0]
        for loss in (self.adversarial, self.perceptual, self.pixel):
            if isinstance(loss, torch.nn.Module):
                loss.to(self.device)

        self.step = 0
        self.notes: List[str] = []
        self.best_psnr = -math.inf
        self.last_val: Dict[str, float] = {}
        rng = None
        if resume:
            rng = self._load(self.out / ck.LAST_NAME)
        self._seed_rng(rng)
        self.generator_ddp = wrap(self.generator, ctx)
        self.critic_ddp = wrap(self.critic, ctx)
        total = self._total_steps()
        self.log = RunLogger(self.out, ctx.is_main, self.step if resume else None, quiet, total)
        self._val_cache: Optional[List[Dict[str, Any]]] = None
        self._bad: Optional[str] = None

    # ----------------------------------------------------------------------------- state

    def _total_steps(self) -> Optional[int]:
        by_epochs = self.cfg.epochs * len(self.g_stream.sampler) if self.cfg.epochs else None
        candidates = [s for s in (self.cfg.steps, by_epochs) if s]
        return min(candidates) if candidates else None

    def _seed_rng(self, saved: Optional[Dict[str, List[torch.Tensor]]]) -> None:
        """Restore this rank's RNG state, or seed it (ranks differ: independent penalty samples)."""
        if saved and len(saved.get("torch", [])) == self.ctx.world_size:
            torch.set_rng_state(saved["torch"][self.ctx.rank])
            if self.device.type == "cuda" and saved.get("cuda"):
                torch.cuda.set_rng_state(saved["cuda"][self.ctx.rank], self.device)
            return
        if saved:
            self.notes.append(f"resumed with {self.ctx.world_size} processes instead of {len(saved.get('torch', []))}: RNG re-seeded")
        torch.manual_seed(self.cfg.seed * 7919 + self.ctx.rank + self.step)

    def _rng_state(self) -> Dict[str, List[torch.Tensor]]:
        state = {"torch": torch.get_rng_state()}
        if self.device.type == "cuda":
            state["cuda"] = torch.cuda.get_rng_state(self.device)
        gathered = self.ctx.gather(state)
        return {k: [g[k] for g in gathered] for k in state}

    def _meta(self) -> Dict[str, Any]:
        return {
            "config": self.config,
            "step": self.step,
            "epoch": self.g_stream.epoch,
            "metrics": self.last_val,
            "best_psnr": None if self.best_psnr == -math.inf else self.best_psnr,
            "position": {"generator": self.g_stream.state(), "critic": self.c_stream.state()},
            "world_size": self.ctx.world_size,
            "train_crops": len(self.train_set),
        }

    def _check_weights(self) -> None:
        for name, net in (("generator", self.generator), ("critic", self.critic)):
            if not all(torch.isfinite(p).all() for p in net.parameters()):
                raise TrainingDivergedError(f"{name} weights became NaN/Inf at step {self.step}; {self.out / ck.LAST_NAME} kept from before")

    def save_last(self) -> None:
        """Write ``last`` (all ranks must call: RNG states are gathered; rank 0 writes)."""
        self._check_weights()
        rng = self._rng_state()
        if not self.ctx.is_main:
            return
        optimizers = {"generator": self.opt_g.state_dict(), "critic": self.opt_c.state_dict()}
        if self.precision.mode == "fp16":
            optimizers.update({f"scaler_{k}": s.state_dict() for k, s in self.precision.scalers.items()})
        ckpt = ck.Checkpoint(meta=self._meta(), generator=self.generator.state_dict(), critic=self.critic.state_dict(), optimizers=optimizers, rng=rng)
        ck.save_checkpoint(self.out / ck.LAST_NAME, ckpt)

    def _save_best(self) -> None:
        ck.save_checkpoint(self.out / ck.BEST_NAME, ck.Checkpoint(meta=self._meta(), generator=self.generator.state_dict()))

    def _load(self, path: Path) -> Dict[str, Any]:
        state = ck.load_checkpoint(path)
        meta = state.meta
        try:
            self.generator.load_state_dict(state.generator)
            self.critic.load_state_dict(state.critic or {})
            self.opt_g.load_state_dict(state.optimizers["generator"])
            self.opt_c.load_state_dict(state.optimizers["critic"])
        except (RuntimeError, KeyError, ValueError) as exc:
            first = str(exc).strip().splitlines()[0]
            raise ck.CheckpointError(f"{path}: does not match this run's networks ({first})") from None
        for k, scaler in self.precision.scalers.items():
            if f"scaler_{k}" in state.optimizers:
                scaler.load_state_dict(state.optimizers[f"scaler_{k}"])
        if meta.get("train_crops") != len(self.train_set):
            raise ck.CheckpointError(
                f"{path}: the checkpoint was trained on {meta.get('train_crops')} crops, the data now has "
                f"{len(self.train_set)}: the data order cannot be continued (start a new run)"
            )
        self.step = int(meta["step"])
        self.best_psnr = meta["best_psnr"] if meta.get("best_psnr") is not None else -math.inf
        self.last_val = dict(meta.get("metrics") or {})
        for stream, key in ((self.g_stream, "generator"), (self.c_stream, "critic")):
            stream.epoch, stream.index = meta["position"][key]["epoch"], meta["position"][key]["index"]
        return state.rng

    # ----------------------------------------------------------------------------- steps

    def _batch(self, batch: Dict[str, Any]) -> Tuple[torch.Tensor, torch.Tensor, Optional[torch.Tensor]]:
        def move(t: torch.Tensor) -> torch.Tensor:
            return t.to(self.device, non_blocking=True).contiguous(memory_format=self.memory_format)

        mask = batch["mask"]
        return move(batch["lr"]), move(batch["hr"]), (mask.to(self.device, non_blocking=True) if mask is not None else None)

    def _finite(self, loss: torch.Tensor, what: str, ids: List[str]) -> None:
        if self._bad is None and not torch.isfinite(loss.detach()).item():
            self._bad = f"non-finite {what} loss at step {self.step + 1} (crops: {', '.join(ids)})"

    def fake(self, batch: Dict[str, Any]) -> torch.Tensor:
        """Generator output for the critic (no gradient, no DDP sync)."""
        with torch.no_grad(), self.precision.autocast():
            return self.generator(self._batch(batch)[0]).float()

    def critic_step(self, batch: Dict[str, Any], fake: Optional[torch.Tensor] = None) -> Dict[str, float]:
        """One critic update; ``fake`` may be given when the batch's generator output is known."""
        _, hr, mask = self._batch(batch)
        if fake is None:
            fake = self.fake(batch)
        self.opt_c.zero_grad(set_to_none=True)
        with self.precision.autocast():
            loss, stats = self.adversarial.critic_loss(self.critic_ddp, hr, fake, mask)
        self._finite(loss, "critic", batch["id"])
        self.precision.step("critic", loss, self.opt_c)
        return {"critic/loss": float(loss.detach()), **{f"critic/{k}": float(v) for k, v in stats.items()}}

    def generator_step(self, batch: Dict[str, Any], warmup: bool) -> Dict[str, float]:
        lr, hr, mask = self._batch(batch)
        self.opt_g.zero_grad(set_to_none=True)
        self.critic.requires_grad_(False)  # the plain critic: no critic gradients, no DDP sync
        try:
            with self.precision.autocast():
                fake = self.generator_ddp(lr).float()
                terms: Dict[str, torch.Tensor] = {}
                if warmup:
                    terms["pixel"] = self.pixel(fake, hr, mask)
                else:
                    terms["adversarial"] = self.adversarial.generator_loss(self.critic, fake, mask)
                    if self.perceptual is not None:
                        terms["perceptual"] = self.w_perceptual * self.perceptual(fake, hr, mask)
                    if self.pixel is not None and self.w_pixel:
                        terms["pixel"] = self.w_pixel * self.pixel(fake, hr, mask)
                loss = sum(terms.values())
            self._finite(loss, "generator", batch["id"])
            self.precision.step("generator", loss, self.opt_g)
        finally:
            self.critic.requires_grad_(True)
        return {"generator/loss": float(loss.detach()), **{f"generator/{k}": float(v.detach()) for k, v in terms.items()}}

    def train_step(self) -> Tuple[Dict[str, float], int, int]:
        """One generator update (and its critic updates); returns stats, the generator batch's
        crop count and its real (unpadded) pixel count."""
        warmup = self.step < self.cfg.pixel_warmup_steps
        rate = scheduled_lr(self.cfg, self.step)
        for opt in (self.opt_g, self.opt_c):
            for group in opt.param_groups:
                group["lr"] = rate
        stats: Dict[str, float] = {"lr": rate}
        g_batch = next(self.g_stream)
        if not warmup:
            # same batch: the generator does not change during the critic updates, so one fake serves all
            same_fake = self.fake(g_batch) if self.cfg.critic_batches == "same" else None
            for _ in range(self.cfg.critic_steps):
                c_batch = g_batch if same_fake is not None else next(self.c_stream)
                for k, v in self.critic_step(c_batch, same_fake).items():
                    stats[k] = stats.get(k, 0.0) + v / self.cfg.critic_steps
        stats.update(self.generator_step(g_batch, warmup))
        self.step += 1
        mask, hr = g_batch["mask"], g_batch["hr"]
        pixels = int(mask.sum()) if mask is not None else hr.shape[0] * hr.shape[-2] * hr.shape[-1]
        return stats, len(g_batch["id"]), pixels

    # ----------------------------------------------------------------------------- validation

    def _val_samples(self) -> List[Dict[str, Any]]:
        if self._val_cache is None:
            self._val_cache = [self.val_set[i] for i in range(len(self.val_set))]
        return self._val_cache

    @staticmethod
    def _scores(pairs: Iterator[Tuple[torch.Tensor, torch.Tensor]]) -> Dict[str, float]:
        from microgan.core.metrics import psnr, ssim

        p, s = [], []
        for out, ref in pairs:
            a, b = _to_uint8(out), _to_uint8(ref)
            p.append(psnr(a, b))
            s.append(ssim(a, b))
        return {"psnr": float(np.mean(p)), "ssim": float(np.nanmean(s)) if not np.isnan(s).all() else math.nan}

    def input_scores(self) -> Dict[str, float]:
        """PSNR/SSIM of the degraded input itself: the baseline the generator must beat."""
        return self._scores((s["lr"], s["hr"]) for s in self._val_samples())

    @torch.no_grad()
    def validate(self) -> Dict[str, float]:
        """Mean PSNR/SSIM of the generator (fp32, eval mode, native sizes) on the capped val set;
        logs the first ``val_samples`` crops as LR | SR | HR strips."""
        net = self.generator
        net.eval()
        outs = []
        for sample in self._val_samples():
            lr = sample["lr"][None].to(self.device).contiguous(memory_format=self.memory_format)
            outs.append(net(lr)[0].float().clamp(-1, 1).cpu())
        net.train()
        samples = self._val_samples()
        scores = self._scores(zip(outs, (s["hr"] for s in samples)))
        for s, out in list(zip(samples, outs))[: self.cfg.val_samples]:
            strip = torch.cat([s["lr"], out, s["hr"]], dim=-1)
            self.log.image(self.step, f"samples/{s['id']}", (strip + 1) / 2)
        return scores

    # ----------------------------------------------------------------------------- loop

    def _stop_reason(self) -> Optional[str]:
        if self.cfg.steps and self.step >= self.cfg.steps:
            return f"reached {self.cfg.steps} steps"
        if self.cfg.epochs and self.g_stream.epoch >= self.cfg.epochs:
            return f"reached {self.cfg.epochs} epochs"
        return None

    def _end_of_step(self, started: float) -> Optional[str]:
        """Agree across ranks on divergence and on the time limit (clocks differ per rank)."""
        timed_out = bool(self.cfg.max_minutes) and time.monotonic() - started >= self.cfg.max_minutes * 60
        bad, timed_out = self.ctx.any_flags([self._bad is not None, timed_out])
        if bad:
            reports = [r for r in self.ctx.gather(self._bad) if r]
            raise TrainingDivergedError(f"{'; '.join(reports)}; stopped, {self.out / ck.LAST_NAME} is the last good checkpoint")
        return self._stop_reason() or (f"reached {self.cfg.max_minutes} minutes" if timed_out else None)

    def _validate_and_keep_best(self) -> None:
        if self.ctx.is_main:
            scores = self.validate()
            self.last_val = scores
            self.log.scalars(self.step, self.g_stream.epoch, {f"val/{k}": v for k, v in scores.items()})
            if scores["psnr"] > self.best_psnr:
                self.best_psnr = scores["psnr"]
                self._save_best()
        self.ctx.barrier()

    def fit(self) -> Dict[str, Any]:
        """Train until a stop criterion; returns a summary (steps, epochs, reason, val scores)."""
        started = time.monotonic()
        if self.ctx.is_main:
            (self.out / CONFIG_NAME).write_text(yaml.safe_dump(self.config, sort_keys=False))
            if self.step == 0:
                base = self.input_scores()
                self.log.scalars(0, 0, {f"val/{k}_input": v for k, v in base.items()})
                self.log.message(f"input (degraded) val PSNR {base['psnr']:.2f} dB, SSIM {base['ssim']:.4f}")
        for note in self.notes:
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
                reason = self._end_of_step(started)
                # images/s counts generator crops on all ranks: the speed at which epochs go by
                seconds = max(time.monotonic() - tick, 1e-9)
                speed = images * self.ctx.world_size / seconds
                shown = {"G": stats["generator/loss"], "C": stats.get("critic/loss"), "img/s": speed}
                self.log.progress(1, {k: v for k, v in shown.items() if v is not None})
                if self.step % self.cfg.log_every == 0 or reason:
                    means = {f"train/{k}": v / count for k, v in sums.items()}
                    rates = {"train/images_per_s": speed, "train/megapixels_per_s": pixels * self.ctx.world_size / seconds / 1e6}
                    self.log.scalars(self.step, self.g_stream.epoch, {**means, **rates})
                    sums, count, images, pixels, tick = {}, 0, 0, 0, time.monotonic()
                if self.step % self.cfg.val_every == 0 or reason:
                    self._validate_and_keep_best()
                if self.step % self.cfg.ckpt_every == 0 or reason:
                    self.save_last()
        finally:
            self.log.close()
        return {"step": self.step, "epoch": self.g_stream.epoch, "reason": reason, "val": dict(self.last_val),
                "best_psnr": self.best_psnr, "elapsed_s": time.monotonic() - started}


def run_training(
    config: Dict[str, Any],
    data: Path,
    out: Path,
    *,
    resume: bool = False,
    overwrite: bool = False,
    quiet: bool = False,
    device: str = "auto",
) -> Dict[str, Any]:
    """Train in this process (joining the ``torchrun`` process group if there is one).

    Rank 0 alone checks the run folder; its verdict is shared so that every rank stops together
    on a refusal instead of waiting for rank 0 at the first collective.
    """
    from microgan.train.distributed import init_distributed, shutdown

    ctx = init_distributed(device)
    try:
        error = None
        if ctx.is_main:
            try:
                prepare_run_dir(Path(out), resume, overwrite)
            except MicroGANError as exc:
                error = str(exc)
        errors = [e for e in ctx.gather(error) if e]
        if errors:
            raise MicroGANError(errors[0])
        return Trainer(config, Path(data), Path(out), ctx, resume=resume, quiet=quiet).fit()
    finally:
        shutdown(ctx)
