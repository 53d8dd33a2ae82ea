"""Normalization strategies: ranges, exact inverses, building by name."""
from __future__ import annotations

import numpy as np
import pytest

from microgan.data.normalize import HEADROOM, AutoNormalizer, PercentileNormalizer, RangeNormalizer, build_normalizer
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
    assert isinstance(build_normalizer(None), AutoNormalizer)
    assert isinstance(build_normalizer("range"), RangeNormalizer)
    built = build_normalizer({"type": "percentile", "pmax": 99.0})
    assert isinstance(built, PercentileNormalizer) and built.pmax == 99.0
    assert build_normalizer("percentile").spec() == {"type": "percentile", "pmin": 1.0, "pmax": 99.8, "clip": False}
    with pytest.raises(ConfigError, match="unknown normalizer 'zscore'"):
        build_normalizer("zscore")
    with pytest.raises(ConfigError, match="pmin < pmax"):
        PercentileNormalizer(pmin=50, pmax=10)


@pytest.mark.parametrize("top, white", [(255, 255), (256, 1023), (1023, 1023), (3341, 4095), (4096, 16383), (40000, 65535)])
def test_auto_takes_the_bit_depth_the_data_uses(top, white):
    """A 12-bit camera's data in a 16-bit file is scaled by 4095, not 65535, and comes back exactly."""
    source = np.linspace(top // 2, top, 60).astype(np.uint16).reshape(6, 10)
    norm = AutoNormalizer()
    assert norm.bounds(source) == (0.0, float(white))
    unit = norm.normalize(source)
    assert unit.max() == pytest.approx(top / white)
    np.testing.assert_array_equal(norm.denormalize(unit, source), source)
    note = norm.note(source)
    assert (note is None) == (white == 65535)
    if note:
        assert f"0..{white} taken as the full range" in note


def test_auto_keeps_8_bit_and_unit_floats_and_maps_dim_or_wide_floats_with_headroom():
    norm = AutoNormalizer()
    assert norm.bounds(np.array([[0, 3]], np.uint8)) == (0.0, 255.0) and norm.note(np.array([[0, 3]], np.uint8)) is None
    unit = np.array([[0.2, 0.9]], np.float32)
    assert norm.bounds(unit) == (0.0, 1.0) and norm.note(unit) is None
    dim = np.array([[4e-5, 8e-5]], np.float32)
    low, high = norm.bounds(dim)
    assert low == 0.0 and high == pytest.approx(8e-5 / HEADROOM)
    assert "taken as the full range" in norm.note(dim)
    wide = np.array([[-50.0, 950.0]], np.float32)
    low, high = norm.bounds(wide)
    assert low == -50.0 and high == pytest.approx(-50 + 1000 / HEADROOM)
    np.testing.assert_allclose(norm.denormalize(norm.normalize(wide), wide), wide, rtol=1e-5)


def test_auto_with_a_declared_top_scales_integers_within_it_and_round_trips() -> None:
    norm = build_normalizer({"type": "auto", "top": 4095})
    dim = np.array([[300, 900]], np.uint16)
    assert norm.bounds(dim) == (0.0, 4095.0) and AutoNormalizer().bounds(dim) == (0.0, 1023.0)
    np.testing.assert_array_equal(norm.denormalize(norm.normalize(dim), dim), dim)
    assert "declares samples up to 4095" in norm.note(dim)
    over = np.array([[300, 5000]], np.uint16)  # beyond the declared top: the data decides, and says so
    assert norm.bounds(over) == AutoNormalizer().bounds(over) and "holds values up to 5000" in norm.note(over)
    assert norm.bounds(np.array([[3, 200]], np.uint8)) == (0.0, 255.0)  # a top at or above the type's: no effect
    assert norm.bounds(np.array([[0.1, 0.5]], np.float32)) == (0.0, 1.0)  # floats: unaffected
    assert norm.spec() == {"type": "auto", "top": 4095} and AutoNormalizer().spec() == {"type": "auto"}
    for bad in (0, -5, 2.5, True, "4095"):
        with pytest.raises(ConfigError, match="top"):
            AutoNormalizer(top=bad)
