"""Training throughput: the paper's schedule (one crop at a time, fp32) beside faster settings, in
one run, on real prepared crops; optionally validation PSNR after equal wall time.

    .venv/bin/python benchmarks/train_throughput.py --data /tmp/prep-bccd
    .venv/bin/python benchmarks/train_throughput.py --data /tmp/prep-bccd --quality-minutes 5 --write

Throughput: every setting gets its own Trainer (same config, seed and data) and the settings take
turns, one training step each, for ``--rounds`` rounds after one warm-up step, so a change in the
machine's load (shared CPUs) hits all settings alike. A step is the full schedule: ``critic_steps``
critic updates and one generator update. Reported: generator crops per second (how fast epochs go
by), real megapixels per second (padding excluded: batches differ in crop sizes) and whether every
loss stayed finite. "Fastest safe" is the fastest setting whose losses all stayed finite.

Quality (``--quality-minutes M``): the paper setting and the fastest safe one each train for M
minutes from scratch with ``microgan train``'s code; their final validation PSNR/SSIM is reported
beside the degraded input's.

``--write`` appends the markdown to docs/benchmarks.md; it is always printed.
"""
from __future__ import annotations

import argparse
import datetime as dt
import math
import os
import platform
import shlex
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Dict, List

import torch

from microgan.config import apply_overrides, load_config
from microgan.train.distributed import DistContext
from microgan.train.trainer import Trainer, prepare_run_dir

REPO = Path(__file__).resolve().parents[1]
NOTES = REPO / "docs" / "benchmarks.md"
PAPER = "paper: batch 1, fp32"
# name -> config overrides; the first is the paper's schedule
SETTINGS: Dict[str, List[str]] = {
    PAPER: [],
    "batch 1, same critic batch": ["train.critic_batches=same"],
    "bucket 4, fp32": ["data.batch_size=4"],
    "bucket 4, fp32, channels_last": ["data.batch_size=4", "train.channels_last=true"],
    "bucket 4, bf16": ["data.batch_size=4", "train.precision=bf16"],
    "bucket 8, fp32": ["data.batch_size=8"],
}


def _trainer(config: Dict[str, Any], data: Path, out: Path) -> Trainer:
    prepare_run_dir(out, resume=False, overwrite=False)
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return Trainer(config, data, out, DistContext(0, 1, device), quiet=True)


def throughput(base: Dict[str, Any], data: Path, names: List[str], rounds: int, work: Path) -> Dict[str, Dict[str, float]]:
    trainers = {n: _trainer(apply_overrides(base, SETTINGS[n]), data, work / f"t{i}") for i, n in enumerate(names)}
    totals = {n: {"seconds": 0.0, "images": 0, "megapixels": 0.0, "finite": True} for n in names}
    for name, trainer in trainers.items():  # warm-up: first-call allocations, oneDNN kernel choice
        trainer.train_step()
    for r in range(rounds):
        print(f"round {r + 1}/{rounds}", file=sys.stderr, flush=True)
        for name, trainer in trainers.items():
            sync = torch.cuda.synchronize if trainer.device.type == "cuda" else (lambda: None)
            sync()
            start = time.perf_counter()
            stats, images, pixels = trainer.train_step()
            sync()
            t = totals[name]
            t["seconds"] += time.perf_counter() - start
            t["images"] += images
            t["megapixels"] += pixels / 1e6
            t["finite"] = t["finite"] and all(math.isfinite(v) for v in stats.values())
    return {
        n: {"img_s": t["images"] / t["seconds"], "mpx_s": t["megapixels"] / t["seconds"], "s_step": t["seconds"] / rounds, "finite": t["finite"]}
        for n, t in totals.items()
    }


def quality(base: Dict[str, Any], data: Path, names: List[str], minutes: float, work: Path) -> Dict[str, Dict[str, float]]:
    out = {}
    for i, name in enumerate(names):
        config = apply_overrides(base, SETTINGS[name] + [f"train.max_minutes={minutes}", "train.steps=null", "train.epochs=1000000"])
        trainer = _trainer(config, data, work / f"q{i}")
        summary = trainer.fit()
        out[name] = {"steps": summary["step"], "psnr": summary["val"]["psnr"], "ssim": summary["val"]["ssim"], "best_psnr": summary["best_psnr"]}
        out["input"] = trainer.input_scores()
    return out


def _machine() -> str:
    if torch.cuda.is_available():
        return torch.cuda.get_device_name(0)
    return f"{os.cpu_count()}-core {platform.machine()} CPU, no GPU"


def report(args: argparse.Namespace, speed: Dict[str, Dict[str, float]], qual: Dict[str, Dict[str, float]] | None, fastest: str) -> str:
    load = " / ".join(f"{v:.1f}" for v in os.getloadavg())
    lines = [
        f"### Training throughput, {dt.datetime.now(dt.timezone.utc):%Y-%m-%d %H:%M} UTC",
        "",
        f"Machine: {_machine()}, torch {torch.__version__}, {torch.get_num_threads()} threads; load average at the end {load}.",
        f"Command: `{' '.join(shlex.quote(a) for a in [sys.executable.replace(str(REPO) + '/', ''), *sys.argv])}`",
        f"Config: `{args.config}` + `{' '.join(args.set) or '(no overrides)'}`; {args.rounds} timed steps per setting, interleaved.",
        "",
        "| setting | generator crops/s | real Mpx/s | s/step | losses finite | vs paper |",
        "|---|---:|---:|---:|:---:|---:|",
    ]
    paper = speed[PAPER]["img_s"]
    for name, s in speed.items():
        mark = " (fastest safe)" if name == fastest else ""
        lines.append(f"| {name}{mark} | {s['img_s']:.3f} | {s['mpx_s']:.4f} | {s['s_step']:.2f} | {'yes' if s['finite'] else 'NO'} | {s['img_s'] / paper:.2f}x |")
    if qual:
        inp = qual.pop("input")
        lines += [
            "",
            f"Validation after {args.quality_minutes} min of training each (input: PSNR {inp['psnr']:.2f} dB, SSIM {inp['ssim']:.4f}):",
            "",
            "| setting | steps | val PSNR (dB) | val SSIM | best PSNR (dB) |",
            "|---|---:|---:|---:|---:|",
        ]
        for name, q in qual.items():
            lines.append(f"| {name} | {q['steps']} | {q['psnr']:.2f} | {q['ssim']:.4f} | {q['best_psnr']:.2f} |")
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", required=True, type=Path, help="prepared folder")
    parser.add_argument("--config", default="microgan")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="config override for every setting")
    parser.add_argument("--rounds", type=int, default=5, help="timed steps per setting")
    parser.add_argument("--only", action="append", choices=list(SETTINGS), help="settings to run (default: all)")
    parser.add_argument("--quality-minutes", type=float, help="also train paper vs fastest safe for this long each")
    parser.add_argument("--write", action="store_true", help=f"append the markdown to {NOTES.relative_to(REPO)}")
    args = parser.parse_args()

    base = apply_overrides(load_config(args.config), ["train.val_max_crops=32", "train.log_every=1000000"] + args.set)
    names = args.only or list(SETTINGS)
    if PAPER not in names:
        names.insert(0, PAPER)
    with tempfile.TemporaryDirectory(prefix="train-bench-") as tmp:
        speed = throughput(base, args.data, names, args.rounds, Path(tmp))
        safe = [n for n in names if speed[n]["finite"]]
        fastest = max(safe, key=lambda n: speed[n]["img_s"])
        qual = quality(base, args.data, [PAPER] + ([fastest] if fastest != PAPER else []), args.quality_minutes, Path(tmp)) if args.quality_minutes else None
    text = report(args, speed, qual, fastest)
    print(text)
    if args.write:
        with open(NOTES, "a") as fh:
            fh.write("\n" + text)


if __name__ == "__main__":
    main()
