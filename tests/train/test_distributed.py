"""Two gloo processes on CPU: DDP, including the gradient penalty's double backward, keeps the ranks
in sync, and matches one process training on the same global batches.

Both runs share one pair of forked processes (starting processes costs most of the time).
"""
from __future__ import annotations

import os
import socket
from pathlib import Path
from typing import Dict, List, Tuple

import pytest
import torch
import torch.multiprocessing as mp

from microgan.config import apply_overrides, load_config
from microgan.errors import MicroGANError
from microgan.train.distributed import DistContext, init_distributed, shutdown
from microgan.train.trainer import Trainer

STEPS = 3
CPU = DistContext(0, 1, torch.device("cpu"))
# the equivalence run has no gradient penalty: its interpolation weights are drawn per rank
NO_GP = ["losses.adversarial.gp_weight=0"]


def _config(tiny: List[str], batch_size: int, extra: List[str]) -> dict:
    # lr 1e-3: a rank that missed the gradient all-reduce would be ~1e-3 off, far above tolerance
    sets = [f"train.steps={STEPS}", f"data.batch_size={batch_size}", "train.optimizer.lr=1e-3"]
    return apply_overrides(load_config("microgan"), tiny + sets + extra)


def _params(trainer: Trainer) -> Dict[str, torch.Tensor]:
    out = {f"generator.{k}": v.detach().clone() for k, v in trainer.generator.state_dict().items()}
    out.update({f"critic.{k}": v.detach().clone() for k, v in trainer.critic.state_dict().items()})
    return out


def _worker(rank: int, port: int, tiny: List[str], jobs: List[Tuple[str, str, List[str]]]) -> None:
    torch.set_num_threads(1)  # forked: keep the child off the parent's OpenMP pool
    os.environ.update({"MASTER_ADDR": "127.0.0.1", "MASTER_PORT": str(port), "RANK": str(rank), "WORLD_SIZE": "2", "LOCAL_RANK": str(rank)})
    ctx = init_distributed("cpu")
    try:
        for data, out, extra in jobs:
            trainer = Trainer(_config(tiny, 1, extra), Path(data), Path(out), ctx, quiet=True)
            trainer.fit()
            torch.save(_params(trainer), Path(out) / f"rank{rank}.pt")
    finally:
        shutdown(ctx)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def ddp_runs(prepared_varied: Path, prepared_uniform: Path, tiny_sets: List[str], tmp_path_factory: pytest.TempPathFactory) -> Dict[str, Path]:
    """Two 2-rank runs: varied sizes with the gradient penalty, uniform sizes without it."""
    root = tmp_path_factory.mktemp("ddp")
    runs = {"gp": (prepared_varied, root / "gp", []), "nogp": (prepared_uniform, root / "nogp", NO_GP)}
    jobs = [(str(d), str(o), e) for d, o, e in runs.values()]
    # Forked ranks inherit the imports (a spawned rank re-imports torch and, on its first
    # optimizer, torch._dynamo: ~15 s each on a busy 2-core machine); import the latter here.
    import torch._dynamo  # noqa: F401

    mp.start_processes(_worker, args=(_free_port(), tiny_sets, jobs), nprocs=2, join=True, start_method="fork")
    return {k: o for k, (_, o, _) in runs.items()}


def test_two_gloo_ranks_stay_in_sync_with_gradient_penalty(ddp_runs: Dict[str, Path], prepared_varied: Path, tiny_sets: List[str], tmp_path: Path) -> None:
    r0, r1 = (torch.load(ddp_runs["gp"] / f"rank{r}.pt") for r in (0, 1))
    initial = _params(Trainer(_config(tiny_sets, 1, []), prepared_varied, tmp_path, CPU, quiet=True))
    assert any(not torch.equal(r0[k], initial[k]) for k in r0), "training did not change the weights"
    for k in r0:
        assert torch.equal(r0[k], r1[k]), f"{k} differs between ranks"
    assert (ddp_runs["gp"] / "last.safetensors").is_file() and (ddp_runs["gp"] / "metrics.csv").is_file()


def test_two_ranks_match_one_process_with_the_same_global_batch(ddp_runs: Dict[str, Path], prepared_uniform: Path, tiny_sets: List[str], tmp_path: Path) -> None:
    single = Trainer(_config(tiny_sets, 2, NO_GP), prepared_uniform, tmp_path, CPU, quiet=True)
    single.fit()
    ref, r0 = _params(single), torch.load(ddp_runs["nogp"] / "rank0.pt")
    for k in ref:
        # Adam divides by sqrt(v): on near-zero gradients reduction-order rounding shows up ~1e-6
        torch.testing.assert_close(r0[k], ref[k], rtol=0, atol=2e-5, msg=f"{k}: two ranks vs one process")


def test_a_numbered_gpu_is_refused_for_several_processes(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every rank would take the same GPU: refused before any process group is joined."""
    monkeypatch.setenv("WORLD_SIZE", "2")
    with pytest.raises(MicroGANError, match="each process takes the GPU of its local rank"):
        init_distributed("cuda:1")
