"""A zoomed example grid for the docs: one row per crop, columns LR input, each model, each classical
baseline, sharp truth; each panel is the crop's centre at a fixed integer zoom (nearest neighbour, so
the pixels are the method's own), captioned with the crop's PSNR and HF ratio.

    python scripts/example_grid.py --data PREPARED --split test --rows 4 \\
        --model l1=microgan-bccd --model gan=microgan-bccd-gan --baselines wiener -o docs/gan-examples.png

Rows are evenly spaced over the split's sorted ids (as `microgan evaluate --limit` picks them), or the
ids given with ``--ids``. Baselines are tuned on 24 validation crops, as `microgan evaluate` does, and
are told the exact PSF, and so are models that take one. ``--degradation`` makes the inputs from the sharp crops as `microgan evaluate
--degradation` does (seeded per crop, so the figure shows the crops the report scored).
"""
from __future__ import annotations

import argparse
from pathlib import Path
from typing import Dict, List

import numpy as np

from microgan.core.atomic import atomic_write
from microgan.core.metrics import hf_ratio, psnr
from microgan.data.io import to_float
from microgan.data.manifest import read_manifest
from microgan.evaluate.pipeline import tuned_baselines
from microgan.evaluate.runner import TRUE_PSF, CropSource, Method, model_method, restore_examples, select


def centre(array: np.ndarray, side: int) -> np.ndarray:
    """The central ``side`` x ``side`` window (the whole crop where it is smaller)."""
    h, w = array.shape[:2]
    top, left = max(0, (h - side) // 2), max(0, (w - side) // 2)
    return array[top : top + side, left : left + side]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", required=True, type=Path, help="prepared folder")
    ap.add_argument("--split", default="test")
    ap.add_argument("--rows", type=int, default=4)
    ap.add_argument("--ids", nargs="*", help="crop ids to show instead of evenly spaced ones")
    ap.add_argument("--model", action="append", default=[], metavar="NAME=MODEL", help="repeatable")
    ap.add_argument("--baselines", nargs="*", default=["wiener"])
    ap.add_argument("--degradation", metavar="NAME|SPEC", help="make the inputs with this fixed degradation")
    ap.add_argument("--window", type=int, default=48, help="side of the zoomed centre window, px")
    ap.add_argument("--zoom", type=int, default=4)
    ap.add_argument("-o", "--out", required=True, type=Path)
    ap.add_argument("--overwrite", action="store_true", help="replace an existing --out picture")
    args = ap.parse_args()
    if args.out.exists() and not args.overwrite:
        ap.error(f"{args.out} exists: pass --overwrite to replace it")

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from microgan.data.degrade.presets import parse_degradation_text

    degradation = parse_degradation_text(args.degradation) if args.degradation else None
    if degradation is not None and not degradation.fixed:
        ap.error(f"--degradation {args.degradation}: a figure needs a fixed degradation (no [low, high] ranges)")
    records = read_manifest(args.data)
    source = CropSource(args.data, degradation)
    if args.ids:
        wanted = set(args.ids)
        rows = [r for r in records if r.id in wanted]
        missing = sorted(wanted - {r.id for r in rows})
        if missing:
            ap.error(f"{args.data}: no crop with id {', '.join(missing)} in manifest.csv")
    else:
        rows = select(records, args.split, args.rows)
    if not rows:
        ap.error(f"{args.data}: no crops in split '{args.split}'")
    methods: List[Method] = []
    for item in args.model:
        name, _, ref = item.partition("=")
        methods.append(model_method(name, Path(ref or name), psf=TRUE_PSF))  # told the exact PSF, as the baselines
    if args.baselines:
        val = select(records, "val", 24)
        baselines, _ = tuned_baselines(source, val, args.baselines, "val")
        methods += baselines
    images: Dict[str, Dict[str, np.ndarray]] = restore_examples(source, rows, methods)

    columns = ["LR"] + [m.name for m in methods] + ["HR"]
    fig, axes = plt.subplots(len(rows), len(columns), figsize=(1.9 * len(columns), 2.1 * len(rows)), squeeze=False)
    for i, record in enumerate(rows):
        row = images[record.id]
        hr = row["HR"]
        for j, col in enumerate(columns):
            ax = axes[i, j]
            panel = np.clip(to_float(centre(row[col], args.window)), 0.0, 1.0)
            panel = panel.repeat(args.zoom, axis=0).repeat(args.zoom, axis=1)  # 2-D (gray) or 3-D (RGB)
            ax.imshow(panel, interpolation="nearest", cmap="gray", vmin=0.0, vmax=1.0)
            ax.set_xticks([])
            ax.set_yticks([])
            caption = "truth" if col == "HR" else f"{psnr(row[col], hr):.2f} dB, HF {hf_ratio(row[col], hr):.2f}"
            ax.set_xlabel(caption, fontsize=7)
            if i == 0:
                ax.set_title("input" if col == "LR" else col, fontsize=9)
        axes[i, 0].set_ylabel(f"{record.id}\n{hr.shape[1]}x{hr.shape[0]} px", fontsize=7)
    shown = f"{args.degradation}; " if args.degradation else ""
    fig.suptitle(f"{shown}centre {args.window}x{args.window} px at {args.zoom}x; PSNR and HF ratio of the whole crop", fontsize=9)
    fig.tight_layout()
    atomic_write(args.out, lambda tmp: fig.savefig(tmp, dpi=100, format="png"))  # never a half-written picture
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    from microgan.errors import MicroGANError

    try:
        raise SystemExit(main())
    except MicroGANError as exc:  # a bad folder, model or degradation: one line, not a traceback
        raise SystemExit(f"example_grid: {exc}") from None
