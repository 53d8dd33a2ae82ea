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


def _split(extra: int) -> Tuple[int, int]:
    return extra // 2, extra - extra // 2


def pad_to_multiple(x: torch.Tensor, multiple: int, min_size: int = 1) -> Tuple[torch.Tensor, Pads]:
    """Pad ``x`` so both sides are multiples of ``multiple`` and at least ``min_size``; return the
    padded tensor and the pads to give to :func:`crop`.

    Two steps, neither of which branches on the input size (so ``torch.export`` can keep H and W
    dynamic): replicate up to ``max(min_size, multiple)`` (a no-op except for tiny inputs, too
    small to mirror), then reflect up to the next multiple (always possible: that pad is smaller
    than ``multiple``, hence than the side). Reflection continues image structure across the
    border better than zeros, which would read as a dark frame.
    """
    height, width = x.shape[-2], x.shape[-1]
    floor = max(min_size, multiple)
    top1, bottom1 = _split(max(height, floor) - height)
    left1, right1 = _split(max(width, floor) - width)
    x = F.pad(x, (left1, right1, top1, bottom1), mode="replicate")
    height, width = height + top1 + bottom1, width + left1 + right1
    top2, bottom2 = _split(-(-height // multiple) * multiple - height)
    left2, right2 = _split(-(-width // multiple) * multiple - width)
    x = F.pad(x, (left2, right2, top2, bottom2), mode="reflect")
    return x, (left1 + left2, right1 + right2, top1 + top2, bottom1 + bottom2)


def crop(x: torch.Tensor, pads: Pads) -> torch.Tensor:
    """Undo a padding on a tensor with the padded spatial size."""
    left, right, top, bottom = pads
    height, width = x.shape[-2:]
    return x[..., top : height - bottom, left : width - right]
