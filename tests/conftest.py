"""Shared pytest fixtures: the real BCCD data set and a tiny prepared folder for downstream tests."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def _bccd_path() -> Path:
    env = os.environ.get("MICROGAN_BCCD")
    return Path(env) if env else REPO.parent / "shared" / "data" / "bccd"


@pytest.fixture(scope="session")
def bccd_root() -> Path:
    """The BCCD data set root (holding ``BCCD/``): ``$MICROGAN_BCCD`` or ``<repo>/../shared/data/bccd``."""
    root = _bccd_path()
    if not (root / "BCCD" / "Annotations").is_dir():
        pytest.skip(f"BCCD data set not found at {root} (set MICROGAN_BCCD to its folder)")
    return root
