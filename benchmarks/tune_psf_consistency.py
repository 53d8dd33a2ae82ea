"""A fixed final data-consistency weight for the PSF-aware model, on validation crops of its training domains.

    python benchmarks/tune_psf_consistency.py --model microgan-psf \
        --data bccd=PREP_BCCD --data chula=PREP_CHULA --data natural=PREP_NATURAL [--limit 24]

``lam = floor * max(sigma / NOISE_FLOOR, 1) ** power`` (:func:`microgan.core.physics.consistency_weight`),
sigma being the noise read off the input. For every val crop of each domain (evenly spread) and every
cell of the robustness grid, the network's output is computed once (told the cell's true PSF, without
the final solve) and the solve applied with each candidate (floor, power); the table gives the mean
PSNR per cell, and the chosen pair is the one with the best mean over all cells whose every cell is at
least the network alone. Held-out domains are never read here. Measured 2026-12-07: no fixed pair
keeps every cell (docs/paper-notes.md); the model uses the discrepancy principle instead
(benchmarks/psf_discrepancy.py).
"""
from __future__ import annotations

import argparse
import itertools
import time
from typing import Dict, List, Tuple

import numpy as np

FLOORS = (1e-4, 3e-4, 1e-3, 3e-3, 1e-2)
POWERS = (1.0, 1.5, 2.0)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="microgan-psf")
    parser.add_argument("--data", action="append", required=True, metavar="DOMAIN=PREPARED")
    parser.add_argument("--limit", type=int, default=24)
    args = parser.parse_args()

    import microgan
    from microgan.core import physics
    from microgan.core.fourier import solve_regions
    from microgan.core.metrics import psnr
    from microgan.data.degrade.presets import GRID, parse_degradation_text
    from microgan.data.io import from_float, read_image, to_float
    from microgan.data.manifest import read_manifest

    enh = microgan.load(args.model, device="cpu", precision="fp32", consistency=False)
    started = time.time()
    scores: Dict[Tuple[str, str, float, float], List[float]] = {}
    for domain, root in (d.split("=", 1) for d in args.data):
        records = [r for r in read_manifest(root) if r.split == "val"]
        records = [records[i * len(records) // args.limit] for i in range(min(args.limit, len(records)))]
        for cell in GRID:
            degradation = parse_degradation_text(cell)
            kernel = degradation.psf()
            enh.set_psf(kernel)
            for i, record in enumerate(records):
                hr = read_image(f"{root}/{record.hr_path}").array
                lr = degradation(hr, np.random.default_rng([7, i]))
                x = enh.enhance(lr)
                scores.setdefault((domain, cell, 0.0, 0.0), []).append(psnr(x, hr))
                y = to_float(lr)
                sigma = physics.estimate_noise(y)
                for floor, power in itertools.product(FLOORS, POWERS):
                    lam = floor * max(sigma / physics.NOISE_FLOOR, 1.0) ** power
                    z = solve_regions(y, kernel, lam, prior=to_float(x))
                    scores.setdefault((domain, cell, floor, power), []).append(psnr(from_float(np.clip(z, 0, 1), hr.dtype), hr))
    cells = sorted({(d, c) for d, c, _, _ in scores})
    header = "| floor | power | " + " | ".join(f"{d} `{c}`" for d, c in cells) + " | mean |"
    print(header)
    print("|" + "---|" * (len(cells) + 3))
    best, best_mean = None, -np.inf
    for floor, power in [(0.0, 0.0)] + list(itertools.product(FLOORS, POWERS)):
        means = [float(np.mean(scores[(d, c, floor, power)])) for d, c in cells]
        label = ("network alone", "") if floor == 0 else (f"{floor:g}", f"{power:g}")
        print(f"| {label[0]} | {label[1]} | " + " | ".join(f"{m:.2f}" for m in means) + f" | {np.mean(means):.3f} |")
        alone = [float(np.mean(scores[(d, c, 0.0, 0.0)])) for d, c in cells]
        if floor and all(m >= a - 1e-9 for m, a in zip(means, alone)) and np.mean(means) > best_mean:
            best, best_mean = (floor, power), float(np.mean(means))
    print(f"\nchosen (no cell below the network alone, best mean): floor {best[0]:g}, power {best[1]:g}" if best
          else "\nno pair keeps every cell at least at the network alone")
    print(f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, {time.time() - started:.0f} s, model {args.model}, "
          f"{args.limit} val crops per domain")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
