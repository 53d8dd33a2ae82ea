"""The paper's size-invariance claim with the GAN on: the GAP critic at native crop sizes (MicroGAN)
against the FC critic on crops resized to 128x128 (MicroGAN-FS), from the same L1-trained generator
and for the same wall-clock budget, both evaluated at native size.

    python benchmarks/gan_size_invariance.py --data PREPARED_BCCD --out runs/gan-size --minutes 30

Both variants are `configs/microgan-bccd-gan.yaml` (pixel 100, perceptual 1, adversarial 0.1, 200
critic-only warm-up steps, 2 critic steps per generator step); MicroGAN-FS adds
``critic.type=fc critic.input_size=128 data.resize_to=128``, so the critic and the training crops'
geometry are the only difference. The two trainings run *at the same time*, one thread each, so they
share the machine's load and the wall-clock budget is fair on a shared CPU. Each is evaluated from its
last checkpoint (a GAN's best-PSNR checkpoint is the one least changed by the critic), and the
PSNR gains over the input are binned by crop size (resizing hurts most where it changes a crop most).
Results: OUT/report.json, OUT/report.html, OUT/table.md.
"""
from __future__ import annotations

import argparse
import math
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

VARIANTS = {
    "microgan-gan": [],
    "microgan-fs-gan": ["critic.type=fc", "critic.input_size=128", "data.resize_to=128"],
}


def command(*args: str) -> list[str]:
    return [sys.executable, "-m", "microgan", *args]


def train_all(args: argparse.Namespace) -> None:
    """Start every variant, then wait for all: concurrent runs see the same machine load."""
    env = dict(os.environ, OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")
    procs = []
    for name, extra in VARIANTS.items():
        sets = [x for item in ["train.threads=1", f"train.steps={args.max_steps}", *extra, *args.overrides]
                for x in ("--set", item)]
        cmd = command("train", "--config", "microgan-bccd-gan", "--init-from", args.init_from,
                      "--data", args.data, "--out", str(args.out / name), "--overwrite", "--quiet",
                      "--max-minutes", str(args.minutes), *sets)
        print("+", " ".join(cmd), flush=True)
        log = open(args.out / f"{name}.log", "w")
        procs.append((name, subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT), log))
    failed = []
    for name, proc, log in procs:
        if proc.wait() != 0:
            failed.append(name)
        log.close()
    if failed:
        raise SystemExit(f"training failed for {', '.join(failed)}: see {args.out}/<name>.log")


def steps_done(run: Path) -> int:
    """The last generator step a run logged (metrics.csv's first column)."""
    rows = (run / "metrics.csv").read_text().strip().splitlines()
    return int(float(rows[-1].split(",")[0])) if len(rows) > 1 else 0


def table(report: dict, args: argparse.Namespace) -> str:
    lines = [
        "| Method | steps in budget | PSNR (dB) | SSIM | VIF | MS-SSIM | HF ratio |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for name, m in report["methods"].items():
        run = args.out / name
        steps = str(steps_done(run)) if (run / "metrics.csv").exists() else "-"
        lines.append(f"| {name} | {steps} | {m['psnr']:.2f} ± {m['psnr_std']:.2f} | {m['ssim']:.4f} | "
                     f"{m['vif']:.3f} | {m['ms_ssim']:.4f} | {m['hf_ratio']:.2f} |")
    head = (f"{report['n_images']} crops of the `{report['split']}` split at native size; both GANs fine-tuned "
            f"from `{args.init_from}` for {args.minutes:g} min of wall time side by side, one thread each, on "
            f"{platform.processor() or platform.machine()} ({time.strftime('%Y-%m-%d')}).")
    return head + "\n\n" + "\n".join(lines) + "\n"


#: bins of a crop's longest side, px: (low, high], None = no upper bound
SIZE_BINS = [(0, 96), (96, 160), (160, None)]


def size_table(evaluation) -> str:
    """Mean PSNR gain over the blurred input per size bin, for every model of ``evaluation``."""
    import numpy as np

    names = [m.name for m in evaluation.methods if m.kind == "model"]
    lines = ["| longest side (px) | crops | " + " | ".join(names) + " |", "|---|---:|" + "---:|" * len(names)]
    for low, high in SIZE_BINS:
        chosen = [c for c in evaluation.crops if low < max(c.height, c.width) <= (high or math.inf)]
        if chosen:
            gains = [f"{np.mean([c.psnr[n] - c.psnr_input for c in chosen]):+.2f}" for n in names]
            lines.append(f"| {low + 1}-{high or ''} | {len(chosen)} | " + " | ".join(gains) + " |")
    return "PSNR gain over the blurred input (dB) by crop size:\n\n" + "\n".join(lines) + "\n"


def evaluate_runs(args: argparse.Namespace):
    """What `microgan evaluate --split test --limit N --baselines identity wiener --json --html` does,
    in process, so the size table comes from the same per-crop scores instead of a second pass."""
    from microgan.data.manifest import read_manifest
    from microgan.evaluate.pipeline import evaluate_and_report, tuned_baselines
    from microgan.evaluate.runner import model_method, select

    data = Path(args.data)
    records = read_manifest(data)
    models = [(args.init_from.replace("/", "_"), Path(args.init_from))]
    models += [(name, args.out / name / "last.safetensors") for name in VARIANTS]
    methods = [model_method(name, ref) for name, ref in models]
    baselines, tuning = tuned_baselines(data, select(records, "val", 48), ["identity", "wiener"], "val")
    return evaluate_and_report(data, select(records, "test", args.limit), methods + baselines, "test",
                               tuning=tuning, json_path=args.out / "report.json", html_path=args.out / "report.html")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", required=True, help="prepared BCCD folder (microgan prepare --source bccd)")
    ap.add_argument("--out", required=True, type=Path)
    ap.add_argument("--init-from", default="microgan-bccd", help="the L1-trained generator both start from")
    ap.add_argument("--minutes", type=float, default=30.0, help="training wall time, the same for both")
    ap.add_argument("--max-steps", type=int, default=100000, help="a step cap far beyond the budget")
    ap.add_argument("--limit", type=int, default=200, help="test crops evaluated")
    ap.add_argument("--set", dest="overrides", action="append", default=[], help="extra override for both")
    ap.add_argument("--skip-training", action="store_true", help="evaluate the runs already in OUT")
    args = ap.parse_args()

    args.out.mkdir(parents=True, exist_ok=True)
    if not args.skip_training:
        train_all(args)
    evaluation, report = evaluate_runs(args)
    text = table(report, args) + "\n" + size_table(evaluation)
    (args.out / "table.md").write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
