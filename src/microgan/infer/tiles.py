"""Exact tiles: where tiles start and stop, which part of each is kept, and how many to use.

A tile is computed on its part of the image plus a ``halo`` of context on every side that lies
inside the image, and only its centre (its *core*) is kept. With the halo at least the generator's
tile margin (:func:`microgan.core.geometry.receptive_field`) and every tile starting and ending on
the generator's stride grid, each kept pixel sees exactly what it sees in the whole-image pass, so
tiled output equals whole-image output (up to floating-point summation order): nothing is
blended and nothing is computed twice except the halos.

Cores partition the canvas at multiples of the stride, the edge tiles' cores longer by one halo
so that every tile has the same extent (:func:`axis_spans`). Along an axis of ``L`` pixels cut into
``n`` tiles the pixels computed are ``L + 2 * halo * (n - 1)``, so the grid that computes the fewest
pixels within a per-pass pixel budget is the one with the fewest cuts that fits
(:func:`plan_grid`).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Iterator, List, Optional, Tuple


@dataclass(frozen=True)
class Span:
    """One tile along one axis, in canvas coordinates: computed ``start:stop``, kept ``keep_start:keep_stop``."""

    start: int
    stop: int
    keep_start: int
    keep_stop: int

    @property
    def extent(self) -> int:
        return self.stop - self.start


def axis_spans(length: int, count: int, halo: int, multiple: int) -> Optional[List[Span]]:
    """``count`` tiles over ``length`` pixels (a multiple of ``multiple``, like ``halo``), all of
    the same extent; None when the cores would be shorter than one stride.

    Cores are cut so that core plus halos come out about equal; then every tile takes the largest
    of those extents, a tile whose window would cross the border sliding back inside (a few pixels
    more context). One shape for all tiles lets a backend plan a pass once and reuse it.
    """
    if count == 1:
        return [Span(0, length, 0, length)]
    step = (length - 2 * halo) / count
    cuts = [0] + [int(round((halo + k * step) / multiple)) * multiple for k in range(1, count)] + [length]
    if any(b - a < multiple for a, b in zip(cuts, cuts[1:])):
        return None
    extent = max(min(b + halo, length) - max(a - halo, 0) for a, b in zip(cuts, cuts[1:]))
    spans = []
    for a, b in zip(cuts, cuts[1:]):
        start = min(max(a - halo, 0), length - extent)
        spans.append(Span(start, start + extent, a, b))
    return spans


def _axis_options(length: int, halo: int, multiple: int, min_extent: int) -> Iterator[Tuple[int, List[Span]]]:
    """(count, spans) for every useful tile count along one axis, fewest tiles first: each extent
    strictly smaller than with one tile fewer, none shorter than ``min_extent``. Lazy: a slide's
    axis has thousands of counts, and a plan needs the first few dozen."""
    last = [Span(0, length, 0, length)]
    yield 1, last
    count = 2
    while True:
        spans = axis_spans(length, count, halo, multiple)
        if spans is None or min(s.extent for s in spans) < min_extent:
            return
        if max(s.extent for s in spans) < max(s.extent for s in last):
            yield count, spans
            last = spans
        count += 1


class _Options:
    """:func:`_axis_options`, generated as far as asked and remembered (the grid search walks the
    columns' options once per row count)."""

    def __init__(self, length: int, halo: int, multiple: int, min_extent: int) -> None:
        self._source = _axis_options(length, halo, multiple, min_extent)
        self._seen: List[Tuple[int, List[Span]]] = []

    def __iter__(self) -> Iterator[Tuple[int, List[Span]]]:
        i = 0
        while True:
            if i == len(self._seen):
                item = next(self._source, None)
                if item is None:
                    return
                self._seen.append(item)
            yield self._seen[i]
            i += 1

    def last(self) -> List[Span]:
        for _ in self:
            pass
        return self._seen[-1][1]


@dataclass(frozen=True)
class TilePlan:
    """A grid of exact tiles over a padded canvas (a single tile: the whole canvas)."""

    rows: List[Span]
    cols: List[Span]

    def __iter__(self) -> Iterator[Tuple[Span, Span]]:
        return ((r, c) for r in self.rows for c in self.cols)

    def __len__(self) -> int:
        return len(self.rows) * len(self.cols)

    @property
    def tile_pixels(self) -> int:
        """Pixels of the largest tile: what one pass must hold."""
        return max(r.extent for r in self.rows) * max(c.extent for c in self.cols)

    @property
    def computed_pixels(self) -> int:
        return sum(r.extent for r in self.rows) * sum(c.extent for c in self.cols)

    @property
    def overhead(self) -> float:
        """Computed pixels over canvas pixels, minus one (0.0 for a whole-image pass)."""
        return self.computed_pixels / (self.rows[-1].stop * self.cols[-1].stop) - 1.0


def whole(height: int, width: int) -> TilePlan:
    return TilePlan([Span(0, height, 0, height)], [Span(0, width, 0, width)])


def plan_grid(height: int, width: int, halo: int, multiple: int, min_extent: int, max_pixels: int) -> TilePlan:
    """The grid whose largest tile fits ``max_pixels`` and that computes the fewest pixels in all
    (ties: fewer tiles). When not even the smallest tiles fit, the smallest tiles.

    Row counts are tried fewest first. Two bounds skip what cannot win, without changing the answer
    (a slide's axis has thousands of counts, and a plan needs a few dozen): ``ny`` rows compute at
    least ``height + 2 * halo * (ny - 1)`` rows, and columns no wider than ``cap`` number at least
    ``width / cap``, so a row count whose bound already exceeds the cost of a grid known to fit (the
    best so far, or the square tiles of :func:`fixed_grid`) is passed over, and once even one
    column would exceed it, the search ends."""
    rows = _Options(height, halo, multiple, min_extent)
    cols = _Options(width, halo, multiple, min_extent)
    side = math.isqrt(max(max_pixels, 0))
    seed = fixed_grid(height, width, halo, multiple, min_extent, side) if side else None
    bound = seed.computed_pixels if seed is not None and seed.tile_pixels <= max_pixels else math.inf
    best: Optional[Tuple[Tuple[int, int], TilePlan]] = None
    for ny, row_spans in rows:
        least_rows = height + 2 * halo * (ny - 1)
        known = min(bound, best[0][0]) if best is not None else bound
        if least_rows * width > known:
            break
        th = max(s.extent for s in row_spans)
        cap = max_pixels // th
        if cap < 1 or least_rows * (width + 2 * halo * (math.ceil(width / cap) - 1)) > known:
            continue  # the columns that would fit under rows this tall cost more than a grid that fits
        for nx, col_spans in cols:  # the fewest columns that fit are the cheapest for this row count
            if th * max(s.extent for s in col_spans) <= max_pixels:
                plan = TilePlan(row_spans, col_spans)
                key = (plan.computed_pixels, ny * nx)
                if best is None or key < best[0]:
                    best = (key, plan)
                break
    return best[1] if best is not None else TilePlan(rows.last(), cols.last())


def fixed_grid(height: int, width: int, halo: int, multiple: int, min_extent: int, side: int) -> TilePlan:
    """The fewest tiles of at most ``side`` x ``side`` pixels (halo included) along each axis."""

    def fewest(length: int) -> List[Span]:
        options = _Options(length, halo, multiple, min_extent)
        for _, spans in options:
            if max(s.extent for s in spans) <= side:
                return spans
        return options.last()

    return TilePlan(fewest(height), fewest(width))
