"""Device and numeric precision: chosen in one place for training, inference and classification.

``auto`` means the fastest choice that does not cost accuracy on this machine: CUDA when PyTorch
sees a GPU, and half precision only where the hardware computes it natively (fp16 on CUDA, bf16 on
CPUs with AVX512-BF16/AMX/Arm BF16; elsewhere PyTorch emulates bf16 and it runs slower than fp32).
"""
from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Optional, Union

import torch

from microgan.errors import ConfigError

#: Every precision a user can ask for; ``auto`` resolves to one of the others (:func:`resolve_precision`).
PRECISIONS = ("auto", "fp32", "bf16", "fp16")
#: The autocast dtype of each resolved precision (fp32: no autocast).
AUTOCAST_DTYPES = {"fp32": None, "bf16": torch.bfloat16, "fp16": torch.float16}

DeviceLike = Union[str, torch.device, None]


def resolve_device(device: DeviceLike = "auto", index: Optional[int] = None) -> torch.device:
    """``auto`` picks CUDA when present; asking for CUDA without one, or for a GPU number the
    machine does not have, is a clear error (not a CUDA traceback at the first tensor).

    ``index`` chooses the GPU of a bare ``cuda`` (a distributed run's local rank). A
    ``torch.device`` (the Python API) is checked like its name: PyTorch builds ``cuda:7`` on any
    machine and only fails at the first tensor."""
    if isinstance(device, torch.device):
        device = str(device)
    if device in (None, "auto"):
        device = "cuda" if torch.cuda.is_available() else "cpu"
    if str(device).startswith("cuda") and not torch.cuda.is_available():
        raise ConfigError(f"device '{device}': no CUDA device is available to PyTorch {torch.__version__}")
    try:
        dev = torch.device("cuda", index) if device == "cuda" and index is not None else torch.device(device)
    except RuntimeError:
        raise ConfigError(f"device '{device}': not a device name (use auto, cpu, cuda or cuda:N)") from None
    if dev.type == "cuda" and dev.index is not None and dev.index >= torch.cuda.device_count():
        whose = f" (local rank {index}'s GPU)" if device == "cuda" and index is not None else ""
        raise ConfigError(f"device '{dev}'{whose}: this process sees {torch.cuda.device_count()} CUDA device(s), "
                          "numbered from 0 (CUDA_VISIBLE_DEVICES)")
    return dev


def rank_device(device: DeviceLike, local_rank: int, world_size: int) -> torch.device:
    """The device of one of ``world_size`` processes (``torchrun``): a bare ``cuda`` (or ``auto`` on
    a GPU machine) is the GPU of the process's local rank. A numbered GPU for several processes is
    refused: every process would take the same one."""
    if world_size > 1 and str(device).startswith("cuda:"):
        raise ConfigError(f"device '{device}' with {world_size} processes: each process takes the GPU of its "
                          "local rank; pass --device cuda (or auto), and CUDA_VISIBLE_DEVICES to choose the GPUs")
    return resolve_device(device, index=local_rank)


def cpu_has_native_bf16() -> bool:
    """True where the CPU computes bfloat16 in hardware (x86 AVX512-BF16 / AMX, Arm BF16).

    Elsewhere PyTorch emulates bf16 convolutions and they run slower than fp32, so ``auto`` only
    picks bf16 where it is a speed-up. Read from /proc/cpuinfo flags (Linux).
    """
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return False
    flags = set()
    for line in text.splitlines():
        if line.startswith(("flags", "Features")):
            flags.update(line.split(":", 1)[1].split())
    return bool(flags & {"avx512_bf16", "amx_bf16", "bf16"})


def resolve_precision(precision: str, device: torch.device) -> str:
    """``auto``: fp16 on CUDA, bf16 on CPUs with native bf16, else fp32; others are checked."""
    if precision not in PRECISIONS:
        raise ConfigError(f"precision '{precision}': choose one of {', '.join(PRECISIONS)}")
    if precision != "auto":
        return precision
    if device.type == "cuda":
        return "fp16"
    return "bf16" if cpu_has_native_bf16() else "fp32"


def autocast(device: torch.device, precision: str) -> contextlib.AbstractContextManager:
    """The autocast context of a resolved precision (a no-op for fp32)."""
    dtype = AUTOCAST_DTYPES[precision]
    if dtype is None:
        return contextlib.nullcontext()
    return torch.autocast(device.type, dtype=dtype)
