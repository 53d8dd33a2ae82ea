"""What telling a model the PSF costs: the PSF-aware model's network alone against its whole pipeline.

    python benchmarks/psf_cost.py --model microgan-psf [--sizes 256 1024] [--repeats 5] [--threads 2] [--field 4096x3072 [--blind]]

For each square RGB size, a BCCD-like field (benchmarks/consistency_cost.py's) blurred by the paper's
kernel is restored by the PSF-aware model told that kernel, two ways, interleaved, ``--repeats`` times
each after a warm-up: the **network alone** (its passes over the network input, computed beforehand)
and the **whole pipeline** ``enhance`` runs (noise estimate, the Tikhonov deconvolution, the network,
the final data-consistency solve at the discrepancy principle's weight). The medians and their ratio are printed as a markdown table
(docs/benchmarks.md). ``--field``: then one field of that size is restored by the whole pipeline
with the default memory budget in a fresh process, and its peak RSS printed. Ratios, not seconds, are
what to compare on a shared machine.
"""
from __future__ import annotations

import argparse
import platform
import statistics
import subprocess
import sys
import time

import numpy as np

sys.path.insert(0, str(__import__("pathlib").Path(__file__).resolve().parent))
from consistency_cost import field  # noqa: E402  (the same BCCD-like field)


def _peak_field(model: str, height: int, width: int, blind: bool = False) -> None:
    """Child process: restore one field with the defaults (``blind``: no PSF given, so it is
    estimated with the blind model first), print the peak RSS in MiB."""
    import microgan

    image = field(max(height, width))[:height, :width]
    enh = microgan.load(model) if blind else microgan.load(model, psf="gauss:2.6")
    start = time.perf_counter()
    out = enh.enhance(image)
    seconds = time.perf_counter() - start
    # VmHWM, not ru_maxrss: Linux carries a parent's peak into ru_maxrss across exec, so a child
    # started after the timing runs would report the parent's peak
    peak = next(int(line.split()[1]) for line in open("/proc/self/status") if line.startswith("VmHWM:")) / 1024
    print(f"{width}x{height} field{', PSF estimated' if blind else ', PSF given'}, default max_memory 1.5 GB: peak RSS {peak:.0f} MiB, {seconds:.1f} s, output {out.shape} {out.dtype}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="microgan-psf")
    parser.add_argument("--sizes", type=int, nargs="+", default=[256, 1024])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--field", default=None, metavar="WxH")
    parser.add_argument("--blind", action="store_true",
                        help="with --field: also restore the field without a PSF (estimated first), and the blind model alone")
    parser.add_argument("--child-field", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--child-blind", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child_field:
        w, h = (int(v) for v in args.child_field.split("x"))
        _peak_field(args.model, h, w, args.child_blind)
        return 0

    import torch

    import microgan
    from microgan.core import physics
    from microgan.core.psf import parse_psf_spec

    torch.set_num_threads(args.threads)
    kernel = parse_psf_spec("gauss:2.6")
    enh = microgan.load(args.model, device="cpu", psf=kernel, backend="torch", tile=None, precision="fp32")
    print("| size | network alone | whole pipeline, PSF given | ratio |")
    print("|---|---|---|---|")
    for size in args.sizes:
        image = field(size)
        sigma = physics.estimate_noise(image.astype(np.float32) / 255)
        z = physics.deconvolution(image.astype(np.float32) / 255, kernel, sigma)
        network = lambda: enh.run_network([image], 0, [(z, sigma)])  # noqa: E731 - the passes over a ready input
        whole = lambda: enh.enhance(image)  # noqa: E731
        network(), whole()  # warm-up
        a, b = [], []
        for _ in range(args.repeats):
            for fn, times in ((network, a), (whole, b)):
                start = time.perf_counter()
                fn()
                times.append(time.perf_counter() - start)
        na, nb = statistics.median(a), statistics.median(b)
        print(f"| {size}x{size} | {na:.3f} s | {nb:.3f} s | {nb / na:.2f}x |", flush=True)
    print(f"\n{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, {platform.processor() or platform.machine()}, "
          f"{args.threads} threads, fp32, PyTorch backend, model {args.model}")
    if args.field:
        child = [sys.executable, __file__, "--child-field", args.field]
        subprocess.run([*child, "--model", args.model], check=True)
        if args.blind:  # the estimate's cost: the same model without a PSF, and the blind model alone
            subprocess.run([*child, "--model", args.model, "--child-blind"], check=True)
            subprocess.run([*child, "--model", "microgan-blind", "--child-blind"], check=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
