"""Generator geometry: the facts about a generator that inference, tiling and export must respect.

* :func:`size_multiple`: the size multiple (and minimum size) it pads inputs to;
* :func:`model_channels`: the channels it takes;
* :func:`has_global_normalization`: whether every output pixel depends on the whole image;
* :func:`receptive_field`: how far one output pixel sees, and how far from a tile edge outputs
  are exact, measured on the module graph itself.

Measured or declared by the networks, never assumed per architecture name, so a new generator
needs no entry anywhere.
"""
from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any, List, Mapping, Optional, Tuple

import torch
from torch import nn

from microgan.config import deep_get
from microgan.errors import MicroGANError

#: Largest probe used to measure the receptive field; beyond it the field counts as global.
MAX_PROBE = 1024
#: Pixels of one probe pass (positions in the stride are probed together, one per batch item).
PROBE_PIXELS = 2**16


def size_multiple(generator: nn.Module) -> Tuple[int, int]:
    """(multiple, min_size) the generator pads its input to.

    MicroGAN generators declare them (``SizeInvariantGenerator``); for any other module the
    product of all downsampling strides is a multiple of the true stride, which is all tiling needs.
    """
    multiple = getattr(generator, "multiple", None)
    if multiple:
        return int(multiple), int(getattr(generator, "min_size", multiple))
    product = 1
    for module in generator.modules():
        stride = getattr(module, "stride", None)
        if isinstance(module, (nn.Conv2d, nn.MaxPool2d, nn.AvgPool2d)) and stride is not None:
            product *= int(stride if isinstance(stride, int) else stride[0])
    return product, product


def padded_size(size: int, multiple: int, min_size: int) -> int:
    """The side a generator runs on for an input side of ``size`` (at least ``min_size``, rounded up)."""
    return -(-max(size, min_size) // multiple) * multiple


def model_channels(generator: nn.Module, meta: Optional[Mapping[str, Any]] = None) -> int:
    """Input channels of the generator: declared, from the checkpoint config, or the first conv."""
    declared = getattr(generator, "in_channels", None)
    if declared:
        return int(declared)
    spec = deep_get(meta or {}, "config.generator.in_channels")
    if spec:
        return int(spec)
    for module in generator.modules():
        if isinstance(module, nn.Conv2d):
            return int(module.in_channels)
    raise MicroGANError("cannot tell how many channels the generator takes")


def has_global_normalization(generator: nn.Module) -> bool:
    """Instance/group/layer normalization without running statistics: every output pixel depends
    on the whole image, so no tile can reproduce the whole-image result exactly."""
    for module in generator.modules():
        if isinstance(module, (nn.InstanceNorm2d, nn.GroupNorm, nn.LayerNorm)):
            if not getattr(module, "track_running_stats", False):
                return True
    return False


def _structural_copy(generator: nn.Module) -> nn.Module:
    """A copy of ``generator`` whose every path carries signal: convolutions average (positive
    weights summing to one, no bias), batch norms are identities, max pools become average pools
    of the same window. The gradient of such a copy is positive over the whole theoretical
    receptive field, whatever the trained weights (a zero-initialized last layer, dead ReLUs or a
    max pool's single winner would hide parts of it)."""
    probe = copy.deepcopy(generator).float().eval()
    for module in list(probe.modules()):
        for name, child in list(module.named_children()):
            if isinstance(child, nn.MaxPool2d):
                setattr(module, name, nn.AvgPool2d(child.kernel_size, child.stride, child.padding, child.ceil_mode))
    with torch.no_grad():
        for module in probe.modules():
            if isinstance(module, (nn.Conv2d, nn.ConvTranspose2d)):
                module.weight.fill_(1.0 / module.weight[0].numel())
                if module.bias is not None:
                    module.bias.zero_()
            elif isinstance(module, nn.modules.batchnorm._BatchNorm):
                module.reset_running_stats()
                if module.affine:
                    module.weight.fill_(1.0)
                    module.bias.zero_()
    return probe


@dataclass(frozen=True)
class ReceptiveField:
    """What tiling needs to know about how far output pixels see.

    ``radius``: the farthest input pixel any output pixel depends on, over every position within
    the stride (pooling makes the field depend on where a pixel sits in its pooling cell).
    ``margin``: how far from the edge of a tile that starts and ends on the stride grid every
    output equals the whole-image output. The two differ because a pixel whose field reaches far
    to the left sits far from an aligned left edge (measured for MicroGAN: radius 51, margin 46).
    """

    radius: int
    margin: int


def _margin(extents: List[int], multiple: int, toward_start: bool) -> int:
    """Smallest distance ``D`` from an aligned tile edge beyond which every output is exact, from
    the field's extent toward that edge per position in the stride (``extents[phase]``)."""
    needed = 0
    for distance in range(max(extents) + 1):
        phase = distance % multiple if toward_start else (-1 - distance) % multiple
        if extents[phase] > distance:
            needed = distance + 1
    return needed


def receptive_field(generator: nn.Module, channels: int, device: torch.device) -> Optional[ReceptiveField]:
    """Radius and tile margin of the input region output pixels depend on, measured.

    The gradient of one output pixel of :func:`_structural_copy` with respect to a positive input
    is non-zero exactly where that pixel can see, so its extent is the theoretical receptive field
    of the actual module graph, whatever its architecture or weights. One pixel per position in
    the stride is probed (along the diagonal, so rows and columns are covered together), each in
    its own batch item (the copy has no batch statistics, so items do not mix). The probe doubles
    until the field stops touching the probe border. ``None`` means unbounded: global
    normalization layers, or a field still touching the border of a :data:`MAX_PROBE`-pixel probe.
    """
    if has_global_normalization(generator):
        return None
    multiple, min_size = size_multiple(generator)
    probe = _structural_copy(generator).to(device).requires_grad_(False)
    side = max(64, 4 * multiple, min_size)
    while side <= MAX_PROBE:
        side = padded_size(side, 2 * multiple, 1)
        c = side // 2  # on the stride grid: phase p is the pixel c + p
        before: List[List[int]] = [[], []]  # extent toward row 0 / column 0, per phase
        after: List[List[int]] = [[], []]
        touching = False
        per_pass = max(1, PROBE_PIXELS // (side * side))  # phases probed together, one per batch item
        for first in range(0, multiple, per_pass):
            phases = list(range(first, min(first + per_pass, multiple)))
            x = torch.full((len(phases), channels, side, side), 0.5, device=device, requires_grad=True)
            y = probe(x)
            sum(y[k, :, c + p, c + p].sum() for k, p in enumerate(phases)).backward()
            for k, p in enumerate(phases):
                hit = x.grad[k].abs().sum(dim=0).nonzero()
                for axis in (0, 1):
                    low, high = int(hit[:, axis].min()), int(hit[:, axis].max())
                    touching |= low == 0 or high == side - 1
                    before[axis].append(c + p - low)
                    after[axis].append(high - c - p)
        if not touching:
            radius = max(max(before[0]), max(before[1]), max(after[0]), max(after[1]))
            margin = max(
                max(_margin(before[axis], multiple, True) for axis in (0, 1)),
                max(_margin(after[axis], multiple, False) for axis in (0, 1)),
            )
            return ReceptiveField(radius, margin)
        side *= 2
    return None
