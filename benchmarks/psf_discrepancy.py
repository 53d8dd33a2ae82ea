"""The PSF-aware model's final solve at the discrepancy principle's weight, against the network alone.

    python benchmarks/psf_discrepancy.py --model microgan-psf --data bccd=PREP_BCCD --data chula=PREP_CHULA \
        --data natural=PREP_NATURAL [--targets 1 1.5 2] [--limit 12] [--split val]

For evenly spread crops of each domain and every cell of the robustness grid, the model told the
cell's true PSF restores each crop without the final solve and with it, for each target of
``core.physics.DISCREPANCY`` (the residual lowered to that many times the noise variance); the table
gives mean PSNR per cell. The target is chosen on the training domains' val crops (run it on the
held-out domains' test crops only to report, never to choose).
"""
from __future__ import annotations

import argparse
import time

import numpy as np


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="microgan-psf")
    parser.add_argument("--data", action="append", required=True, metavar="DOMAIN=PREPARED")
    parser.add_argument("--targets", type=float, nargs="+", default=[1.0, 1.5, 2.0])
    parser.add_argument("--limit", type=int, default=12)
    parser.add_argument("--split", default="val")
    args = parser.parse_args()

    import microgan
    from microgan.core import physics
    from microgan.core.metrics import psnr
    from microgan.data.degrade.presets import GRID, parse_degradation_text
    from microgan.data.io import read_image
    from microgan.data.manifest import read_manifest

    started = time.time()
    with_step = microgan.load(args.model, device="cpu", precision="fp32")
    alone = microgan.load(args.model, device="cpu", precision="fp32", consistency=False)
    print("| domain | degradation | network alone | " + " | ".join(f"target {t:g}" for t in args.targets) + " |")
    print("|" + "---|" * (len(args.targets) + 3))
    gains = {t: [] for t in args.targets}
    for domain, root in (d.split("=", 1) for d in args.data):
        records = [r for r in read_manifest(root) if r.split == args.split]
        records = [records[i * len(records) // args.limit] for i in range(min(args.limit, len(records)))]
        for cell in GRID:
            degradation = parse_degradation_text(cell)
            with_step.set_psf(degradation.psf())
            alone.set_psf(degradation.psf())
            pairs = []
            for i, record in enumerate(records):
                hr = read_image(f"{root}/{record.hr_path}").array
                pairs.append((degradation(hr, np.random.default_rng([3, i])), hr))
            base = float(np.mean([psnr(alone.enhance(lr), hr) for lr, hr in pairs]))
            row = []
            for target in args.targets:
                physics.DISCREPANCY = target
                row.append(float(np.mean([psnr(with_step.enhance(lr), hr) for lr, hr in pairs])))
                gains[target].append(row[-1] - base)
            print(f"| {domain} | `{cell}` | {base:.2f} | " + " | ".join(f"{v:.2f}" for v in row) + " |", flush=True)
    print("\nmean gain over the network alone: " + ", ".join(f"target {t:g}: {np.mean(g):+.3f} dB (worst {min(g):+.2f})"
                                                         for t, g in gains.items()))
    print(f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, {time.time() - started:.0f} s, model {args.model}, "
          f"{args.limit} {args.split} crops per domain")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
