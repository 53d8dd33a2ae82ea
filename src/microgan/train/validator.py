"""Validation during training: mean PSNR/SSIM of the generator on the (capped) val crops.

Scored like the evaluation tables (:mod:`microgan.core.metrics` on 8-bit images, the generator in
fp32 and eval mode at native sizes), so the best checkpoint is chosen by the number users will see.
"""
from __future__ import annotations

import math
from typing import Any, Callable, Dict, Iterable, List, Optional, Tuple

import numpy as np
import torch

from microgan.core.contract import from_network
from microgan.core.metrics import psnr, ssim
from microgan.data.datasets import PairedCropDataset, network_input
from microgan.data.io import from_float

#: ``log_image(tag, chw01)``: where LR | SR | HR strips go (TensorBoard in a run).
ImageLog = Callable[[str, torch.Tensor], None]


def to_uint8(x: torch.Tensor) -> np.ndarray:
    """(C, H, W) in [-1, 1] -> (H, W[, C]) uint8, as images are written."""
    arr = from_float(from_network(x.float().cpu().numpy()), np.uint8)
    return arr[0] if arr.shape[0] == 1 else arr.transpose(1, 2, 0)


def mean_scores(pairs: Iterable[Tuple[torch.Tensor, torch.Tensor]]) -> Dict[str, float]:
    """Mean PSNR and SSIM over (output, reference) pairs; SSIM is NaN only if no crop had a window."""
    p, s = [], []
    for out, ref in pairs:
        a, b = to_uint8(out), to_uint8(ref)
        p.append(psnr(a, b))
        s.append(ssim(a, b))
    return {"psnr": float(np.mean(p)), "ssim": float(np.nanmean(s)) if not np.isnan(s).all() else math.nan}


class Validator:
    """Scores a generator on ``val_set`` (loaded once) and logs the first ``samples`` crops."""

    def __init__(self, val_set: PairedCropDataset, device: torch.device, memory_format: torch.memory_format, samples: int) -> None:
        self.val_set = val_set
        self.device = device
        self.memory_format = memory_format
        self.samples = samples
        self._cache: Optional[List[Dict[str, Any]]] = None

    def crops(self) -> List[Dict[str, Any]]:
        if self._cache is None:
            self._cache = [self.val_set[i] for i in range(len(self.val_set))]
        return self._cache

    def input_scores(self) -> Dict[str, float]:
        """PSNR/SSIM of the degraded input itself: the baseline the generator must beat."""
        return mean_scores((s["lr"], s["hr"]) for s in self.crops())

    @torch.no_grad()
    def __call__(self, generator: torch.nn.Module, log_image: ImageLog) -> Dict[str, float]:
        """Mean PSNR/SSIM of ``generator``; leaves it in the mode it was in (a moving average stays
        in eval mode, the live generator in training mode)."""
        was_training = generator.training
        generator.eval()
        outs = []
        for sample in self.crops():
            lr = network_input(sample)[None].to(self.device).contiguous(memory_format=self.memory_format)
            outs.append(generator(lr)[0].float().clamp(-1, 1).cpu())
        generator.train(was_training)
        samples = self.crops()
        scores = mean_scores(zip(outs, (s["hr"] for s in samples)))
        for s, out in list(zip(samples, outs))[: self.samples]:
            log_image(f"samples/{s['id']}", from_network(torch.cat([s["lr"], out, s["hr"]], dim=-1)))
        return scores
