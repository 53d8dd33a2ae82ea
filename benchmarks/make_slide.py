"""Make a whole-slide-like test image: a tiled, pyramidal, JPEG-compressed BigTIFF mosaic of BCCD fields.

    python benchmarks/make_slide.py OUT.tif --side 30000 [--fields DIR] [--blur SIGMA]

The fields (the 16 BCCD test-split fields the package ships, or ``--fields``) are laid edge to edge,
each flipped and turned at random (seeded), blurred with the paper's Gaussian when ``--blur`` is given,
and written tile by tile (512 px, JPEG quality 90, as slide scanners store them) with 2x-reduced levels
in SubIFDs down to 1024 px, and a 0.25 um pixel size: the layout of an SVS or OME-TIFF slide. Memory
stays a few rows of fields, whatever the side.
"""
from __future__ import annotations

import argparse
import math
from pathlib import Path
from typing import Iterator, List

import cv2
import numpy as np
import tifffile

from microgan.data.io import read_image
from microgan.data.samples import sample_fields

TILE = 512


def _fields(folder: Path | None) -> List[np.ndarray]:
    paths = sorted(folder.glob("*.jpg")) if folder else [f.path for f in sample_fields()]
    return [read_image(p).array for p in paths]


def _row(fields: List[np.ndarray], width: int, rng: np.random.Generator, blur: float) -> np.ndarray:
    """One row of fields (480 px tall), turned at random, cut to ``width``."""
    pieces, filled = [], 0
    while filled < width:
        f = fields[int(rng.integers(len(fields)))]
        f = f[::-1] if rng.random() < 0.5 else f
        f = f[:, ::-1] if rng.random() < 0.5 else f
        pieces.append(f)
        filled += f.shape[1]
    row = np.ascontiguousarray(np.concatenate(pieces, axis=1)[:, :width])
    if blur:
        row = cv2.GaussianBlur(row, (15, 15), blur, borderType=cv2.BORDER_REFLECT_101)
    return row


def bands(side: int, fields: List[np.ndarray], seed: int, blur: float, step: int = 1) -> Iterator[np.ndarray]:
    """The slide (every ``step``-th pixel) as bands of TILE rows, top to bottom."""
    rng = np.random.default_rng(seed)
    buffer = np.empty((0, side, 3), np.uint8)
    made = 0
    while made < side:
        while buffer.shape[0] < TILE * step and made + buffer.shape[0] < side:
            buffer = np.concatenate([buffer, _row(fields, side, rng, blur)], axis=0)
        take = min(TILE * step, side - made, buffer.shape[0])
        yield buffer[:take:step, ::step]
        buffer = buffer[take:]
        made += take


def tiles(side: int, fields: List[np.ndarray], seed: int, blur: float, step: int) -> Iterator[np.ndarray]:
    for band in bands(side, fields, seed, blur, step):
        for c0 in range(0, band.shape[1], TILE):
            yield band[:, c0 : c0 + TILE]


def make_slide(out: Path, side: int, folder: Path | None = None, seed: int = 0, blur: float = 0.0) -> Path:
    fields = _fields(folder)
    levels = [1]
    while math.ceil(side / (2 * levels[-1])) >= 1024:
        levels.append(2 * levels[-1])
    options = dict(tile=(TILE, TILE), photometric="rgb", compression="jpeg", compressionargs={"level": 90})
    with tifffile.TiffWriter(out, bigtiff=True) as tif:
        for k, step in enumerate(levels):
            n = math.ceil(side / step)
            per_cm = 1e4 / (0.25 * step)
            extra = dict(subifds=len(levels) - 1) if k == 0 else dict(subfiletype=1)
            tif.write(tiles(side, fields, seed, blur, step), shape=(n, n, 3), dtype=np.uint8,
                      resolution=(per_cm, per_cm), resolutionunit="CENTIMETER", **options, **extra)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("out", type=Path)
    parser.add_argument("--side", type=int, default=30000)
    parser.add_argument("--fields", type=Path, default=None, help="a folder of .jpg fields (default: the shipped BCCD sample)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--blur", type=float, default=0.0, help="Gaussian sigma of a blur applied to every field (0: none)")
    args = parser.parse_args()
    make_slide(args.out, args.side, args.fields, args.seed, args.blur)
    print(f"{args.out}: {args.side}x{args.side} RGB, {args.out.stat().st_size / 1e6:.0f} MB on disk")


if __name__ == "__main__":
    main()
