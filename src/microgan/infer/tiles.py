"""Tile geometry: where tiles start, how large they are, and how neighbours blend.

A tile's output is only trusted ``context`` pixels away from a tile edge that lies inside the image
(beyond that the generator's zero padding leaks in); across the next ``ramp`` pixels a raised-cosine
weight hands over to the neighbour (:func:`blend_window`). Tiles start at multiples of the
generator's stride so pooling grids line up with the whole-image pass, and the last tile ends at the
border instead of sticking out (:func:`tile_starts`). :func:`plan_tiles` picks the grid of
(rectangular) tiles that fits a pixel budget and re-computes the fewest overlapping pixels.
"""
from __future__ import annotations

from typing import List, Optional, Tuple

import numpy as np

#: Width of the raised-cosine hand-over between tiles (the rest of the overlap is context).
DEFAULT_RAMP = 32
#: Overlap used when the receptive field is unbounded (global normalization layers).
FALLBACK_OVERLAP = 96


def tile_starts(length: int, tile: int, overlap: int, multiple: int) -> List[int]:
    """Start offsets of tiles of ``tile`` pixels covering ``length`` pixels.

    Steps are rounded down to ``multiple`` (pooling grids stay aligned; overlaps grow, never
    shrink) and the last tile is pushed back to end at the border instead of sticking out.
    """
    if length <= tile:
        return [0]
    step = max(multiple, (tile - overlap) // multiple * multiple)
    return list(range(0, length - tile, step)) + [length - tile]


def _tile_count(length: int, tile: int, overlap: int, multiple: int) -> int:
    """``len(tile_starts(...))`` without building the list."""
    if length <= tile:
        return 1
    step = max(multiple, (tile - overlap) // multiple * multiple)
    return -(-(length - tile) // step) + 1


def fit_tile(length: int, count: int, overlap: int, multiple: int) -> int:
    """Smallest tile length (a multiple of ``multiple``) that covers ``length`` with ``count`` tiles."""
    if count <= 1:
        return length
    side = -(-(length + (count - 1) * overlap) // count)
    side = -(-side // multiple) * multiple
    while side < length and _tile_count(length, side, overlap, multiple) > count:
        side += multiple
    return min(side, length)


def plan_tiles(height: int, width: int, pixels: int, overlap: int, multiple: int, floor: int) -> Tuple[int, int]:
    """Tile (height, width) of at most ``pixels`` pixels that computes the fewest pixels in all.

    Largest-square tiles can waste a lot (a 4096x3072 field under a 2600-px limit would run as
    four 2600x2600 tiles, 2.2x its area); instead grids of ny x nx tiles are tried, each with the
    smallest tiles that cover it, and the cheapest that fits wins. For a given ny the fewest
    columns that fit are best (each extra column re-computes an overlap), so one search per row
    count suffices. Tiles are never shorter than ``floor`` (overlap + stride) unless the image is.
    """

    def options(length: int) -> List[Tuple[int, int]]:
        found, count = [(1, length)], 2
        while found[-1][1] > floor:
            side = fit_tile(length, count, overlap, multiple)
            if side < floor:
                break
            found.append((count, side))
            count += 1
        return found

    columns = options(width)  # tile widths shrink as the count grows
    best: Optional[Tuple[int, int, int, int]] = None
    for ny, th in options(height):
        lo, hi = 0, len(columns)  # first column count whose width fits pixels // th
        while lo < hi:
            mid = (lo + hi) // 2
            if columns[mid][1] * th <= pixels:
                hi = mid
            else:
                lo = mid + 1
        if lo < len(columns):
            nx, tw = columns[lo]
            key = (ny * nx * th * tw, ny * nx, th, tw)
            best = key if best is None or key < best else best
    if best is None:  # not even the smallest tiles fit the budget: use them anyway
        return min(height, floor), min(width, floor)
    return best[2], best[3]


def blend_window(size: int, left_inside: bool, right_inside: bool, context: int, ramp: int) -> np.ndarray:
    """1-D tile weight: 0 within ``context`` of an edge that lies inside the image, then a
    raised-cosine rise over ``ramp`` pixels, 1 elsewhere. Edges on the image border weigh fully."""
    pos = np.arange(size, dtype=np.float64)
    dist = np.full(size, np.inf)
    if left_inside:
        dist = np.minimum(dist, pos)
    if right_inside:
        dist = np.minimum(dist, size - 1 - pos)
    rise = np.clip((dist - context + 0.5) / max(ramp, 1), 0.0, 1.0)
    return (np.sin(rise * np.pi / 2) ** 2).astype(np.float32)


def split_overlap(overlap: int) -> Tuple[int, int]:
    """(context, ramp) of an overlap: the ramp is its central part (at most DEFAULT_RAMP pixels),
    the context the rest on either side. Exactness needs ``context >= receptive radius``."""
    ramp = max(1, min(DEFAULT_RAMP, overlap // 2))
    return max(overlap - ramp, 0) // 2, ramp
