"""An exponential moving average of the generator's weights (BasicSR's ``net_g_ema``).

With the paper's batch of one every Adam step follows the gradient of a single crop and a single
degradation draw, so the weights the optimizer leaves at any step carry that step's noise. The
average over the last ~``1 / (1 - decay)`` steps (``train.ema_decay``; 0.999: about a thousand)
smooths it away at the cost of one more copy of the generator. It is what validation scores,
``best`` holds and a checkpoint serves as its model (:func:`microgan.core.checkpoint.load_generator`);
the optimizer keeps stepping the live weights, and ``last`` holds both so that a resume continues
the same average.
"""
from __future__ import annotations

import copy
from typing import Dict

import torch


class WeightAverage:
    """``average = decay * average + (1 - decay) * live`` after every generator update; buffers
    (none in the bundled generators) are copied from the live network."""

    def __init__(self, live: torch.nn.Module, decay: float) -> None:
        self.decay = float(decay)
        self.model = copy.deepcopy(live).eval()
        for p in self.model.parameters():
            p.requires_grad_(False)

    @torch.no_grad()
    def update(self, live: torch.nn.Module) -> None:
        for avg, p in zip(self.model.parameters(), live.parameters()):
            avg.lerp_(p.detach(), 1.0 - self.decay)
        for avg, b in zip(self.model.buffers(), live.buffers()):
            avg.copy_(b)

    def state_dict(self) -> Dict[str, torch.Tensor]:
        return self.model.state_dict()

    def load_state_dict(self, state: Dict[str, torch.Tensor]) -> None:
        self.model.load_state_dict(state)
