"""Cross-validation folds that are stratified by class and grouped by source image.

Crops cut from one micrograph share its staining, focus and illumination; if they landed on both
sides of a split, the classifier could recognise the slide instead of the cell and the accuracy would
be optimistic. So whole source images (groups) are assigned to folds, and among the assignments the
greedy choice keeps every class's share per fold as even as possible (the same heuristic as
scikit-learn's ``StratifiedGroupKFold``, written here to avoid a dependency for forty lines).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Hashable, List, Sequence

import numpy as np

from microgan.errors import MicroGANError


@dataclass(frozen=True)
class FoldSplit:
    """Sample indices of one cross-validation round."""

    train: np.ndarray
    val: np.ndarray
    test: np.ndarray


def stratified_group_kfold(labels: Sequence[int], groups: Sequence[Hashable], n_splits: int, seed: int) -> np.ndarray:
    """Fold number (0..n_splits-1) of every sample; samples of one group always share a fold.

    Groups are visited largest-and-most-class-skewed first (random order among equals, from
    ``seed``) and each goes to the fold where the per-class spread of fold shares stays smallest,
    ties to the fold with fewest samples.
    """
    labels = np.asarray(labels)
    if n_splits < 2:
        raise MicroGANError(f"need at least 2 folds, got {n_splits}")
    group_ids, group_of = np.unique(np.asarray([str(g) for g in groups]), return_inverse=True)
    if len(group_ids) < n_splits:
        raise MicroGANError(
            f"{n_splits} folds need at least {n_splits} source images, the data has {len(group_ids)}"
        )
    classes, label_idx = np.unique(labels, return_inverse=True)
    counts = np.zeros((len(group_ids), len(classes)), dtype=np.int64)
    np.add.at(counts, (group_of, label_idx), 1)
    class_totals = counts.sum(0)

    rng = np.random.default_rng(seed)
    order = rng.permutation(len(group_ids))
    order = order[np.argsort(-counts[order].std(axis=1), kind="stable")]

    fold_counts = np.zeros((n_splits, len(classes)), dtype=np.float64)
    fold_of_group = np.empty(len(group_ids), dtype=np.int64)
    for g in order:
        costs = np.empty(n_splits)
        for f in range(n_splits):
            fold_counts[f] += counts[g]
            costs[f] = (fold_counts / class_totals).std(axis=0).mean()
            fold_counts[f] -= counts[g]
        sizes = fold_counts.sum(1)
        best = min(range(n_splits), key=lambda f: (round(costs[f], 12), sizes[f]))
        fold_counts[best] += counts[g]
        fold_of_group[g] = best
    return fold_of_group[group_of]


def cross_validation_splits(
    labels: Sequence[int], groups: Sequence[Hashable], n_splits: int, seed: int, val_fraction: float = 0.1
) -> List[FoldSplit]:
    """``n_splits`` rounds: each fold is the test part once; from the remaining folds about
    ``val_fraction`` of all samples (again whole source images, stratified) is held out for model
    selection and the rest trains. ``val_fraction=0`` keeps no validation part."""
    labels = np.asarray(labels)
    groups = np.asarray([str(g) for g in groups])
    folds = stratified_group_kfold(labels, groups, n_splits, seed)
    splits = []
    for k in range(n_splits):
        test = np.flatnonzero(folds == k)
        rest = np.flatnonzero(folds != k)
        val = np.empty(0, dtype=np.int64)
        if val_fraction > 0:
            inner = max(2, int(round((1 - 1 / n_splits) / val_fraction)))
            inner = min(inner, len(np.unique(groups[rest])))
            if inner >= 2:
                inner_folds = stratified_group_kfold(labels[rest], groups[rest], inner, seed + 1 + k)
                val = rest[inner_folds == 0]
                rest = rest[inner_folds != 0]
        splits.append(FoldSplit(train=rest, val=val, test=test))
    return splits
