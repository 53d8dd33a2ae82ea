"""WGAN-GP critics built on DeblurGAN's convolutional discriminator (Kupyn et al. 2018).

The body is DeblurGAN's 3-layer PatchGAN: 4x4 convolutions with 64 (stride 2), 128 (stride 2),
256 (stride 2) and 512 (stride 1) filters, each followed by LeakyReLU(0.2) (normalized except
the first), and a final 4x4 convolution to one channel: a map of raw scores, one per 1/8-resolution
location. What differs between the critics is how that map becomes one score per image:

* ``gap`` (MicroGAN): global average pooling, the paper's replacement of DeblurGAN's fully connected
  layers, so any input size trains; no normalization (WGAN-GP forbids batch norm because the
  penalty is per sample; none also keeps the score independent of padded pixels).
* ``patch`` (DeblurGAN baseline): the same average over patch scores, with DeblurGAN's instance norm.
* ``fc`` (MicroGAN-FS): the score map flattened into a 1024-unit fully connected layer with ReLU and
  one output (paper section 3.3); only for the fixed training size.

All return raw scores of shape ``(N,)``: no sigmoid, because the Wasserstein loss needs an unbounded
critic. Every critic takes ``mask`` (``(N, 1, H, W)``, 1 = valid pixel) for padded, size-bucketed
batches: masked pixels are zeroed before the convolutions (so their values cannot change the
score) and, where the map is averaged, locations are weighted by the fraction of valid pixels
under them.
"""
from __future__ import annotations

from typing import Optional

import torch
import torch.nn.functional as F
from torch import nn

from microgan.archs.padding import padding_for
from microgan.errors import ConfigError
from microgan.registry import CRITICS

CRITIC_NORMS = ("none", "instance", "layer")
STRIDE = 8  # three stride-2 convolutions


def _critic_norm(kind: str, channels: int) -> nn.Module:
    if kind == "none":
        return nn.Identity()
    if kind == "instance":  # as DeblurGAN: no affine parameters, per-image statistics
        return nn.InstanceNorm2d(channels)
    if kind == "layer":  # layer norm over (C, H, W) for any size: GroupNorm with one group
        return nn.GroupNorm(1, channels)
    raise ConfigError(f"unknown critic norm '{kind}' (choose one of {', '.join(CRITIC_NORMS)}; no batch norm in WGAN-GP)")


def _body(in_channels: int, base: int, norm: str) -> nn.Sequential:
    """DeblurGAN's n_layers=3 discriminator. Stride-2 layers use padding 1 (exact halving of even
    sizes), stride-1 layers Keras-style 'same' padding (1 before, 2 after), so a multiple of 8 maps
    to exactly 1/8 resolution and every size >= 8 leaves at least one location."""

    def conv(prev: int, ch: int, stride: int) -> list[nn.Module]:
        if stride == 2:
            return [nn.Conv2d(prev, ch, 4, stride=2, padding=1)]
        return [nn.ZeroPad2d((1, 2, 1, 2)), nn.Conv2d(prev, ch, 4)]

    widths = [base, base * 2, base * 4, base * 8]
    layers: list[nn.Module] = [*conv(in_channels, widths[0], 2), nn.LeakyReLU(0.2, True)]
    for prev, ch, stride in zip(widths[:-1], widths[1:], (2, 2, 1)):
        layers += [*conv(prev, ch, stride), _critic_norm(norm, ch), nn.LeakyReLU(0.2, True)]
    layers += conv(widths[-1], 1, 1)
    return nn.Sequential(*layers)


class _ConvCritic(nn.Module):
    """Shared front end: validate, zero masked pixels, run the conv body to a score map."""

    def __init__(self, in_channels: int, base: int, norm: str) -> None:
        super().__init__()
        self.in_channels = in_channels
        self.body = _body(in_channels, base, norm)

    def _check(self, x: torch.Tensor) -> None:
        if x.dim() != 4 or x.shape[1] != self.in_channels:
            raise ValueError(f"{type(self).__name__} expects (N, {self.in_channels}, H, W), got {tuple(x.shape)}")

    @staticmethod
    def _apply_mask(x: torch.Tensor, mask: Optional[torch.Tensor]) -> torch.Tensor:
        return x if mask is None else x * mask.to(x.dtype)


class PooledCritic(_ConvCritic):
    """Any size -> one score per image by (masked) global average pooling of the score map.

    Inputs smaller than 8 pixels a side (16 when normalized, so the deepest layers keep more
    than one location to normalize over) are zero-padded, the padding masked out; larger inputs
    are not padded at all.
    """

    def __init__(self, in_channels: int = 3, base: int = 64, norm: str = "none") -> None:
        super().__init__(in_channels, base, norm)
        self.min_size = STRIDE if norm == "none" else 2 * STRIDE

    def forward(self, x: torch.Tensor, mask: Optional[torch.Tensor] = None) -> torch.Tensor:
        self._check(x)
        x = self._apply_mask(x, mask)
        pads = padding_for(x.shape[-2], x.shape[-1], multiple=1, min_size=self.min_size)
        if any(pads) and mask is None:
            mask = x.new_ones(x.shape[0], 1, *x.shape[-2:])
        x = F.pad(x, pads)
        scores = self.body(x)
        if mask is None:
            return scores.mean(dim=(1, 2, 3))
        weight = F.adaptive_avg_pool2d(F.pad(mask.to(x.dtype), pads), scores.shape[-2:])
        return (scores * weight).sum(dim=(1, 2, 3)) / weight.sum(dim=(1, 2, 3)).clamp_min(1e-12)


@CRITICS.register("gap")
def gap_critic(in_channels: int = 3, base: int = 64, norm: str = "none") -> PooledCritic:
    """MicroGAN's size-invariant critic: DeblurGAN's body + global average pooling, no norm."""
    return PooledCritic(in_channels, base, norm)


@CRITICS.register("patch")
def patch_critic(in_channels: int = 3, base: int = 64, norm: str = "instance") -> PooledCritic:
    """DeblurGAN's PatchGAN critic with instance norm; its patch scores averaged to one score."""
    return PooledCritic(in_channels, base, norm)


@CRITICS.register("fc")
class FCCritic(_ConvCritic):
    """MicroGAN-FS's fixed-size critic: the score map of an ``input_size`` square image flattened
    into Linear(1024) + ReLU + Linear(1). Any other size is a ``ValueError`` naming both sizes."""

    def __init__(self, in_channels: int = 3, input_size: int = 128, base: int = 64, norm: str = "none") -> None:
        if input_size < STRIDE or input_size % STRIDE:
            raise ConfigError(f"fc critic input_size must be a positive multiple of {STRIDE}, got {input_size}")
        super().__init__(in_channels, base, norm)
        self.input_size = input_size
        cells = (input_size // STRIDE) ** 2
        self.head = nn.Sequential(nn.Flatten(), nn.Linear(cells, 1024), nn.ReLU(inplace=True), nn.Linear(1024, 1))

    def forward(self, x: torch.Tensor, mask: Optional[torch.Tensor] = None) -> torch.Tensor:
        self._check(x)
        if tuple(x.shape[-2:]) != (self.input_size, self.input_size):
            raise ValueError(
                f"the fc critic (MicroGAN-FS) only accepts {self.input_size}x{self.input_size} inputs, "
                f"got {x.shape[-2]}x{x.shape[-1]}: resize the data (data.resize_to) or use the 'gap' critic"
            )
        return self.head(self.body(self._apply_mask(x, mask))).squeeze(1)
