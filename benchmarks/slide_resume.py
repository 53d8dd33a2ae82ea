"""A slide restored by a 2-rank torchrun, killed with SIGKILL half way, resumed: equal to an uninterrupted run?

    python benchmarks/slide_resume.py --work DIR [--side 4000]

Makes a ``--side`` px slide (``benchmarks/make_slide.py``, the paper's blur), restores it with the default
model and options under ``torchrun --nproc_per_node 2`` (``--stream on``), kills the launcher and both ranks
with SIGKILL once the ranks' manifests list half the network's tiles, runs the same command with
``--resume``, and compares the result with an uninterrupted single-process run, pixel for pixel. Prints what
the manifest says: the tiles of each attempt, and whether any tile is listed twice.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import tifffile

sys.path.insert(0, str(Path(__file__).resolve().parent))
from make_slide import make_slide  # noqa: E402


def descendants(pid: int) -> list:
    children: dict = {}
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


def listed(parts: Path) -> int:
    """Network tiles the ranks' manifests list (one JSON line a tile)."""
    total = 0
    for manifest in parts.glob("tiles.rank*.jsonl"):
        try:
            total += sum(1 for line in manifest.read_text().splitlines() if line.startswith('["network"'))
        except OSError:
            pass
    return total


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--work", type=Path, required=True)
    parser.add_argument("--side", type=int, default=4000)
    args = parser.parse_args()
    work = args.work
    work.mkdir(parents=True, exist_ok=True)
    slide = work / f"resume{args.side}.tif"
    if not slide.exists():
        make_slide(slide, args.side, blur=2.6)
    for old in ("two-ranks", "one-rank"):
        shutil.rmtree(work / old, ignore_errors=True)
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    torchrun = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2", "-m", "microgan",
                "enhance", str(slide), "-o", str(work / "two-ranks"), "--stream", "on"]
    dst = work / "two-ranks" / slide.name
    parts = dst.with_name(dst.name + ".parts")
    start = time.perf_counter()
    run = subprocess.Popen(torchrun, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
    total = None
    while run.poll() is None:
        job = parts / "job.json"
        if total is None and job.is_file():
            try:
                doc = json.loads(job.read_text())
                total = len(doc["plan"]["rows"]) * len(doc["plan"]["cols"])
            except (OSError, ValueError, KeyError):
                pass
        if total and listed(parts) >= total // 2:
            break
        time.sleep(0.1)
    for pid in descendants(run.pid):
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    run.communicate()
    killed_at = listed(parts)
    print(f"killed with SIGKILL after {time.perf_counter() - start:.0f} s: {killed_at} of {total} network tiles listed; "
          f"output exists: {dst.exists()}", flush=True)
    resumed = subprocess.run(torchrun + ["--resume"], capture_output=True, text=True, env=env)
    print(f"--resume: exit {resumed.returncode}; " + resumed.stdout.strip().splitlines()[-1], flush=True)
    for line in resumed.stderr.splitlines():
        if line.startswith("slide: "):
            print("  " + line, flush=True)
    single = subprocess.run([sys.executable, "-m", "microgan", "enhance", str(slide), "-o", str(work / "one-rank"),
                             "--stream", "on", "--quiet"], capture_output=True, text=True)
    assert single.returncode == 0, single.stderr
    a, b = tifffile.imread(dst), tifffile.imread(work / "one-rank" / slide.name)
    doc = json.loads((work / "two-ranks" / f"{slide.name}.tiles.json").read_text())
    for stage, tiles in doc["tiles"].items():
        attempts = [t["attempt"] for t in tiles.values()]
        print(f"manifest, {stage}: {len(tiles)} tiles listed once each; computed in attempt 1: {attempts.count(1)}, "
              f"attempt 2: {attempts.count(2)}", flush=True)
    diff = np.abs(a.astype(np.int32) - b.astype(np.int32))
    print(f"killed + resumed vs uninterrupted: max difference {diff.max()}, {int((diff > 0).sum())} samples differ "
          f"of {diff.size}", flush=True)


if __name__ == "__main__":
    main()
