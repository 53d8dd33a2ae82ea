"""One optimization step of the generator/critic pair, apart from the loop (BasicSR's
``optimize_parameters``): the paper's online WGAN-GP schedule (section 3.2).

Before each generator update the critic is updated ``critic_steps`` times (paper: "the critic
network is trained 4 times more than the generator"), each time on a fresh batch from its own
shuffled stream (``critic_batches: fresh``), or ``critic_steps`` times on the generator's batch
(``same``, as DeblurGAN's code does). Generator loss: WGAN generator loss + ``perceptual.weight`` x
perceptual (+ ``pixel.weight`` x pixel), the adversarial term weighted by ``adversarial.weight``
(paper: 1). During an optional pixel warm-up (``pixel_warmup_steps``) the generator is trained with
the pixel loss alone and the critic rests. An optional critic warm-up follows
(``critic_warmup_steps``, ESRGAN-style fine-tuning): the critic alone is trained against the frozen
generator, so that the first adversarial generator updates follow a critic that already tells the
generator's output from the truth instead of a random one.

A non-finite loss is recorded (:attr:`GANStep.bad`, with the crop ids) rather than raised, so the
loop can agree with the other ranks on stopping before anything is saved.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Dict, List, Optional, Tuple

import torch

from microgan.data.datasets import network_input
from microgan.data.samplers import BatchStream
from microgan.train.amp import MixedPrecision
from microgan.train.builder import Losses, Networks
from microgan.train.settings import TrainSettings, scheduled_lr

#: What a step trains: the pixel loss alone (warm-up), the critic alone, or the full GAN objective.
PIXEL, CRITIC, GAN = "pixel", "critic", "gan"


def phase(settings: TrainSettings, step: int) -> str:
    """The objective of the step that follows ``step`` completed steps (a restoration run: always
    the pixel loss)."""
    if not settings.adversarial or step < settings.pixel_warmup_steps:
        return PIXEL
    return CRITIC if step < settings.pixel_warmup_steps + settings.critic_warmup_steps else GAN


@dataclass
class GANStep:
    """Critic updates and one generator update; ``generator_ddp``/``critic_ddp`` are the DDP-wrapped
    modules (the plain ones where no gradient must be synchronised)."""

    nets: Networks
    generator_ddp: torch.nn.Module
    critic_ddp: Optional[torch.nn.Module]
    losses: Losses
    amp: MixedPrecision
    cfg: TrainSettings
    memory_format: torch.memory_format
    #: the first non-finite loss seen (what, step, crops), or None
    bad: Optional[str] = None

    @property
    def device(self) -> torch.device:
        return self.amp.device

    def _batch(self, batch: Dict[str, Any]) -> Tuple[torch.Tensor, torch.Tensor, Optional[torch.Tensor]]:
        def move(t: torch.Tensor) -> torch.Tensor:
            return t.to(self.device, non_blocking=True).contiguous(memory_format=self.memory_format)

        mask = batch["mask"]
        return move(network_input(batch)), move(batch["hr"]), (mask.to(self.device, non_blocking=True) if mask is not None else None)

    def _finite(self, loss: torch.Tensor, what: str, step: int, ids: List[str]) -> None:
        if self.bad is None and not torch.isfinite(loss.detach()).item():
            self.bad = f"non-finite {what} loss at step {step + 1} (crops: {', '.join(ids)})"

    def fake(self, batch: Dict[str, Any]) -> torch.Tensor:
        """Generator output for the critic (no gradient, no DDP sync)."""
        with torch.no_grad(), self.amp.autocast():
            return self.nets.generator(self._batch(batch)[0]).float()

    def critic_step(self, batch: Dict[str, Any], step: int, fake: Optional[torch.Tensor] = None) -> Dict[str, float]:
        """One critic update; ``fake`` may be given when the batch's generator output is known."""
        _, hr, mask = self._batch(batch)
        if fake is None:
            fake = self.fake(batch)
        self.nets.opt_c.zero_grad(set_to_none=True)
        scale = self.amp.loss_scale("critic")  # fp16: the penalty's gradient is scaled like the loss
        with self.amp.autocast():
            loss, stats = self.losses.adversarial.critic_loss(self.critic_ddp, hr, fake, mask, scale=scale)
        # under fp16 a non-finite penalty is an overflow of its scaled gradient, which the scaler
        # handles (skipped step, lower scale); only the scores themselves can signal divergence
        self._finite(loss if scale == 1.0 else torch.tensor(stats["wasserstein"]), "critic", step, batch["id"])
        self.amp.step("critic", loss, self.nets.opt_c)
        return {"critic/loss": float(loss.detach()), **{f"critic/{k}": float(v) for k, v in stats.items()}}

    def generator_step(self, batch: Dict[str, Any], step: int, objective: str) -> Dict[str, float]:
        """One generator update on ``objective`` (:data:`PIXEL` or :data:`GAN`)."""
        lr, hr, mask = self._batch(batch)
        losses, critic = self.losses, self.nets.critic
        self.nets.opt_g.zero_grad(set_to_none=True)
        if critic is not None:
            critic.requires_grad_(False)  # the plain critic: no critic gradients, no DDP sync
        try:
            with self.amp.autocast():
                fake = self.generator_ddp(lr).float()
                terms: Dict[str, torch.Tensor] = {}
                if objective == PIXEL:
                    terms["pixel"] = losses.pixel(fake, hr, mask)
                else:
                    terms["adversarial"] = losses.w_adversarial * losses.adversarial.generator_loss(critic, fake, mask)
                    if losses.perceptual is not None:
                        terms["perceptual"] = losses.w_perceptual * losses.perceptual(fake, hr, mask)
                    if losses.pixel is not None and losses.w_pixel:
                        terms["pixel"] = losses.w_pixel * losses.pixel(fake, hr, mask)
                loss = sum(terms.values())
            self._finite(loss, "generator", step, batch["id"])
            self.amp.step("generator", loss, self.nets.opt_g)
        finally:
            if critic is not None:
                critic.requires_grad_(True)
        return {"generator/loss": float(loss.detach()), **{f"generator/{k}": float(v.detach()) for k, v in terms.items()}}

    def __call__(self, step: int, g_stream: BatchStream, c_stream: BatchStream) -> Tuple[Dict[str, float], int, int]:
        """Step ``step + 1``: the scheduled learning rate, the critic updates (GAN phase) and one
        generator update. Returns stats, the generator batch's crop count and its real (unpadded)
        pixel count."""
        objective = phase(self.cfg, step)
        rate = scheduled_lr(self.cfg, step)
        rates = [(self.nets.opt_g, rate)]
        if self.nets.opt_c is not None:
            rates.append((self.nets.opt_c, scheduled_lr(self.cfg, step, "critic_optimizer")))
        for opt, lr in rates:
            for group in opt.param_groups:
                group["lr"] = lr
        stats: Dict[str, float] = {"lr": rate}
        g_batch = next(g_stream)
        if objective != PIXEL:
            # same batch: the generator does not change during the critic updates, so one fake serves all
            same_fake = self.fake(g_batch) if self.cfg.critic_batches == "same" else None
            for _ in range(self.cfg.critic_steps):
                c_batch = g_batch if same_fake is not None else next(c_stream)
                for k, v in self.critic_step(c_batch, step, same_fake).items():
                    stats[k] = stats.get(k, 0.0) + v / self.cfg.critic_steps
        if objective != CRITIC:
            stats.update(self.generator_step(g_batch, step, objective))
        mask, hr = g_batch["mask"], g_batch["hr"]
        pixels = int(mask.sum()) if mask is not None else hr.shape[0] * hr.shape[-2] * hr.shape[-1]
        return stats, len(g_batch["id"]), pixels
