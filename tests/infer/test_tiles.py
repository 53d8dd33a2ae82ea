"""Tile geometry: plans that fit a budget with little waste, aligned starts, blending windows."""
from __future__ import annotations

import numpy as np

from microgan.infer.tiles import blend_window, fit_tile, plan_tiles, tile_starts


def test_tile_plan_fits_the_budget_and_wastes_little() -> None:
    # a 4096x3072 field with room for 6.8 MP: two 3072x2112 tiles, not four 2608x2608 squares
    th, tw = plan_tiles(3072, 4096, 6_820_000, overlap=124, multiple=8, floor=136)
    assert th * tw <= 6_820_000 and th % 8 == 0 and tw % 8 == 0
    tiles = len(tile_starts(3072, th, 124, 8)) * len(tile_starts(4096, tw, 124, 8))
    assert tiles * th * tw <= 1.1 * 3072 * 4096
    for length, count in [(4096, 3), (1000, 7), (96, 2)]:
        side = fit_tile(length, count, 20, 8)
        assert len(tile_starts(length, side, 20, 8)) == count
        assert len(tile_starts(length, side - 8, 20, 8)) > count  # and it is the smallest such side


def test_tile_geometry_covers_aligned_and_ends_at_the_border() -> None:
    for length, tile, overlap in [(100, 32, 8), (64, 64, 8), (37 * 4, 40, 20), (16, 32, 4)]:
        starts = tile_starts(length, tile, overlap, 4)
        assert starts[0] == 0 and all(s % 4 == 0 for s in starts)
        assert min(starts[-1] + tile, length) == length
        assert all(b - a <= tile - overlap for a, b in zip(starts, starts[1:]))
    w = blend_window(40, True, True, context=6, ramp=8)
    assert (w[:6] == 0).all() and (w[-6:] == 0).all() and w[20] == 1
    assert (np.diff(w[:20]) >= 0).all()
    assert (blend_window(10, False, False, 3, 4) == 1).all()
