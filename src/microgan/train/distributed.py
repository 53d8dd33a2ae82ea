"""torch.distributed plumbing for training: one process per device, launched by ``torchrun``.

``torchrun`` sets ``RANK``, ``WORLD_SIZE`` and ``LOCAL_RANK``; without them training is a single
process and nothing here talks to anyone. Backends: NCCL on CUDA, gloo on CPU (which is how the
tests check the multi-process path on a machine without GPUs).

Only the few collectives the trainer needs are wrapped, each a no-op in a single process, so the
training loop has no ``if distributed`` branches of its own.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import timedelta
from typing import List, Sequence

import torch
import torch.distributed as dist
from torch.nn.parallel import DistributedDataParallel

from microgan.core.device import rank_device
from microgan.core.ranks import RankPosition


@dataclass(frozen=True)
class DistContext(RankPosition):
    """Where this process sits and the device it trains on."""

    device: torch.device

    def any_flags(self, flags: Sequence[bool]) -> List[bool]:
        """Each flag OR-ed over all ranks (one small all-reduce), so every rank takes the same
        decision (stop, diverged) in the same step and none waits forever for the others."""
        if not self.distributed:
            return list(flags)
        t = torch.tensor([float(f) for f in flags], device=self.device)
        dist.all_reduce(t, op=dist.ReduceOp.MAX)
        return [bool(v) for v in t.tolist()]


def init_distributed(device: str = "auto", timeout_minutes: float = 30.0) -> DistContext:
    """Join the process group that ``torchrun`` described in the environment (if any)."""
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    dev = rank_device(device, local_rank, world_size)
    if dev.type == "cuda":
        torch.cuda.set_device(dev)
    if world_size > 1 and not dist.is_initialized():
        backend = "nccl" if dev.type == "cuda" else "gloo"
        dist.init_process_group(backend, rank=rank, world_size=world_size, timeout=timedelta(minutes=timeout_minutes))
    return DistContext(rank=rank, world_size=world_size, device=dev)


def shutdown(ctx: DistContext) -> None:
    if ctx.distributed and dist.is_initialized():
        dist.destroy_process_group()


def wrap(module: torch.nn.Module, ctx: DistContext) -> torch.nn.Module:
    """DDP-wrap a module in a distributed run (gradients averaged over ranks in backward).

    The trainer keeps the plain module too and uses it wherever no gradient must be synchronised:
    fakes for the critic, the frozen critic in the generator step, validation and saving."""
    if not ctx.distributed:
        return module
    ids = [ctx.device.index] if ctx.device.type == "cuda" else None
    return DistributedDataParallel(module, device_ids=ids)
