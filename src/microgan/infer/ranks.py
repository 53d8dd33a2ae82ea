"""Restoring on several processes, devices or machines: ``torchrun ... -m microgan enhance``.

``torchrun`` (or SLURM through it) starts one process per device and sets ``RANK``,
``WORLD_SIZE`` and ``LOCAL_RANK``; without them there is one rank and nothing here talks to
anyone. Ranks share nothing but the file system and a gloo process group, used only for two
small messages: rank 0 decides which files still need restoring and who restores which
(:meth:`Ranks.broadcast`), and every rank's outcome is gathered for one summary
(:meth:`Ranks.gather`). gloo carries these Python objects on CPUs and GPU nodes alike.

Work is shared by size, not by count (:func:`share`): the largest files go first, each to the
rank with the least work so far, so one rank does not end up with all the large fields.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import timedelta
from typing import List, Sequence

import torch.distributed as dist

from microgan.core.ranks import RankPosition

#: How long a rank waits for the others at the final gather: as long as the slowest share of a
#: large batch may take. A rank that dies ends the whole job through torchrun long before.
GATHER_TIMEOUT = timedelta(days=7)


@dataclass(frozen=True)
class Ranks(RankPosition):
    """Where this process sits among the ranks of a run, and which local device it uses."""

    local_rank: int = 0


def join() -> Ranks:
    """The ranks ``torchrun`` described in the environment (a gloo group when there are several)."""
    ranks = Ranks(
        rank=int(os.environ.get("RANK", "0")),
        world_size=int(os.environ.get("WORLD_SIZE", "1")),
        local_rank=int(os.environ.get("LOCAL_RANK", "0")),
    )
    if ranks.distributed and not dist.is_initialized():
        dist.init_process_group("gloo", rank=ranks.rank, world_size=ranks.world_size, timeout=GATHER_TIMEOUT)
    return ranks


def leave(ranks: Ranks) -> None:
    if ranks.distributed and dist.is_initialized():
        dist.destroy_process_group()


def share(weights: Sequence[int], world_size: int) -> List[List[int]]:
    """Indices of ``weights`` per rank: heaviest first, each to the least loaded rank (ties: the
    lower rank), then each rank's indices in their original order. Deterministic."""
    loads = [0] * world_size
    shares: List[List[int]] = [[] for _ in range(world_size)]
    for i in sorted(range(len(weights)), key=lambda i: (-weights[i], i)):
        r = min(range(world_size), key=lambda r: (loads[r], r))
        shares[r].append(i)
        loads[r] += max(int(weights[i]), 1)
    return [sorted(s) for s in shares]
