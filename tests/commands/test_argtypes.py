"""Shared argparse types: bounds, strictness and keywords."""
from __future__ import annotations

import argparse

import pytest

from microgan.commands.argtypes import bounded, positive_int, positive_minutes


def test_bounds_and_keywords() -> None:
    tile = bounded(int, 1, words={"auto": "auto", "off": None}, what="a number of pixels")
    assert tile("auto") == "auto" and tile("off") is None and tile("64") == 64
    with pytest.raises(argparse.ArgumentTypeError, match="'x' is not auto, off, a number of pixels"):
        tile("x")
    with pytest.raises(argparse.ArgumentTypeError, match="must be >= 1, got 0"):
        tile("0")
    assert positive_int("3") == 3
    assert positive_minutes("0.5") == 0.5
    with pytest.raises(argparse.ArgumentTypeError, match="must be > 0, got 0"):
        positive_minutes("0")
