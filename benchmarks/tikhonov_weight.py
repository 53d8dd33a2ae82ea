"""The Tikhonov deconvolution's PSNR against its weight, per degradation, told the true PSF.

    python benchmarks/tikhonov_weight.py --data PREP_BCCD [--limit 25]

On evenly spread val crops: the noise read off each input (``core.physics.estimate_noise``) and the
mean PSNR of ``argmin |k*z - y|^2 + w |grad z|^2`` for a range of weights ``w``. This chose
``core.physics.REGULARIZATION`` (docs/paper-notes.md, "The PSF-aware model").
"""
from __future__ import annotations

import argparse

import numpy as np

WEIGHTS = (1e-4, 3e-4, 1e-3, 3e-3, 1e-2, 3e-2, 1e-1, 3e-1, 1.0, 3.0)
CELLS = ("paper", "gauss:1.5", "gauss:3.5", "defocus:4", "gauss:1.5+noise:0.01", "gauss:3.5+noise:0.03", "gauss:2+noise:0.05")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", required=True)
    parser.add_argument("--limit", type=int, default=25)
    args = parser.parse_args()

    from microgan.core.fourier import solve_regions
    from microgan.core.metrics import psnr
    from microgan.core.physics import estimate_noise
    from microgan.data.degrade.presets import parse_degradation_text
    from microgan.data.io import from_float, read_image, to_float
    from microgan.data.manifest import read_manifest

    records = [r for r in read_manifest(args.data) if r.split == "val"]
    records = [records[i * len(records) // args.limit] for i in range(min(args.limit, len(records)))]
    hrs = [read_image(f"{args.data}/{r.hr_path}").array for r in records]
    print("| degradation | noise read | input | " + " | ".join(f"w={w:g}" for w in WEIGHTS) + " |")
    print("|" + "---|" * (len(WEIGHTS) + 3))
    for cell in CELLS:
        degradation = parse_degradation_text(cell)
        kernel = degradation.psf()
        noise, scores, inputs = [], {w: [] for w in WEIGHTS}, []
        for i, hr in enumerate(hrs):
            lr = degradation(hr, np.random.default_rng(i))
            y = to_float(lr)
            noise.append(estimate_noise(y))
            inputs.append(psnr(lr, hr))
            for w in WEIGHTS:
                scores[w].append(psnr(from_float(np.clip(solve_regions(y, kernel, w), 0, 1), hr.dtype), hr))
        print(f"| `{cell}` | {np.mean(noise):.4f} | {np.mean(inputs):.2f} | " + " | ".join(f"{np.mean(scores[w]):.2f}" for w in WEIGHTS) + " |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
