"""Training curves of one or more runs as one PNG, from their ``metrics.csv`` (long form).

    python scripts/plot_training.py runs/gan -o docs/gan-training.png
    python scripts/plot_training.py w0.1=runs/gan-a w0.01=runs/gan-b -o curves.png

Panels: the generator's loss terms, the critic's loss, gradient penalty and Wasserstein estimate
(the numbers that say whether a WGAN-GP run is stable: the estimate should stay positive and
drift slowly, the penalty small), and validation PSNR. A run with no critic steps (an L1 run) only
fills the generator and validation panels. Training scalars are the means over each logging interval.
"""
from __future__ import annotations

import argparse
import csv
from collections import defaultdict
from pathlib import Path
from typing import Dict, List, Tuple

PANELS = [
    ("generator loss terms", ["train/generator/pixel", "train/generator/perceptual", "train/generator/adversarial"]),
    ("critic", ["train/critic/loss", "train/critic/gp", "train/critic/wasserstein"]),
    ("validation PSNR (dB)", ["val/psnr", "val/psnr_input"]),
]


def read(run: Path) -> Dict[str, List[Tuple[int, float]]]:
    series: Dict[str, List[Tuple[int, float]]] = defaultdict(list)
    with open(run / "metrics.csv", newline="") as fh:
        for row in csv.DictReader(fh):
            series[row["tag"]].append((int(row["step"]), float(row["value"])))
    return series


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("runs", nargs="+", metavar="[NAME=]RUN")
    parser.add_argument("-o", "--out", type=Path, required=True)
    args = parser.parse_args()

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    runs = []
    for value in args.runs:
        name, sep, path = value.partition("=")
        runs.append((name, Path(path)) if sep else (Path(value).name, Path(value)))
    fig, axes = plt.subplots(1, len(PANELS), figsize=(5.2 * len(PANELS), 3.6))
    styles = ["-", "--", ":", "-."]
    for (title, tags), ax in zip(PANELS, axes):
        for r, (name, path) in enumerate(runs):
            series = read(path)
            for tag in tags:
                if series.get(tag):
                    steps, values = zip(*series[tag])
                    label = tag.split("/")[-1] + (f" ({name})" if len(runs) > 1 else "")
                    ax.plot(steps, values, styles[r % len(styles)], label=label, linewidth=1.2)
        ax.set_title(title, fontsize=10)
        ax.set_xlabel("step")
        ax.grid(alpha=0.3)
        if ax.lines:
            ax.legend(fontsize=7)
    axes[1].axhline(0.0, color="grey", linewidth=0.6)
    fig.tight_layout()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(args.out, dpi=110)
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
