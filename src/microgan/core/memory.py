"""How much memory this machine has free: what a memory budget is capped by, and what training's
size check compares the networks with. Shared below ``infer`` (tile planning) and ``train``
(:func:`microgan.train.builder.check_network_sizes`).
"""
from __future__ import annotations

import os
from pathlib import Path

import torch


def available_memory(device: torch.device) -> int:
    """Free bytes: CUDA's free memory, else MemAvailable capped by a cgroup limit."""
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
