"""Train/val/test split by source image, so no multi-cell image leaks crops into two splits.

Crops of one image share its background, staining and focus; splitting crops instead of images
would let a model be tested on near-copies of its training data. Images whose source has its own
split (BCCD's ``ImageSets/Main``) keep it; the others are shuffled with a seeded generator over
their sorted ids (so the result depends only on the ids and the seed, not on listing order) and
cut by ``fractions``. Counts use largest remainders, and each split with a non-zero fraction gets
at least one image when there are enough images, so even a ``--limit 3`` run has a val and a
test image.
"""
from __future__ import annotations

import math
from typing import Dict, List, Sequence, Tuple

import numpy as np

from microgan.core.types import SPLITS
from microgan.data.sources import SourceImage
from microgan.errors import ConfigError

DEFAULT_FRACTIONS = (0.8, 0.1, 0.1)


def check_fractions(fractions: Sequence[float]) -> Tuple[float, float, float]:
    if len(fractions) != 3 or any(f < 0 for f in fractions) or not math.isclose(sum(fractions), 1.0, abs_tol=1e-6):
        raise ConfigError(f"split fractions must be three non-negative numbers summing to 1, got {list(fractions)}")
    return (float(fractions[0]), float(fractions[1]), float(fractions[2]))


def split_counts(n: int, fractions: Sequence[float]) -> List[int]:
    """How many of ``n`` images go to train, val, test."""
    fractions = check_fractions(fractions)
    exact = [n * f for f in fractions]
    counts = [int(math.floor(e)) for e in exact]
    by_remainder = sorted(range(3), key=lambda i: (-(exact[i] - counts[i]), i))
    for i in by_remainder[: n - sum(counts)]:
        counts[i] += 1
    wanted = [i for i in range(3) if fractions[i] > 0]
    if n >= len(wanted):
        for i in wanted:
            if counts[i] == 0:
                counts[max(range(3), key=lambda j: counts[j])] -= 1
                counts[i] = 1
    return counts


def assign_splits(
    images: Sequence[SourceImage],
    fractions: Sequence[float] = DEFAULT_FRACTIONS,
    seed: int = 0,
    use_hints: bool = True,
) -> Dict[str, str]:
    """Map each image id to 'train', 'val' or 'test'."""
    check_fractions(fractions)
    out: Dict[str, str] = {}
    free: List[str] = []
    for image in images:
        if use_hints and image.split_hint in SPLITS:
            out[image.id] = image.split_hint  # type: ignore[assignment]
        else:
            free.append(image.id)
    free.sort()
    order = np.random.default_rng(seed).permutation(len(free))
    counts = split_counts(len(free), fractions)
    names = [split for split, count in zip(SPLITS, counts) for _ in range(count)]
    for position, index in enumerate(order):
        out[free[index]] = names[position]
    return out
