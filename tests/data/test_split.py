"""Split by source image: no leaks, deterministic, honours a source's own split."""
from __future__ import annotations

from pathlib import Path

import pytest

from microgan.data.sources import SourceImage
from microgan.data.split import assign_splits, split_counts
from microgan.errors import ConfigError


def _images(n, hint=None):
    return [SourceImage(id=f"img{i:03d}", path=Path(f"img{i:03d}.png"), split_hint=hint) for i in range(n)]


def test_counts_follow_fractions_and_cover_tiny_sets():
    assert split_counts(100, (0.8, 0.1, 0.1)) == [80, 10, 10]
    assert split_counts(10, (0.8, 0.1, 0.1)) == [8, 1, 1]
    assert split_counts(3, (0.8, 0.1, 0.1)) == [1, 1, 1]
    assert split_counts(2, (0.8, 0.1, 0.1)) == [2, 0, 0]
    assert split_counts(7, (0.5, 0.5, 0.0)) == [4, 3, 0]
    assert sum(split_counts(37, (0.7, 0.2, 0.1))) == 37


def test_every_image_in_exactly_one_split_with_expected_sizes():
    images = _images(50)
    splits = assign_splits(images, seed=0)
    assert set(splits) == {i.id for i in images}
    sizes = {s: list(splits.values()).count(s) for s in ("train", "val", "test")}
    assert sizes == {"train": 40, "val": 5, "test": 5}


def test_deterministic_for_seed_and_independent_of_order():
    images = _images(30)
    a = assign_splits(images, seed=4)
    assert assign_splits(list(reversed(images)), seed=4) == a
    assert assign_splits(images, seed=5) != a


def test_source_split_is_used_when_present():
    hinted = _images(4, hint="test")
    splits = assign_splits(hinted + _images(0), seed=0)
    assert set(splits.values()) == {"test"}
    assert set(assign_splits(hinted, use_hints=False).values()) != {"test"}


def test_bad_fractions_are_refused():
    with pytest.raises(ConfigError, match="summing to 1"):
        assign_splits(_images(3), fractions=(0.5, 0.2, 0.2))
    with pytest.raises(ConfigError, match="non-negative"):
        split_counts(3, (1.2, -0.2, 0.0))
