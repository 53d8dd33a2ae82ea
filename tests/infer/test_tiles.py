"""Exact tile geometry: aligned, covering, halo on every inner edge, the cheapest grid that fits."""
from __future__ import annotations

import itertools

import pytest

from microgan.infer.tiles import axis_spans, fixed_grid, plan_grid


@pytest.mark.parametrize("length, count, halo, multiple", [(3072, 3, 48, 8), (4096, 5, 48, 8), (152, 3, 24, 4), (64, 2, 0, 8)])
def test_axis_spans_partition_the_axis_with_aligned_tiles_and_full_halos(length: int, count: int, halo: int, multiple: int) -> None:
    spans = axis_spans(length, count, halo, multiple)
    assert spans is not None and len(spans) == count
    assert spans[0].keep_start == 0 and spans[-1].keep_stop == length
    for a, b in zip(spans, spans[1:]):
        assert a.keep_stop == b.keep_start  # cores partition the axis
        assert a.keep_stop - a.keep_start >= multiple
        assert a.stop - a.keep_stop >= halo and b.keep_start - b.start >= halo  # context on inner edges
    for s in spans:
        assert s.start % multiple == 0 and s.stop % multiple == 0  # the stride grid of the whole pass
        assert s.start <= s.keep_start < s.keep_stop <= s.stop
    extents = [s.extent for s in spans]
    assert len(set(extents)) == 1  # one tile shape
    # the only extra work: the halos, and at most one stride per tile to give every tile one shape
    assert length + 2 * halo * (count - 1) <= sum(extents) <= length + 2 * halo * (count - 1) + count * multiple


def test_axis_spans_refuse_cores_shorter_than_the_stride() -> None:
    assert axis_spans(64, 8, 24, 8) is None


def test_plan_grid_fits_the_budget_with_the_fewest_computed_pixels() -> None:
    height, width, halo, multiple = 3072, 4096, 48, 8
    for budget in (900_000, 1_300_000, 2_400_000, 3_500_000):
        plan = plan_grid(height, width, halo, multiple, 8, budget)
        assert plan.tile_pixels <= budget
        # brute force over every grid: none that fits computes fewer pixels
        best = min(
            (sum(r.extent for r in rows) * sum(c.extent for c in cols))
            for ny, nx in itertools.product(range(1, 12), range(1, 12))
            if (rows := axis_spans(height, ny, halo, multiple)) and (cols := axis_spans(width, nx, halo, multiple))
            and max(r.extent for r in rows) * max(c.extent for c in cols) <= budget
        )
        assert plan.computed_pixels == best
    # with room for 2.4 MP a 4096x3072 field costs under 10 % more than one whole pass
    assert plan_grid(height, width, halo, multiple, 8, 2_400_000).overhead < 0.10
    assert len(plan_grid(height, width, halo, multiple, 8, height * width)) == 1


def test_plan_grid_uses_the_smallest_tiles_when_nothing_fits() -> None:
    plan = plan_grid(200, 200, 24, 8, 8, 10)
    assert len(plan) > 1 and all(r.keep_stop - r.keep_start >= 8 for r in plan.rows)


def test_fixed_grid_keeps_tiles_within_the_side() -> None:
    plan = fixed_grid(3072, 4096, 48, 8, 8, 1024)
    assert max(r.extent for r in plan.rows) <= 1024 and max(c.extent for c in plan.cols) <= 1024
    fewer = fixed_grid(3072, 4096, 48, 8, 8, 1024 + 512)
    assert len(fewer) < len(plan)


def test_the_pruned_grid_search_equals_the_exhaustive_one() -> None:
    """plan_grid skips row counts by bounds; the grid it returns is the one trying every count finds."""
    import random

    from microgan.infer.tiles import TilePlan, _axis_options, plan_grid

    def exhaustive(h: int, w: int, halo: int, m: int, me: int, limit: int) -> TilePlan:
        rows, cols = list(_axis_options(h, halo, m, me)), list(_axis_options(w, halo, m, me))
        best = None
        for ny, rs in rows:
            for nx, cs in cols:
                if max(s.extent for s in rs) * max(s.extent for s in cs) <= limit:
                    plan = TilePlan(rs, cs)
                    if best is None or (plan.computed_pixels, ny * nx) < best[0]:
                        best = ((plan.computed_pixels, ny * nx), plan)
                    break
        return best[1] if best else TilePlan(rows[-1][1], cols[-1][1])

    rng = random.Random(0)
    for _ in range(100):
        m, halo = rng.choice([4, 8, 16]), rng.choice([8, 24, 48, 64])
        h, w = (-(-rng.randint(16, 900) // m) * m for _ in range(2))
        limit = rng.choice([(4 * halo) ** 2, 65536, rng.randint(500, 2_000_000)])
        assert plan_grid(h, w, halo, m, 16, limit) == exhaustive(h, w, halo, m, 16, limit), (h, w, halo, m, limit)
