"""Memory budget of a forward pass: free memory on the device, and what one input pixel costs.

``tile="auto"`` runs whole images that fit :data:`MEMORY_FRACTION` of the free memory
(``MemAvailable`` / cgroup limit on CPU, ``cuda.mem_get_info`` on GPU), as estimated from the
activation sizes of one small forward pass, and tiles the others.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Dict

import torch
from torch import nn

from microgan.core.geometry import padded_size, size_multiple

#: Share of the free memory a forward pass may plan to use.
MEMORY_FRACTION = 0.5


def available_memory(device: torch.device) -> int:
    """Free bytes for activations: CUDA's free memory, else MemAvailable capped by a cgroup limit."""
    if device.type == "cuda":
        return int(torch.cuda.mem_get_info(device)[0])
    free = None
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                free = int(line.split()[1]) * 1024
    except OSError:
        pass
    if free is None:
        free = os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    try:  # a container's own limit can be far below the host's free memory (cgroup v2)
        limit = Path("/sys/fs/cgroup/memory.max").read_text().strip()
        if limit != "max":
            used = int(Path("/sys/fs/cgroup/memory.current").read_text())
            free = min(free, int(limit) - used)
    except (OSError, ValueError):
        pass
    return max(int(free), 0)


@torch.no_grad()
def activation_bytes_per_pixel(generator: nn.Module, channels: int, device: torch.device) -> float:
    """Upper bound of fp32 activation bytes per input pixel: every leaf module's output of one
    small forward pass kept alive at once (in-place outputs counted once)."""
    multiple, min_size = size_multiple(generator)
    side = max(4 * multiple, min_size, 64)
    side = padded_size(side, multiple, 1)
    kept: Dict[int, torch.Tensor] = {}  # held alive so a freed buffer's address is not reused

    def hook(_module, _inputs, output):
        if isinstance(output, torch.Tensor):
            kept.setdefault(output.data_ptr(), output)

    leaves = [m for m in generator.modules() if not list(m.children())]
    handles = [m.register_forward_hook(hook) for m in leaves]
    try:
        generator(torch.zeros(1, channels, side, side, device=device))
    finally:
        for h in handles:
            h.remove()
    total = sum(t.numel() * 4 for t in kept.values())
    # inputs, outputs and concatenations are not leaf outputs: count three image-sized tensors more
    return total / (side * side) + 3 * channels * 4
