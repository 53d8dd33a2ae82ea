"""Fixtures for training tests: prepared folders with controlled crop sizes, and tiny networks.

The folders follow the prepared-data contract (``manifest.csv`` + ``{split}/{hr,lr}/<id>.png``)
and are written directly so the tests control the crop sizes (the bucket sampler and padding are
what is being tested). HR crops are smooth random blobs, LR their Gaussian blur. Shared values are
fixtures, not imports: ``from conftest import ...`` is ambiguous when several test folders run.
"""
from __future__ import annotations

import csv
from pathlib import Path
from typing import Dict, List, Sequence, Tuple

import cv2
import numpy as np
import pytest

from microgan.data.io import write_image

FIELDS = ["id", "split", "source", "x", "y", "w", "h", "label", "degradation", "hr_path", "lr_path"]
DEGRADATION = '{"type":"gaussian-blur","sigma":2.6}'

# tiny networks: seconds per test on 2 CPU cores; gp and perceptual kept on by default
TINY = [
    "generator.channels=[4,8]",
    "critic.base=4",
    "losses.perceptual.weight=0",
    "losses.pixel.weight=1.0",
    "train.critic_steps=2",
    "train.val_every=2",
    "train.ckpt_every=2",
    "train.log_every=1",
    "train.val_max_crops=3",
    "train.threads=1",
]


def make_prepared(root: Path, sizes: Dict[str, Sequence[Tuple[int, int]]], seed: int = 0) -> Path:
    """Write a prepared folder with ``sizes[split]`` = list of (h, w) crops; returns ``root``."""
    rng = np.random.default_rng(seed)
    rows: List[Dict[str, object]] = []
    for split, shapes in sizes.items():
        for i, (h, w) in enumerate(shapes):
            cid = f"{split}{i:03d}"
            hr = cv2.GaussianBlur(rng.random((h, w, 3)).astype(np.float32), (0, 0), 1.0)
            hr = (hr - hr.min()) / max(float(np.ptp(hr)), 1e-6)
            lr = cv2.GaussianBlur(hr, (15, 15), 2.6, borderType=cv2.BORDER_REFLECT)
            for kind, img in (("hr", hr), ("lr", lr)):
                write_image(root / split / kind / f"{cid}.png", np.rint(img * 255).astype(np.uint8))
            rows.append({"id": cid, "split": split, "source": f"img{i}", "x": 0, "y": 0, "w": w, "h": h, "label": "RBC",
                         "degradation": DEGRADATION, "hr_path": f"{split}/hr/{cid}.png", "lr_path": f"{split}/lr/{cid}.png"})
    with open(root / "manifest.csv", "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=FIELDS)
        writer.writeheader()
        writer.writerows(rows)
    return root




@pytest.fixture(scope="session")
def tiny_sets() -> List[str]:
    """Config overrides for tiny networks and frequent validation/checkpoints."""
    return list(TINY)


@pytest.fixture(scope="session")
def prepared_varied(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Train crops of several sizes (so batches need padding), a small val split."""
    train = [(12, 16), (16, 12), (20, 20), (13, 17), (24, 18), (16, 16), (9, 14), (21, 23)]
    return make_prepared(tmp_path_factory.mktemp("prep-varied"), {"train": train, "val": [(16, 16), (18, 14), (11, 20)]})


@pytest.fixture(scope="session")
def prepared_uniform(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """All train crops 16x16: batches need no padding (exact distributed equivalence)."""
    return make_prepared(tmp_path_factory.mktemp("prep-uniform"), {"train": [(16, 16)] * 8, "val": [(16, 16)] * 2}, seed=1)
