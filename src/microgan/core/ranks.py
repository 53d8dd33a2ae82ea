"""Where a process sits among the ranks ``torchrun`` started, and the few collectives both training
and inference need (training adds its device and a flag vote, inference the local rank).

The collectives are no-ops in a single process, so callers never branch on ``distributed``.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, List

import torch.distributed as dist


@dataclass(frozen=True)
class RankPosition:
    """This process's rank among ``world_size`` processes."""

    rank: int
    world_size: int

    @property
    def is_main(self) -> bool:
        """Rank 0: the one that plans, logs, writes checkpoints and prints summaries."""
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.world_size > 1

    def broadcast(self, obj: Any) -> Any:
        """Rank 0's ``obj`` on every rank (picklable)."""
        if not self.distributed:
            return obj
        box = [obj]
        dist.broadcast_object_list(box, src=0)
        return box[0]

    def gather(self, obj: Any) -> List[Any]:
        """``obj`` from every rank, in rank order, on every rank (picklable Python objects)."""
        if not self.distributed:
            return [obj]
        out: List[Any] = [None] * self.world_size
        dist.all_gather_object(out, obj)
        return out

    def barrier(self) -> None:
        if self.distributed:
            dist.barrier()
