"""Pad images to a size a network can digest and crop the result back.

Size invariance (the point of MicroGAN) means every network must accept any ``H x W >= 1``. Encoders
that halve the resolution ``depth`` times need a multiple of ``2**depth``; normalization layers need
more than one pixel at the bottleneck. Instead of resizing (which changes cell texture, paper Table 1),
the input is padded and the output cropped back, so the valid region is never resampled.
"""
from __future__ import annotations

from typing import Tuple

import torch
import torch.nn.functional as F

Pads = Tuple[int, int, int, int]  # left, right, top, bottom (F.pad order)


def padding_for(height: int, width: int, multiple: int, min_size: int = 1) -> Pads:
    """Split the padding that brings ``(height, width)`` to a multiple of ``multiple`` (and at
    least ``min_size``) as evenly as possible between both sides, so borders are treated alike."""

    def split(n: int) -> Tuple[int, int]:
        target = max(n, min_size)
        target = -(-target // multiple) * multiple
        extra = target - n
        return extra // 2, extra - extra // 2

    top, bottom = split(height)
    left, right = split(width)
    return left, right, top, bottom


def pad_to_multiple(x: torch.Tensor, multiple: int, min_size: int = 1) -> Tuple[torch.Tensor, Pads]:
    """Pad ``x`` so both sides are multiples of ``multiple`` and at least ``min_size``; return the
    padded tensor and the pads to give to :func:`crop`.

    Each axis is reflected (which continues image structure across the border; zeros would read
    as a dark frame) unless its larger pad is not smaller than its length, where reflection is
    impossible and it is replicated instead. ``microgan.core.portable`` re-implements this rule with
    tensor arithmetic for dynamic-size export: keep the two in step.
    """
    pads = padding_for(x.shape[-2], x.shape[-1], multiple, min_size)
    left, right, top, bottom = pads
    for axis_pads, side in (((left, right, 0, 0), x.shape[-1]), ((0, 0, top, bottom), x.shape[-2])):
        if any(axis_pads):
            mode = "reflect" if max(axis_pads) < side else "replicate"
            x = F.pad(x, axis_pads, mode=mode)
    return x, pads


def crop(x: torch.Tensor, pads: Pads) -> torch.Tensor:
    """Undo :func:`pad_to_multiple` on a tensor with the padded spatial size."""
    left, right, top, bottom = pads
    height, width = x.shape[-2:]
    return x[..., top : height - bottom, left : width - right]
