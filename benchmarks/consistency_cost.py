"""What the data-consistency step costs: the default model with and without it, side by side.

    python benchmarks/consistency_cost.py [--sizes 110 256 512 1024] [--repeats 5] [--threads 2]

For each square RGB size, a real-looking input (a BCCD-like field of smooth discs, blurred by the
paper's kernel and quantised to 8 bits) is restored by ``microgan-blind`` with ``consistency=False``
and ``True``, interleaved, ``--repeats`` times each after a warm-up; the medians and their ratio are
printed as a markdown table (docs/benchmarks.md). The step's own parts (fit, solve) are timed on the
same arrays (the fit as ``refine`` runs it: on the most textured 256x256 window of a larger image).
Ratios, not seconds, are what to compare on a shared machine.
"""
from __future__ import annotations

import argparse
import platform
import statistics
import time

import numpy as np


def field(size: int, seed: int = 0) -> np.ndarray:
    """Overlapping smooth discs on a bright background, blurred by the paper's blur, uint8 RGB."""
    import cv2

    from microgan.data.degrade import build_degradation

    rng = np.random.default_rng(seed)
    image = np.full((size, size, 3), 220, np.uint8)
    for _ in range(max(3, size * size // 3000)):
        centre = tuple(int(v) for v in rng.integers(0, size, 2))
        colour = tuple(int(v) for v in rng.integers(60, 200, 3))
        cv2.circle(image, centre, int(rng.integers(8, 30)), colour, -1, lineType=cv2.LINE_AA)
    image = cv2.GaussianBlur(image, (0, 0), 1.0)
    return build_degradation({"type": "gaussian-blur"})(image)


def median_seconds(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[110, 256, 512, 1024])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()

    import torch

    import microgan
    from microgan.infer import consistency

    torch.set_num_threads(args.threads)
    plain = microgan.load("microgan-blind", device="cpu", consistency=False, backend="torch", tile=None)
    fixed = microgan.load("microgan-blind", device="cpu", consistency=True, backend="torch", tile=None)
    print("| size | network alone | network + consistency | ratio | fit | solve |")
    print("|---|---|---|---|---|---|")
    for size in args.sizes:
        image = field(size)
        plain.enhance(image), fixed.enhance(image)  # warm-up (allocators, caches)
        a_times, b_times = [], []
        for _ in range(args.repeats):  # interleaved: both see the same machine load
            a_times.append(median_seconds(lambda: plain.enhance(image), 1))
            b_times.append(median_seconds(lambda: fixed.enhance(image), 1))
        a, b = statistics.median(a_times), statistics.median(b_times)
        x = plain.enhance(image).astype(np.float32) / 255
        y = image.astype(np.float32) / 255
        unit = lambda a: a  # noqa: E731 - x and y are already in [0, 1] units

        def fit_as_refine_does():  # on the most textured window of a large image
            region, margin = consistency.fit_window(y, unit)
            return consistency.fit_psf(x[region], y[region], margin)

        fit_s = median_seconds(fit_as_refine_does, args.repeats)
        fit = fit_as_refine_does()
        solve_s = median_seconds(lambda: consistency.correct(x, y, fit), args.repeats)
        print(f"| {size}x{size} | {a * 1000:.0f} ms | {b * 1000:.0f} ms | {b / a:.2f}x | {fit_s * 1000:.0f} ms | {solve_s * 1000:.0f} ms |")
    stamp = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    print(f"\n{stamp}, {platform.processor() or platform.machine()}, torch {torch.__version__}, {args.threads} threads, "
          f"median of {args.repeats}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
