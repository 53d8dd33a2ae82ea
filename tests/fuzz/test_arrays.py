"""The Python API on bad and odd arrays: ``microgan.load(...).enhance`` raises a ``MicroGANError``
saying what is wrong, never a bare numpy/torch error, and leaves the array as it was; odd but
valid arrays come back with their shape and sample type."""
from __future__ import annotations

from pathlib import Path
from typing import Callable

import numpy as np
import pytest

import microgan
from microgan.errors import MicroGANError

RNG = np.random.default_rng(0)


def _nan() -> np.ndarray:
    a = RNG.random((9, 9)).astype(np.float32)
    a[4, 4] = np.nan
    return a


BAD = {
    "list": ([[0.1, 0.2], [0.3, 0.4]], "expected a numpy array, got list"),
    "int64": (np.zeros((8, 8), np.int64), "unsupported sample type int64"),
    "bool": (np.zeros((8, 8), bool), "unsupported sample type bool"),
    "complex": (np.zeros((8, 8), np.complex64), "unsupported sample type complex64"),
    "object": (np.array([[object()]]), "unsupported sample type object"),
    "nan": (_nan(), "NaN or Inf"),
    "inf": (np.full((8, 8), np.inf, np.float32), "NaN or Inf"),
    "masked": (np.ma.masked_array(np.zeros((8, 8), np.uint8), mask=np.eye(8, dtype=bool)), "a masked array: fill"),
    "four-channels": (np.zeros((8, 8, 4), np.uint8), "got shape (8, 8, 4)"),
    "two-channels": (np.zeros((8, 8, 2), np.uint8), "got shape (8, 8, 2)"),
    "4-d": (np.zeros((1, 8, 8, 3), np.uint8), "got shape (1, 8, 8, 3)"),
    "1-d": (np.zeros(8, np.uint8), "got shape (8,)"),
    "0-d": (np.array(3, np.uint8), "got shape ()"),
    "empty-rows": (np.zeros((0, 5), np.uint8), "empty image"),
    "empty-cols": (np.zeros((5, 0, 3), np.uint8), "empty image"),
}

ODD_BUT_VALID = {
    "one-pixel": np.array([[7]], np.uint8),
    "one-row": RNG.integers(0, 255, (1, 37), dtype=np.uint8),
    "trailing-channel": RNG.integers(0, 65535, (6, 5, 1), dtype=np.uint16),
    "float64": RNG.random((7, 9)),
    "strided-view": RNG.integers(0, 255, (20, 20, 3), dtype=np.uint8)[::2, ::3],
    "fortran-order": np.asfortranarray(RNG.random((12, 10, 3)).astype(np.float32)),
    "read-only": np.zeros((8, 8), np.uint8),
    # mapped by their own range (auto normalization), not refused
    "float-above-1": np.linspace(0, 1.5, 64, dtype=np.float32).reshape(8, 8),
    "float-below-0": np.linspace(-0.2, 0.7, 64).reshape(8, 8),
    "dim-float": np.linspace(4e-5, 8e-5, 64, dtype=np.float32).reshape(8, 8),
    "12-bit-in-16": np.linspace(1799, 3341, 64).astype(np.uint16).reshape(8, 8),
}
ODD_BUT_VALID["read-only"].flags.writeable = False


@pytest.fixture(scope="module")
def enhancer(tmp_path_factory: pytest.TempPathFactory, save_tiny_generator: Callable[..., Path]):
    return microgan.load(save_tiny_generator(tmp_path_factory.mktemp("api") / "m.safetensors"), device="cpu", tile=None)


@pytest.mark.parametrize("name", sorted(BAD))
def test_bad_array_is_a_clear_error(name: str, enhancer) -> None:
    array, reason = BAD[name]
    copy = np.array(array, copy=True) if isinstance(array, np.ndarray) else None
    for call in (enhancer.enhance, lambda a: enhancer.enhance_batch([np.zeros((4, 4), np.uint8), a])):
        with pytest.raises(MicroGANError, match=reason.replace("(", r"\(").replace(")", r"\)").replace("[", r"\[")):
            call(array)
    if copy is not None and copy.dtype != object:
        np.testing.assert_array_equal(array, copy)  # the input is never modified


@pytest.mark.parametrize("name", sorted(ODD_BUT_VALID))
def test_odd_array_keeps_shape_and_type(name: str, enhancer) -> None:
    array = ODD_BUT_VALID[name]
    copy = array.copy()
    out = enhancer.enhance(array)
    assert out.shape == array.shape and out.dtype == array.dtype
    assert np.isfinite(out.astype(np.float64)).all()
    np.testing.assert_array_equal(array, copy)


def test_rgb_array_on_a_gray_model_says_what_to_do(tmp_path: Path, save_tiny_generator: Callable[..., Path]) -> None:
    gray = microgan.load(save_tiny_generator(tmp_path / "g.safetensors", in_channels=1), device="cpu", tile=None)
    with pytest.raises(MicroGANError, match="RGB image given to a grayscale model.*per_channel=True"):
        gray.enhance(np.zeros((8, 8, 3), np.uint8))


def test_the_range_normalizer_refuses_floats_outside_0_1(tmp_path: Path, save_tiny_generator: Callable[..., Path]) -> None:
    strict = microgan.load(save_tiny_generator(tmp_path / "m.safetensors"), device="cpu", tile=None, normalizer="range")
    for array in (np.full((8, 8), 1.5, np.float32), np.full((8, 8), -0.2, np.float64)):
        with pytest.raises(MicroGANError, match=r"outside the \[0, 1\].*--normalize percentile"):
            strict.enhance(array)


@pytest.mark.parametrize("value, dtype", [(0, np.uint8), (255, np.uint8), (4095, np.uint16), (0.25, np.float32)])
def test_a_flat_field_comes_back_as_itself(value, dtype, enhancer) -> None:
    """An all-black image came back with a frame of up to 24 grey levels (the network's zero padding)."""
    flat = np.full((40, 48, 3), value, dtype)
    np.testing.assert_array_equal(enhancer.enhance(flat), flat)
    mixed = enhancer.enhance_batch([flat, np.full((40, 48, 3), value, dtype)])
    assert all(np.array_equal(out, flat) for out in mixed)
