"""PSNR/SSIM must be scikit-image's numbers on the native integer scale, with tiny crops handled."""
from __future__ import annotations

import math

import numpy as np
import pytest
from skimage.metrics import peak_signal_noise_ratio, structural_similarity

from microgan.core.metrics import PSNR_CAP_DB, data_range, psnr, ssim, ssim_win_size
from microgan.registry import METRICS


def _pair(shape, dtype, seed=0):
    rng = np.random.default_rng(seed)
    top = np.iinfo(dtype).max
    ref = rng.integers(0, top + 1, size=shape, dtype=np.int64).astype(dtype)
    noisy = np.clip(ref.astype(np.int64) + rng.integers(-top // 20, top // 20 + 1, size=shape), 0, top).astype(dtype)
    return noisy, ref


@pytest.mark.parametrize("shape", [(32, 40, 3), (32, 40)])
def test_uint8_matches_skimage(shape):
    restored, reference = _pair(shape, np.uint8)
    assert psnr(restored, reference) == pytest.approx(peak_signal_noise_ratio(reference, restored, data_range=255))
    axis = -1 if len(shape) == 3 else None
    expected = structural_similarity(reference, restored, data_range=255, channel_axis=axis)
    assert ssim(restored, reference) == pytest.approx(expected)


def test_uint16_uses_16_bit_range():
    restored, reference = _pair((24, 24, 3), np.uint16)
    assert psnr(restored, reference) == pytest.approx(peak_signal_noise_ratio(reference, restored, data_range=65535))
    # the same relative error on the 8-bit scale must give (almost) the same PSNR: range follows the dtype
    r8 = (restored // 257).astype(np.uint8)
    h8 = (reference // 257).astype(np.uint8)
    assert abs(psnr(r8, h8) - psnr(restored, reference)) < 0.5


def test_known_value():
    reference = np.zeros((10, 10), np.uint8)
    restored = reference.copy()
    restored[0, 0] = 255  # MSE = 255^2 / 100 -> PSNR = 10 log10(100) = 20 dB
    assert psnr(restored, reference) == pytest.approx(20.0)


def test_identical_images_are_capped_not_infinite():
    image = np.full((8, 8, 3), 7, np.uint8)
    assert psnr(image, image) == PSNR_CAP_DB
    assert ssim(image, image) == pytest.approx(1.0)


@pytest.mark.parametrize(
    "h, w, win", [(100, 7, 7), (6, 50, 5), (5, 5, 5), (4, 9, 3), (3, 3, 3), (2, 30, None), (1, 1, None)]
)
def test_ssim_window_for_tiny_crops(h, w, win):
    assert ssim_win_size(h, w) == win
    restored, reference = _pair((h, w, 3), np.uint8)
    value = ssim(restored, reference)
    if win is None:
        assert math.isnan(value)
    else:
        expected = structural_similarity(reference, restored, win_size=win, data_range=255, channel_axis=-1)
        assert value == pytest.approx(expected)


def test_shape_and_dtype_mismatch_raise():
    a = np.zeros((4, 4, 3), np.uint8)
    with pytest.raises(ValueError, match="shape"):
        psnr(a, np.zeros((4, 5, 3), np.uint8))
    with pytest.raises(ValueError, match="dtype"):
        ssim(a, a.astype(np.uint16))


def test_data_range_and_registry():
    assert data_range(np.uint8) == 255 and data_range(np.uint16) == 65535 and data_range(np.float32) == 1
    assert METRICS.get("psnr") is psnr and METRICS.get("ssim") is ssim
