"""``torchrun -m microgan enhance``: files shared among ranks, each written once, one summary;
a killed run resumes without redoing finished files."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Callable, Dict, List

import numpy as np

from microgan.data.io import read_image, write_image
from microgan.infer.ranks import share


def _torchrun(*argv: str, nproc: int = 2, **kw) -> subprocess.Popen:
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={nproc}",
           "-m", "microgan", "enhance", *argv]
    return subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **kw)


def _images(folder: Path, count: int, size: int, seed: int = 0) -> None:
    rng = np.random.default_rng(seed)
    for k in range(count):
        write_image(folder / f"f{k:02d}.png", rng.integers(0, 255, (size, size + k % 3, 3), dtype=np.uint8))


def _descendants(pid: int) -> List[int]:
    """``pid`` and every process below it (torchrun starts its ranks in sessions of their own,
    so killing the launcher's process group would leave them running)."""
    children: Dict[int, List[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    found, todo = [], [pid]
    while todo:
        found.append(todo.pop())
        todo.extend(children.get(found[-1], []))
    return found


def _kill_when(run: subprocess.Popen, ready: Callable[[], bool], seconds: float = 240) -> None:
    """Wait until ``ready()`` (or the run ends, or ``seconds`` pass), then kill -9 the launcher and every rank."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline and run.poll() is None and not ready():
        time.sleep(0.02)
    for pid in _descendants(run.pid):
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    run.communicate()


def _mtimes(folder: Path) -> Dict[str, int]:
    return {p.name: p.stat().st_mtime_ns for p in folder.iterdir() if not p.name.startswith(".")}


def test_share_balances_by_size_and_gives_every_file_to_one_rank() -> None:
    weights = [100, 1, 1, 1, 50, 50, 1, 1]
    shares = share(weights, 2)
    assert sorted(i for s in shares for i in s) == list(range(8))
    loads = [sum(weights[i] for i in s) for s in shares]
    assert max(loads) - min(loads) <= 2  # by count it would be 4 files each, 152 vs 54
    assert share(weights, 2) == shares and share(weights, 3)[2] != []
    assert share([], 2) == [[], []] and share([5], 3) == [[0], [], []]


def test_two_cpu_ranks_restore_a_folder_once_with_one_summary(
    tmp_path: Path, save_tiny_generator: Callable[..., Path]) -> None:
    model = str(save_tiny_generator(tmp_path / "m.safetensors"))
    _images(tmp_path / "in", 8, 24)
    out = tmp_path / "out"
    args = (str(tmp_path / "in"), "-o", str(out), "--model", model, "--backend", "torch")
    first = _torchrun(*args)
    stdout, stderr = first.communicate(timeout=300)
    assert first.returncode == 0, stderr
    assert stdout.count("enhanced") == 1 and "enhanced 8, skipped 0 (output exists; --overwrite to redo), failed 0" in stdout
    assert "(2 ranks)" in stdout
    assert sorted(_mtimes(out)) == [f"f{k:02d}.png" for k in range(8)]
    for k in range(8):
        assert read_image(out / f"f{k:02d}.png").array.shape == (24, 24 + k % 3, 3)
    # as a killed run leaves it: some outputs missing, one half-written temporary
    (out / "f03.png").unlink()
    (out / "f06.png").rename(out / ".f06.png.x1y2z3.tmp")
    kept = _mtimes(out)
    second = _torchrun(*args)
    stdout, stderr = second.communicate(timeout=300)
    assert second.returncode == 0, stderr
    assert "enhanced 2, skipped 6" in stdout
    after = _mtimes(out)
    assert sorted(after) == [f"f{k:02d}.png" for k in range(8)] and not list(out.glob(".*"))
    assert {name: after[name] for name in kept} == kept  # finished files not redone


def _slow_generator(path: Path) -> str:
    """A generator wide enough that restoring 40 images takes seconds: time to kill it mid-way."""
    import torch

    from microgan.archs import build_generator
    from microgan.core.checkpoint import Checkpoint, save_checkpoint

    spec = {"type": "unet", "channels": [48, 96, 192]}
    torch.manual_seed(0)
    save_checkpoint(path, Checkpoint(meta={"config": {"name": "slow", "generator": spec}, "step": 1},
                                     generator=build_generator(spec).state_dict()))
    return str(path)


def test_a_run_killed_mid_way_resumes_without_redoing_finished_files(tmp_path: Path) -> None:
    model = _slow_generator(tmp_path / "slow.safetensors")
    total = 40
    _images(tmp_path / "in", total, 200, seed=1)
    out = tmp_path / "out"
    args = (str(tmp_path / "in"), "-o", str(out), "--model", model, "--backend", "torch", "--batch", "1")
    _kill_when(_torchrun(*args), lambda: len(_mtimes(out) if out.is_dir() else {}) >= 2)
    finished = _mtimes(out)
    assert 0 < len(finished) < total, "the run was not caught mid-way"
    for name in finished:  # whatever carries a final name is complete
        assert read_image(out / name).array.shape[:2] == (200, 200 + int(name[1:3]) % 3)
    rerun = _torchrun(*args)
    stdout, stderr = rerun.communicate(timeout=600)
    assert rerun.returncode == 0, stderr
    assert f"enhanced {total - len(finished)}, skipped {len(finished)}" in stdout
    after = _mtimes(out)
    assert len(after) == total and not list(out.glob(".*"))
    assert {name: after[name] for name in finished} == finished
