"""Normalization strategies: ranges, exact inverses, building by name."""
from __future__ import annotations

import numpy as np
import pytest

from microgan.data.normalize import PercentileNormalizer, RangeNormalizer, build_normalizer
from microgan.errors import ConfigError, MicroGANError

RNG = np.random.default_rng(1)


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16])
def test_range_normalizer_maps_type_range_and_inverts_exactly(dtype):
    top = np.iinfo(dtype).max
    source = RNG.integers(0, top, (12, 13, 3), endpoint=True).astype(dtype)
    source[0, 0, 0], source[0, 0, 1] = 0, top
    norm = RangeNormalizer()
    x = norm.normalize(source)
    assert x.dtype == np.float32 and x.min() == 0.0 and x.max() == 1.0
    back = norm.denormalize(x, source)
    assert back.dtype == dtype
    np.testing.assert_array_equal(back, source)


def test_range_normalizer_keeps_floats_and_rejects_nan():
    source = RNG.random((5, 5)).astype(np.float32) * 3
    np.testing.assert_array_equal(RangeNormalizer().normalize(source), source)
    with pytest.raises(MicroGANError, match="NaN"):
        RangeNormalizer().normalize(np.array([[np.nan]], np.float32))


def test_percentile_normalizer_maps_percentiles_to_0_and_1():
    source = np.arange(1000, dtype=np.uint16).reshape(20, 50) + 5000
    norm = PercentileNormalizer(pmin=1, pmax=99)
    x = norm.normalize(source)
    low, high = np.percentile(source, [1, 99])
    assert x[source == 5500][0] == pytest.approx((5500 - low) / (high - low), abs=1e-6)
    assert x.min() < 0 < 1 < x.max()  # not clipped by default, like CSBDeep
    assert PercentileNormalizer(1, 99, clip=True).normalize(source).max() == 1.0


@pytest.mark.parametrize("dtype", [np.uint16, np.float32])
def test_percentile_normalizer_inverts(dtype):
    source = (RNG.random((16, 16)) * 3000 + 100).astype(dtype)
    norm = PercentileNormalizer()
    back = norm.denormalize(norm.normalize(source), source)
    assert back.dtype == dtype
    np.testing.assert_allclose(back, source, rtol=1e-5, atol=0.5)


def test_build_by_name_and_spec():
    assert isinstance(build_normalizer(None), RangeNormalizer)
    built = build_normalizer({"type": "percentile", "pmax": 99.0})
    assert isinstance(built, PercentileNormalizer) and built.pmax == 99.0
    assert build_normalizer("percentile").spec() == {"type": "percentile", "pmin": 1.0, "pmax": 99.8, "clip": False}
    with pytest.raises(ConfigError, match="unknown normalizer 'zscore'"):
        build_normalizer("zscore")
    with pytest.raises(ConfigError, match="pmin < pmax"):
        PercentileNormalizer(pmin=50, pmax=10)
