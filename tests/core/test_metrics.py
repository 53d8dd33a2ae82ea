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


# ------------------------------------------------------------------------ measures that see sharpness


def _textured(h: int = 64, w: int = 72) -> np.ndarray:
    import cv2

    rng = np.random.default_rng(4)
    return cv2.GaussianBlur((rng.random((h, w, 3)) * 255).astype(np.uint8), (0, 0), 1.0)


def test_hf_ratio_is_one_for_the_truth_below_one_blurred_above_one_sharpened():
    import cv2

    from microgan.core.metrics import hf_ratio

    truth = _textured()
    blurred = cv2.GaussianBlur(truth, (0, 0), 1.5)
    sharpened = np.clip(truth.astype(float) + 1.5 * (truth.astype(float) - blurred), 0, 255).astype(np.uint8)
    assert hf_ratio(truth, truth) == 1.0
    assert hf_ratio(blurred, truth) < 0.2
    assert hf_ratio(sharpened, truth) > 1.5
    assert np.isnan(hf_ratio(truth[:6, :6], truth[:6, :6])) and np.isnan(hf_ratio(np.full((20, 20), 7, np.uint8), np.full((20, 20), 7, np.uint8)))


def test_hf_ratio_matches_a_hand_computed_spectrum():
    from microgan.core.metrics import hf_ratio

    y, x = np.mgrid[:32, :32]
    fine = (128 + 60 * np.cos(2 * np.pi * 0.375 * x)).astype(np.float64)  # in the band (0.375 c/px)
    coarse = (128 + 60 * np.cos(2 * np.pi * 0.125 * x)).astype(np.float64)  # below it
    reference = np.clip(fine, 0, 255).astype(np.uint8)
    half = np.clip(128 + 30 * np.cos(2 * np.pi * 0.375 * x), 0, 255).astype(np.uint8)
    assert hf_ratio(half, reference) == pytest.approx(0.25, rel=0.02)  # amplitude / 2 -> power / 4
    assert hf_ratio(np.clip(coarse, 0, 255).astype(np.uint8), reference) < 0.01


def test_vif_and_ms_ssim_are_one_for_the_truth_and_fall_with_blur():
    import cv2

    from microgan.core.metrics import ms_ssim, ms_ssim_scales, vif

    truth = _textured()
    blurred = cv2.GaussianBlur(truth, (0, 0), 2.0)
    assert vif(truth, truth) == pytest.approx(1.0, abs=1e-6) and vif(blurred, truth) < 0.5
    assert ms_ssim(truth, truth) == pytest.approx(1.0, abs=1e-6) and ms_ssim(blurred, truth) < 0.9
    assert ms_ssim_scales(64, 72) == 3 and ms_ssim_scales(200, 300) == 5 and ms_ssim_scales(10, 40) == 0
    assert np.isnan(vif(truth[:40], truth[:40])) and np.isnan(ms_ssim(truth[:10], truth[:10]))
    gray = truth[..., 0]
    assert vif(gray, gray) == pytest.approx(1.0, abs=1e-6)
