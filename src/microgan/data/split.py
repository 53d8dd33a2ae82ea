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
from microgan.data.sources import DEFAULT_FRACTIONS, SourceImage
from microgan.errors import ConfigError


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


def stratified_splits(
    images: Sequence[SourceImage],
    fractions: Sequence[float] = DEFAULT_FRACTIONS,
    seed: int = 0,
) -> Dict[str, str]:
    """Map each image id to a split so that every class's crops are shared out like ``fractions``
    and, where a class has at least three images, each split holds some of them.

    Images are indivisible (their crops stay together) and carry several classes each, so this is
    iterative stratification (Sechidis et al., 2011) on crop counts: take the class with the fewest
    crops left to place, give each of its images (in seeded order) to a split that has none of that
    class yet, else to the split that still wants most of it (ties: the split that wants most crops
    overall, then the earlier split), repeat. Rare classes are placed first, while every split still wants them. Images without a
    label (or with a split hint) are left to :func:`assign_splits`.
    """
    fractions = check_fractions(fractions)
    counts: Dict[str, Dict[str, int]] = {}
    rest: List[SourceImage] = []
    for image in images:
        labelled = [label for label in image.labels if label]
        if image.split_hint in SPLITS or not labelled or image.boxes is None and image.points is None:
            rest.append(image)
            continue
        per: Dict[str, int] = {}
        for label in labelled:
            per[label] = per.get(label, 0) + 1
        counts[image.id] = per
    out = assign_splits(rest, fractions, seed)
    ids = sorted(counts)
    ids = [ids[i] for i in np.random.default_rng(seed).permutation(len(ids))]
    classes = sorted({label for per in counts.values() for label in per})
    totals = {c: sum(per.get(c, 0) for per in counts.values()) for c in classes}
    splits = [s for s, f in zip(SPLITS, fractions) if f > 0]
    want = {s: {c: f * totals[c] for c in classes} for s, f in zip(SPLITS, fractions)}
    want_all = {s: f * sum(totals.values()) for s, f in zip(SPLITS, fractions)}
    has = {s: set() for s in SPLITS}
    left = dict(totals)
    unplaced = ids
    while unplaced:
        rarest = min((c for c in classes if left[c] > 0), key=lambda c: (left[c], c))
        for image_id in [i for i in unplaced if rarest in counts[i]]:
            split = max(splits, key=lambda s: (rarest not in has[s], want[s][rarest], want_all[s], -SPLITS.index(s)))
            out[image_id] = split
            for label, n in counts[image_id].items():
                want[split][label] -= n
                want_all[split] -= n
                left[label] -= n
                has[split].add(label)
        unplaced = [i for i in unplaced if i not in out]
    return out
