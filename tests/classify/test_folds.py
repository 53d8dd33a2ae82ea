"""Cross-validation folds: whole source images per fold, class ratios kept, validation inside training."""
from __future__ import annotations

import numpy as np
import pytest

from microgan.errors import MicroGANError
from microgan.classify.folds import cross_validation_splits, stratified_group_kfold


def _cells(seed: int = 0):
    """BCCD-like: 60 source images with 3-20 crops each, ~80% class 0, ~12% class 1, ~8% class 2."""
    rng = np.random.default_rng(seed)
    labels, groups = [], []
    for g in range(60):
        n = int(rng.integers(3, 21))
        labels += list(rng.choice(3, size=n, p=[0.8, 0.12, 0.08]))
        groups += [f"img{g}"] * n
    return np.array(labels), np.array(groups)


def test_folds_never_share_a_source_image():
    labels, groups = _cells()
    folds = stratified_group_kfold(labels, groups, 5, seed=0)
    for g in np.unique(groups):
        assert len(np.unique(folds[groups == g])) == 1, g
    assert sorted(np.unique(folds)) == [0, 1, 2, 3, 4]


def test_folds_keep_class_ratios():
    labels, groups = _cells()
    folds = stratified_group_kfold(labels, groups, 5, seed=0)
    overall = np.bincount(labels, minlength=3) / len(labels)
    for f in range(5):
        share = np.bincount(labels[folds == f], minlength=3) / (folds == f).sum()
        assert np.abs(share - overall).max() < 0.05, (f, share, overall)
    sizes = np.bincount(folds)
    assert sizes.max() - sizes.min() <= 0.1 * len(labels)


def test_folds_depend_on_seed_only():
    labels, groups = _cells()
    a = stratified_group_kfold(labels, groups, 5, seed=3)
    assert np.array_equal(a, stratified_group_kfold(labels, groups, 5, seed=3))
    assert not np.array_equal(a, stratified_group_kfold(labels, groups, 5, seed=4))


def test_splits_partition_and_hold_out_validation_images():
    labels, groups = _cells(1)
    splits = cross_validation_splits(labels, groups, 5, seed=0, val_fraction=0.1)
    tested = np.concatenate([s.test for s in splits])
    assert sorted(tested) == list(range(len(labels)))  # every crop is tested exactly once
    for s in splits:
        parts = [set(groups[s.train]), set(groups[s.val]), set(groups[s.test])]
        assert not (parts[0] & parts[1] or parts[0] & parts[2] or parts[1] & parts[2])
        assert len(s.train) + len(s.val) + len(s.test) == len(labels)
        assert 0.05 < len(s.val) / len(labels) < 0.16
        assert set(labels[s.val]) == {0, 1, 2}


def test_no_validation_part():
    labels, groups = _cells()
    splits = cross_validation_splits(labels, groups, 3, seed=0, val_fraction=0)
    assert all(len(s.val) == 0 and len(s.train) + len(s.test) == len(labels) for s in splits)


def test_too_few_source_images_is_a_clear_error():
    with pytest.raises(MicroGANError, match="at least 5 source images"):
        stratified_group_kfold([0, 1, 0, 1], ["a", "a", "b", "c"], 5, seed=0)
