"""Degradations: the paper's blur equals OpenCV's, specs round-trip, noise is seeded."""
from __future__ import annotations

import json

import cv2
import numpy as np
import pytest

from microgan.data.degrade import (
    Compose,
    GaussianBlur,
    GaussianNoise,
    PoissonNoise,
    build_degradation,
    opencv_sigma,
    paper_degradation,
)
from microgan.errors import ConfigError
from microgan.registry import DEGRADATIONS

RNG = np.random.default_rng(3)
IMAGES = {
    "u8-rgb": (RNG.random((37, 29, 3)) * 255).astype(np.uint8),
    "u16-gray": (RNG.random((20, 41)) * 65535).astype(np.uint16),
    "f32-gray": RNG.random((16, 16)).astype(np.float32),
}


def test_opencv_sigma_for_15_is_2_6():
    assert opencv_sigma(15) == pytest.approx(2.6)


@pytest.mark.parametrize("name", sorted(IMAGES))
def test_blur_equals_cv2_with_stated_sigma(name):
    image = IMAGES[name]
    out = GaussianBlur()(image)
    expected = cv2.GaussianBlur(image, (15, 15), 2.6, sigmaY=2.6, borderType=cv2.BORDER_REFLECT_101)
    assert out.shape == image.shape and out.dtype == image.dtype  # HR and LR pair pixel for pixel
    np.testing.assert_array_equal(out, expected)


@pytest.mark.parametrize("name", sorted(IMAGES))
def test_sigma_none_equals_cv2_default_sigma(name):
    image = IMAGES[name]
    np.testing.assert_array_equal(GaussianBlur(15, None)(image), cv2.GaussianBlur(image, (15, 15), 0))
    np.testing.assert_array_equal(GaussianBlur(15, None)(image), GaussianBlur(15, 2.6)(image))


def test_blur_actually_blurs_and_kernel_size_matters():
    image = np.zeros((41, 41), np.float32)
    image[20, 20] = 1.0
    small, large = GaussianBlur(5, 1.0)(image), GaussianBlur(15, 2.6)(image)
    assert large[20, 20] < small[20, 20] < 1.0
    assert small[20, 22] > 0 and small[20, 23] == 0  # 5x5 support ends 2 pixels out
    assert large.sum() == pytest.approx(1.0, abs=1e-5)


def test_blur_on_tiny_crop_keeps_size():
    crop = (RNG.random((3, 2, 3)) * 255).astype(np.uint8)
    assert GaussianBlur()(crop).shape == crop.shape


def test_noise_is_deterministic_for_a_seed_and_keeps_dtype():
    image = IMAGES["u16-gray"]
    noise = GaussianNoise(0.05)
    a = noise(image, np.random.default_rng(7))
    b = noise(image, np.random.default_rng(7))
    c = noise(image, np.random.default_rng(8))
    assert a.dtype == np.uint16 and a.shape == image.shape
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)
    residual = a.astype(np.float64) / 65535 - image / 65535
    assert 0.03 < residual.std() < 0.06  # sigma in units of the full range, minus clipping
    with pytest.raises(ConfigError, match="Generator"):
        noise(image)


def test_poisson_noise_scales_with_peak():
    image = np.full((64, 64), 128, np.uint8)
    rng = np.random.default_rng(0)
    low = PoissonNoise(peak=10_000)(image, rng).astype(float).std()
    high = PoissonNoise(peak=50)(image, rng).astype(float).std()
    assert low < high


def test_specs_are_json_and_rebuild_the_same_degradation():
    deg = paper_degradation(kernel_size=9, sigma=1.5, noise=0.02)
    spec = deg.spec()
    assert spec == json.loads(json.dumps(spec))
    assert spec == {
        "type": "compose",
        "steps": [{"type": "gaussian-blur", "kernel_size": 9, "sigma": 1.5}, {"type": "gaussian-noise", "sigma": 0.02}],
    }
    rebuilt = build_degradation(spec)
    image = IMAGES["u8-rgb"]
    np.testing.assert_array_equal(deg(image, np.random.default_rng(1)), rebuilt(image, np.random.default_rng(1)))
    assert paper_degradation().spec() == {"type": "gaussian-blur", "kernel_size": 15, "sigma": 2.6}


def test_registered_by_name():
    assert {"gaussian-blur", "gaussian-noise", "poisson-noise", "compose"} <= set(DEGRADATIONS)
    assert isinstance(DEGRADATIONS.build({"type": "gaussian-blur"}), GaussianBlur)
    assert isinstance(build_degradation({"type": "compose", "steps": [{"type": "gaussian-blur"}]}), Compose)


def test_bad_specs_are_config_errors():
    with pytest.raises(ConfigError, match="odd"):
        GaussianBlur(kernel_size=14)
    with pytest.raises(ConfigError, match="sigma must be > 0"):
        GaussianBlur(sigma=-1)
    with pytest.raises(ConfigError, match="unknown degradation 'motion'"):
        build_degradation({"type": "motion"})
    with pytest.raises(ConfigError, match="'type'"):
        build_degradation({"sigma": 2})
    with pytest.raises(ConfigError, match="radius"):
        build_degradation({"type": "gaussian-blur", "radius": 3})
