"""An upscaling model on a whole field: peak memory under the default budget, and tiles equal to one pass.

    python benchmarks/upscaling_field.py --model microgan-psf-x2 [--field 2048x1536] [--psf gauss:1.5]

A 2048x1536 RGB field (the real BCCD field shipped with the package, enlarged and cut, then blurred by the
PSF on the fine grid and sampled by the model's scale, so it is a coarse camera's image) is upscaled by the
model told that PSF twice, each in a fresh process: with the defaults (``max_memory`` 1.5 GB, tiles as the
budget needs) and untiled without a budget. Printed: each run's time, peak RSS (VmHWM) and tile count, and
the largest difference between the two outputs (exact tiles: 0 or a rounding level).
"""
from __future__ import annotations

import argparse
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np


def coarse_field(width: int, height: int, scale: int, psf: str) -> np.ndarray:
    """A coarse camera's image of a blood smear: the shipped BCCD field enlarged to ``scale`` x the size
    asked, blurred by ``psf`` and area-sampled back to ``width`` x ``height``."""
    import cv2

    from microgan.core.psf import resolve_psf
    from microgan.core.sampling import area_mean
    from microgan.data.samples import bccd_field

    fine = bccd_field()
    fine = cv2.resize(fine, (width * scale, height * scale), interpolation=cv2.INTER_CUBIC)
    blurred = cv2.filter2D(fine.astype(np.float32) / 255, -1, resolve_psf(psf).astype(np.float32),
                           borderType=cv2.BORDER_REFLECT_101)
    return np.rint(np.clip(area_mean(blurred, scale), 0, 1) * 255).astype(np.uint8)


def child(model: str, psf: str, width: int, height: int, untiled: bool, out: Path) -> None:
    import microgan

    kwargs = {"tile": None, "max_memory": None} if untiled else {}
    enh = microgan.load(model, psf=psf, **kwargs)
    image = coarse_field(width, height, enh.scale, psf)
    start = time.perf_counter()
    result = enh.enhance(image)
    seconds = time.perf_counter() - start
    peak = next(int(line.split()[1]) for line in open("/proc/self/status") if line.startswith("VmHWM:")) / 1024
    np.save(out, result)
    print(f"{'untiled, no budget' if untiled else 'defaults (max_memory 1.5 GB)'}: {width}x{height} -> "
          f"{result.shape[1]}x{result.shape[0]}, {seconds:.1f} s, peak RSS {peak:.0f} MiB", flush=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="microgan-psf-x2")
    parser.add_argument("--field", default="2048x1536", metavar="WxH")
    parser.add_argument("--psf", default="gauss:1.5")
    parser.add_argument("--child", choices=("default", "untiled"), default=None, help=argparse.SUPPRESS)
    parser.add_argument("--out", type=Path, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    width, height = (int(v) for v in args.field.split("x"))
    if args.child:
        child(args.model, args.psf, width, height, args.child == "untiled", args.out)
        return 0
    print(f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, {platform.processor() or platform.machine()}, "
          f"model {args.model}, PSF {args.psf}")
    with tempfile.TemporaryDirectory() as tmp:
        outputs = {}
        for mode in ("default", "untiled"):
            path = Path(tmp) / f"{mode}.npy"
            subprocess.run([sys.executable, __file__, "--model", args.model, "--field", args.field, "--psf", args.psf,
                            "--child", mode, "--out", str(path)], check=True)
            outputs[mode] = np.load(path)
        diff = np.abs(outputs["default"].astype(int) - outputs["untiled"].astype(int))
        print(f"defaults vs untiled: max difference {diff.max()} grey levels, {int((diff > 0).sum())} of {diff.size} samples differ")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
