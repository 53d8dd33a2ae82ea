"""Mixed precision for training: autocast plus fp16 loss scaling, one scaler per optimizer."""
from __future__ import annotations

import contextlib

import torch

from microgan.core.device import autocast, resolve_precision
from microgan.errors import ConfigError

#: The optimizers that step, each with its own scaler.
OPTIMIZERS = ("generator", "critic")


class MixedPrecision:
    """fp32, bf16 autocast (CPU or CUDA) or fp16 autocast with loss scaling (CUDA only).

    One GradScaler per optimizer because the critic steps more often than the generator and a
    scaler's ``update`` must follow each of its optimizer's steps. Disabled scalers pass through.
    ``auto`` resolves as everywhere else (:func:`~microgan.core.device.resolve_precision`).
    """

    def __init__(self, precision: str, device: torch.device) -> None:
        mode = resolve_precision(precision, device)
        if mode == "fp16" and device.type != "cuda":
            raise ConfigError("train.precision fp16 needs CUDA (loss scaling); use bf16 on CPU")
        self.mode = mode
        self.device = device
        self.scalers = {k: torch.amp.GradScaler(device.type, enabled=mode == "fp16") for k in OPTIMIZERS}

    def autocast(self) -> contextlib.AbstractContextManager:
        return autocast(self.device, self.mode)

    def loss_scale(self, name: str) -> float:
        """Optimizer ``name``'s current fp16 loss scale (1.0 without fp16): what a gradient taken
        inside the loss (the gradient penalty) must be scaled by, as the loss itself is."""
        return float(self.scalers[name].get_scale())

    def step(self, name: str, loss: torch.Tensor, optimizer: torch.optim.Optimizer) -> None:
        """Backward pass and optimizer step of ``loss`` through optimizer ``name``'s scaler."""
        scaler = self.scalers[name]
        scaler.scale(loss).backward()
        scaler.step(optimizer)
        scaler.update()
