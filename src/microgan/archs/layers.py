"""Building blocks shared by the generators: normalization by name and the size-invariant,
residual image-to-image wrapper (pad, run the body, crop, activation, add the input)."""
from __future__ import annotations

import torch
from torch import nn

from microgan.archs.padding import crop, pad_to_multiple
from microgan.errors import ConfigError

NORMS = ("none", "batch", "instance")
OUTPUT_ACTIVATIONS = ("none", "tanh", "sigmoid")


def make_norm(kind: str, channels: int) -> nn.Module:
    """``none`` | ``batch`` | ``instance`` (no affine, no running stats, as DeblurGAN)."""
    if kind == "none":
        return nn.Identity()
    if kind == "batch":
        return nn.BatchNorm2d(channels)
    if kind == "instance":
        return nn.InstanceNorm2d(channels, affine=False, track_running_stats=False)
    raise ConfigError(f"unknown norm '{kind}' (choose one of {', '.join(NORMS)})")


def make_activation(kind: str) -> nn.Module:
    if kind == "none":
        return nn.Identity()
    if kind == "tanh":
        return nn.Tanh()
    if kind == "sigmoid":
        return nn.Sigmoid()
    raise ConfigError(
        f"unknown output_activation '{kind}' (choose one of {', '.join(OUTPUT_ACTIVATIONS)})"
    )


class SizeInvariantGenerator(nn.Module):
    """Base class: ``forward`` accepts any ``H x W >= 1`` and returns the same size.

    Subclasses build ``self.body`` (a fully convolutional net that needs its input to be a
    multiple of ``self.multiple`` and at least ``self.min_size``). The input is reflect-padded
    (replicate where too small to reflect), the body's output cropped back, passed through
    ``output_activation`` and, if ``residual``, added to the input: the net only predicts the
    correction, which is small for restoration, and no squashing is needed because data are in
    [-1, 1] and clipping happens at inference (see docs/paper-notes.md). ``residual_offset``: the
    first input channel the output is added to, for a network given more than the image (a
    PSF-aware one corrects the deconvolution it is given, channels ``C..2C-1``).
    """

    body: nn.Module

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        residual: bool,
        output_activation: str,
        multiple: int,
        min_size: int,
        residual_offset: int = 0,
    ) -> None:
        super().__init__()
        if residual and in_channels < residual_offset + out_channels:
            raise ConfigError(
                f"a residual generator adds its output to input channels {residual_offset}..{residual_offset + out_channels - 1}, "
                f"but takes {in_channels}"
            )
        if residual and residual_offset == 0 and in_channels != out_channels:
            raise ConfigError(
                f"residual generator needs in_channels == out_channels (got {in_channels}, {out_channels})"
            )
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.residual = residual
        self.residual_offset = residual_offset
        self.multiple = multiple
        self.min_size = min_size
        self.output_activation = make_activation(output_activation)

    def start_at_identity(self) -> None:
        """Zero the body's last convolution so that a residual generator starts as the identity.

        A randomly initialised correction lowers the input's PSNR by ~10 dB on BCCD before training
        has learnt anything (blurred crops already score ~39 dB); starting from the identity means
        every step is spent improving on the input rather than first undoing random noise.
        Subclasses call this at the end of ``__init__`` when built with ``identity_init=True`` (the
        bundled training configs do); it needs ``residual``.
        """
        if not self.residual:
            raise ConfigError("identity_init needs a residual generator")
        last = [m for m in self.body.modules() if isinstance(m, nn.Conv2d)][-1]
        nn.init.zeros_(last.weight)
        if last.bias is not None:
            nn.init.zeros_(last.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() != 4 or x.shape[1] != self.in_channels:
            raise ValueError(
                f"{type(self).__name__} expects (N, {self.in_channels}, H, W), got {tuple(x.shape)}"
            )
        padded, pads = pad_to_multiple(x, self.multiple, self.min_size)
        y = self.output_activation(crop(self.body(padded), pads))
        if not self.residual:
            return y
        start = self.residual_offset
        return (x if start == 0 and x.shape[1] == self.out_channels else x[:, start : start + self.out_channels]) + y
