"""How far the image is reflected beyond its edges before the network (``core.portable.EDGE_MARGIN``).

    python benchmarks/edge_margin.py [--model microgan-blind] [--fields 4] [--margins 0 8 16 24 48]

The networks' convolutions pad with zeros, which a network reads as a mid-grey frame. Here 200x200
crops of the bundled BCCD fields (nothing else needed) are blurred by the paper's kernel and
restored with each margin, three ways: as they are (a bright brightfield background), inverted (a
dark background, as in fluorescence) and inverted and dimmed to half. Printed per case and margin:
the mean and largest error in the 6-px border band (8-bit grey levels), the interior's mean error and
the PSNR, averaged over the crops (a markdown table, docs/paper-notes.md "Tile edges at the image border").
"""
from __future__ import annotations

import argparse
import warnings
from typing import Callable, Dict

import cv2
import numpy as np

CASES: Dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "bright": lambda a: a,
    "dark (inverted)": lambda a: 1 - a,
    "dark and dim": lambda a: np.clip((1 - a) - 0.3, 0, 1) / 0.7 * 0.5,
}
BAND = 6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="microgan-blind")
    parser.add_argument("--fields", type=int, default=4, help="bundled scoring fields used (default 4)")
    parser.add_argument("--margins", type=int, nargs="+", default=[0, 8, 16, 24, 48])
    args = parser.parse_args()
    warnings.simplefilter("ignore")
    import microgan
    from microgan.data.io import read_image
    from microgan.data.samples import sample_fields

    fields = [read_image(f.path).array.astype(np.float32) / 255 for f in sample_fields("score")[: args.fields]]
    kernel = cv2.getGaussianKernel(15, 2.55)
    kernel = kernel @ kernel.T  # the paper's 15x15 Gaussian (the grid's `paper` cell)
    enhancer = microgan.load(args.model, device="cpu", consistency=False)
    print("| case | margin (px) | border band mean / max error (grey levels) | interior mean error | PSNR (dB) |")
    print("|---|---:|---|---:|---:|")
    for case, make in CASES.items():
        for margin in args.margins:
            enhancer.edge_margin = margin
            rows = []
            for field in fields:
                hr = make(field)[100:300, 100:300]
                lr = cv2.filter2D(hr, -1, kernel, borderType=cv2.BORDER_REFLECT_101)
                out = enhancer.enhance(lr)
                err = np.abs(out - hr) * 255
                band = np.concatenate([err[:BAND].ravel(), err[-BAND:].ravel(), err[:, :BAND].ravel(), err[:, -BAND:].ravel()])
                rows.append((band.mean(), band.max(), err[20:-20, 20:-20].mean(), 10 * np.log10(1 / np.mean((out - hr) ** 2))))
            m = np.mean(rows, axis=0)
            print(f"| {case} | {margin} | {m[0]:.2f} / {m[1]:.1f} | {m[2]:.2f} | {m[3]:.2f} |")


if __name__ == "__main__":
    main()
