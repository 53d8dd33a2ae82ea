"""Memory: the budget a restoration plans its tiles against, and what a forward pass really costs.

``--max-memory`` (default :data:`DEFAULT_MAX_MEMORY`) bounds the whole process on the CPU (its
peak resident set: interpreter, libraries, model, images and activations together) and the
memory PyTorch allocates on a GPU. It is a fixed number rather than a share of the free memory,
so a restoration takes the same room on a laptop as on a server, and never more than the machine
has free (:func:`available_memory` caps it).

What a pass costs per pixel is measured, not guessed: :class:`PeakMeter` reads the peak resident
set (``VmHWM``, reset through ``/proc/self/clear_refs``) around a probe pass, after handing freed
heap memory back to the system (:func:`release_free_memory`), so the growth is what the pass
itself needed. Where the kernel offers no peak reset, :func:`activation_bytes_per_pixel` gives an
upper bound from the sizes of every layer output.
"""
from __future__ import annotations

import ctypes
import ctypes.util
from pathlib import Path
from typing import Dict, Optional

import torch
from torch import nn

from microgan.core.geometry import padded_size, size_multiple
from microgan.core.memory import available_memory  # noqa: F401  (planning caps the budget with it)

#: The default ``--max-memory``, 1.5 GB (10^9 bytes): a whole 4096x3072 field restores within it,
#: on a laptop too.
DEFAULT_MAX_MEMORY = 1_500_000_000

_STATUS = Path("/proc/self/status")
_CLEAR_REFS = Path("/proc/self/clear_refs")


def _status_kib(field: str) -> Optional[int]:
    try:
        for line in _STATUS.read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return None


def process_rss() -> int:
    """Resident bytes of this process now (0 where /proc is missing: plan as if nothing were used)."""
    return _status_kib("VmRSS") or 0


def release_free_memory() -> None:
    """Give freed heap memory back to the system (glibc ``malloc_trim``), so the resident set
    shows what is in use rather than what was used once; a no-op on other C libraries."""
    name = ctypes.util.find_library("c")
    try:
        libc = ctypes.CDLL(name)
        trim = libc.malloc_trim
    except (OSError, AttributeError, TypeError):
        return
    trim(0)


class PeakMeter:
    """Peak memory growth of a block: ``with PeakMeter(device) as m: ...; m.growth`` (bytes, or
    None where it cannot be measured: no ``clear_refs`` on this kernel)."""

    def __init__(self, device: torch.device) -> None:
        self.device = device
        self.growth: Optional[int] = None
        self._base = 0

    def __enter__(self) -> "PeakMeter":
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
            torch.cuda.reset_peak_memory_stats(self.device)
            self._base = torch.cuda.memory_allocated(self.device)
            return self
        release_free_memory()
        self._base = process_rss()
        try:
            _CLEAR_REFS.write_text("5")  # reset VmHWM to the current resident set
        except OSError:
            self._base = -1
        return self

    def __exit__(self, *exc: object) -> None:
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
            self.growth = int(torch.cuda.max_memory_allocated(self.device)) - self._base
            return
        peak = _status_kib("VmHWM")
        if self._base >= 0 and peak is not None:
            self.growth = max(peak - self._base, 0)


def in_use(device: torch.device) -> int:
    """Bytes already counted against the budget: the process's resident set on the CPU (after
    freed memory is handed back), PyTorch's allocations on a GPU."""
    if device.type == "cuda":
        return int(torch.cuda.memory_allocated(device))
    release_free_memory()
    return process_rss()


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
