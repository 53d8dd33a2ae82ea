"""The checkpoint state of a run: what ``last``/``best`` hold and how a resume restores it.

A checkpoint holds weights, optimizer and AMP scaler states, every rank's RNG state and both batch
streams' positions, so ``resume`` continues the same computation: the data order is a function of
``(seed, epoch)`` (:mod:`microgan.data.samplers`) and the only other randomness is torch's RNG
(gradient-penalty interpolation). Files are written atomically (:mod:`microgan.core.checkpoint`);
weights are checked before every save, so ``last`` is never overwritten by a diverged model.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Optional

import torch

from microgan.core.contract import contract_for
from microgan.core import checkpoint as ck
from microgan.core.provenance import training_record
from microgan.errors import CheckpointError, MicroGANError
from microgan.train.amp import MixedPrecision
from microgan.train.builder import Networks, RunData
from microgan.train.distributed import DistContext


class TrainingDivergedError(MicroGANError):
    """A loss became NaN/Inf (or the weights did); the last checkpoint on disk is still good."""


@dataclass
class RunState:
    """Step counter, best validation PSNR and last scores of a run, with its networks, optimizers,
    scalers and streams: everything ``last.safetensors`` saves and a resume loads."""

    config: Dict[str, Any]
    out: Path
    ctx: DistContext
    nets: Networks
    data: RunData
    amp: MixedPrecision
    step: int = 0
    best_psnr: float = -math.inf
    last_val: Dict[str, float] = field(default_factory=dict)
    #: the model the generator started from (``--init-from``), or None
    init_from: Optional[Dict[str, Any]] = None
    #: messages for the user about the resume (shown when the loop starts)
    notes: List[str] = field(default_factory=list)

    @property
    def last_path(self) -> Path:
        return self.out / ck.LAST_NAME

    # ----------------------------------------------------------------------------- RNG

    def seed_rng(self, saved: Optional[Dict[str, List[torch.Tensor]]], seed: int) -> None:
        """Restore this rank's RNG state, or seed it (ranks differ: independent penalty samples)."""
        ctx, device = self.ctx, self.amp.device
        if saved and len(saved.get("torch", [])) == ctx.world_size:
            torch.set_rng_state(saved["torch"][ctx.rank])
            if device.type == "cuda" and saved.get("cuda"):
                torch.cuda.set_rng_state(saved["cuda"][ctx.rank], device)
            return
        if saved:
            self.notes.append(f"resumed with {ctx.world_size} processes instead of {len(saved.get('torch', []))}: RNG re-seeded")
        torch.manual_seed(seed * 7919 + ctx.rank + self.step)

    def _rng_state(self) -> Dict[str, List[torch.Tensor]]:
        state = {"torch": torch.get_rng_state()}
        if self.amp.device.type == "cuda":
            state["cuda"] = torch.cuda.get_rng_state(self.amp.device)
        gathered = self.ctx.gather(state)
        return {k: [g[k] for g in gathered] for k in state}

    # ----------------------------------------------------------------------------- saving

    def meta(self) -> Dict[str, Any]:
        g_stream, c_stream = self.data.g_stream, self.data.c_stream
        return {
            "config": self.config,
            "step": self.step,
            "epoch": g_stream.epoch,
            "metrics": self.last_val,
            "best_psnr": None if self.best_psnr == -math.inf else self.best_psnr,
            "position": {"generator": g_stream.state(), **({"critic": c_stream.state()} if c_stream is not None else {})},
            "world_size": self.ctx.world_size,
            "train_crops": len(self.data.train_set),
            "data_order": self._data_order(),
            "training_data": self.data.train_set.identity(),
            "init_from": self.init_from,
            "training": training_record(self.config, self.step, self.init_from),
            "io": contract_for(self.config),  # how its values map (core.contract)
        }

    def _data_order(self) -> Dict[str, Any]:
        """The settings that shape the training streams' order: a stream position means nothing
        under others (its batch index would point into another epoch's list)."""
        data_cfg = dict(self.config.get("data") or {})
        return {key: data_cfg.get(key) for key in ("batch_size", "bucket_ratio", "repeat")}

    def check_weights(self) -> None:
        nets = [("generator", self.nets.generator)] + ([("critic", self.nets.critic)] if self.nets.critic is not None else [])
        if self.nets.average is not None:
            nets.append(("generator average", self.nets.average.model))
        for name, net in nets:
            if not all(torch.isfinite(p).all() for p in net.parameters()):
                raise TrainingDivergedError(f"{name} weights became NaN/Inf at step {self.step}; {self.last_path} kept from before")

    def save_last(self) -> None:
        """Write ``last`` (all ranks must call: RNG states are gathered; rank 0 writes)."""
        self.check_weights()
        rng = self._rng_state()
        if not self.ctx.is_main:
            return
        nets = self.nets
        # a critic never stepped (an L1-only run, or before the GAN phase) is still the seeded
        # initialisation build_networks makes again on resume: not stored (12 MB, not 47, for
        # microgan-blind's runs); load() keeps the rebuilt one
        critic_trained = nets.opt_c is not None and bool(nets.opt_c.state)
        optimizers = {"generator": nets.opt_g.state_dict()}
        if critic_trained:
            optimizers["critic"] = nets.opt_c.state_dict()
        if self.amp.mode == "fp16":
            optimizers.update({f"scaler_{k}": s.state_dict() for k, s in self.amp.scalers.items()})
        average = nets.average.state_dict() if nets.average is not None else None
        ckpt = ck.Checkpoint(meta=self.meta(), generator=nets.generator.state_dict(),
                             critic=nets.critic.state_dict() if critic_trained else None,
                             optimizers=optimizers, rng=rng, generator_ema=average)
        ck.save_checkpoint(self.last_path, ckpt)

    def save_best(self) -> None:
        """Write ``best``: the scored generator alone (the moving average where the run keeps one),
        with the scores that made it the best."""
        ck.save_checkpoint(self.out / ck.BEST_NAME, ck.Checkpoint(meta=self.meta(), generator=self.nets.kept.state_dict()))

    # ----------------------------------------------------------------------------- resuming

    def load(self, path: Path) -> Dict[str, Any]:
        """Load ``path`` into the networks, optimizers, scalers and streams; returns the saved RNG states."""
        state = ck.load_checkpoint(path)
        meta, nets = state.meta, self.nets
        try:
            nets.generator.load_state_dict(state.generator)
            nets.opt_g.load_state_dict(state.optimizers["generator"])
            if state.critic is not None and nets.critic is not None:  # absent: never stepped (save_last)
                nets.critic.load_state_dict(state.critic)
            if "critic" in state.optimizers and nets.opt_c is not None:
                nets.opt_c.load_state_dict(state.optimizers["critic"])
            if nets.average is not None:
                nets.average.load_state_dict(state.generator_ema or state.generator)
        except (RuntimeError, KeyError, ValueError) as exc:
            first = str(exc).strip().splitlines()[0]
            raise CheckpointError(f"{path}: does not match this run's networks ({first})") from None
        if nets.average is not None and state.generator_ema is None:
            self.notes.append(f"{path} holds no moving average of the generator: train.ema_decay starts it from the resumed weights")
        if nets.average is None and state.generator_ema is not None:
            self.notes.append(f"{path} holds a moving average of the generator but train.ema_decay is off: "
                              "the average is dropped and validation scores the live weights from here on")
        for k, scaler in self.amp.scalers.items():
            if f"scaler_{k}" in state.optimizers:
                scaler.load_state_dict(state.optimizers[f"scaler_{k}"])
        crops = len(self.data.train_set)
        if meta.get("train_crops") != crops:
            raise CheckpointError(
                f"{path}: the checkpoint was trained on {meta.get('train_crops')} crops, the data now has "
                f"{crops}: the data order cannot be continued (start a new run)"
            )
        trained_on, identity = meta.get("training_data") or {}, self.data.train_set.identity()
        saved = trained_on.get("crop_ids_sha256")
        if saved and saved != identity["crop_ids_sha256"]:
            raise CheckpointError(f"{path}: the checkpoint was trained on another set of {crops} crops (crop ids differ): start a new run")
        # per-folder digests: absent (no folders, or None) from checkpoints written before they were recorded
        saved_folders = [f.get("crop_ids_sha256") for f in trained_on.get("folders") or []]
        if saved_folders and all(saved_folders) and saved_folders != [f["crop_ids_sha256"] for f in identity["folders"]]:
            raise CheckpointError(f"{path}: the --data folders are not the checkpoint's in the same order: give them as before")
        saved_order, order = meta.get("data_order"), self._data_order()  # absent from checkpoints written before
        if saved_order is not None and saved_order != order:
            changed = ", ".join(f"data.{k}: {saved_order.get(k)} -> {v}" for k, v in order.items() if saved_order.get(k) != v)
            raise CheckpointError(f"{path}: the training order cannot be continued ({changed}): keep the settings or start a new run")
        try:
            step = int(meta["step"])
            # a restoration run kept no critic stream: an adversarial continuation starts it at its beginning
            saved = {key: meta["position"].get(key, {"epoch": 0, "index": 0}) for key in ("generator", "critic")}
            saved["generator"] = meta["position"]["generator"]
            positions = [(stream, int(saved[key]["epoch"]), int(saved[key]["index"]))
                         for stream, key in ((self.data.g_stream, "generator"), (self.data.c_stream, "critic"))
                         if stream is not None]
            best = float(meta["best_psnr"]) if meta.get("best_psnr") is not None else -math.inf
            last_val = dict(meta.get("metrics") or {})
        except (KeyError, TypeError, ValueError) as exc:
            raise CheckpointError(f"{path}: the checkpoint's metadata lacks a valid step or stream position ({exc!r}): "
                                  "not a training checkpoint to resume") from None
        self.init_from = meta.get("init_from")
        self.step, self.best_psnr, self.last_val = step, best, last_val
        for stream, epoch, index in positions:
            stream.epoch, stream.index = epoch, index
        return state.rng
