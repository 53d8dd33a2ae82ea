"""The physics half of a PSF-aware model: the Fourier solves, the noise estimate, the network input."""
from __future__ import annotations

import cv2
import numpy as np
import pytest

from microgan.core import fourier, physics
from microgan.core.psf import disk_kernel, gaussian_kernel


def _scene(seed: int = 0, h: int = 96, w: int = 120) -> np.ndarray:
    """Smooth blobs with sharp edges: a microscopy-like float image in [0.1, 0.9]."""
    rng = np.random.default_rng(seed)
    img = np.full((h, w), 0.8, np.float32)
    for _ in range(8):
        cv2.circle(img, (int(rng.integers(0, w)), int(rng.integers(0, h))), int(rng.integers(5, 18)), float(rng.uniform(0.1, 0.6)), -1)
    return img


def _blur(x: np.ndarray, k: np.ndarray) -> np.ndarray:
    return cv2.filter2D(x, -1, k.astype(np.float32), borderType=cv2.BORDER_REFLECT_101)


def _psnr(a: np.ndarray, b: np.ndarray) -> float:
    return float(10 * np.log10(1.0 / np.mean((a.astype(np.float64) - b) ** 2)))


def test_tikhonov_deconvolution_sharpens_and_keeps_the_mean() -> None:
    x = _scene()
    k = gaussian_kernel(2.0)
    y = _blur(x, k)
    z = fourier.solve_regions(y, k, 1e-3)
    assert _psnr(z, x) > _psnr(y, x) + 2
    assert float(z.mean()) == pytest.approx(float(y.mean()), abs=1e-4)
    flat = np.full((40, 50), 0.37, np.float32)
    np.testing.assert_allclose(fourier.solve_regions(flat, k, 1e-3), flat, atol=1e-5)


def test_consistency_solve_interpolates_between_prior_and_data() -> None:
    """Weight -> infinity keeps the prior; a small weight makes k * z agree with y."""
    x = _scene(1)
    k = disk_kernel(3.0)
    y = _blur(x, k)
    prior = _blur(x, gaussian_kernel(1.0))
    np.testing.assert_allclose(fourier.solve_regions(y, k, 1e6, prior=prior), prior, atol=1e-4)
    z = fourier.solve_regions(y, k, 1e-4, prior=prior)
    assert np.abs(_blur(z, k) - y)[8:-8, 8:-8].max() < np.abs(_blur(prior, k) - y)[8:-8, 8:-8].max() / 5


def test_regions_equal_one_whole_solve() -> None:
    """Regions of TILE px with halos of real pixels equal one solve of the reflect-padded image."""
    x = np.concatenate([_scene(s, 200, 300) for s in (2, 3)], axis=1)  # 600 px wide: two regions
    k = gaussian_kernel(2.6)
    y = np.round(_blur(x, k) * 255) / 255
    halo = fourier.halo_for(k)
    whole = fourier.solve(np.pad(y, halo, mode="reflect")[..., None], k, 1e-3)[halo:-halo, halo:-halo, 0]
    assert y.shape[1] > fourier.TILE
    assert np.abs(fourier.solve_regions(y, k, 1e-3) - whole).max() * 255 < 0.1


@pytest.mark.parametrize("sigma", [0.005, 0.01, 0.03, 0.05])
def test_noise_estimate_reads_the_camera_noise_of_a_blurred_image(sigma: float) -> None:
    rng = np.random.default_rng(4)
    clean = _blur(_scene(4, 160, 160), gaussian_kernel(2.0))
    noisy = np.stack([clean + rng.normal(0, sigma, clean.shape).astype(np.float32) for _ in range(3)], axis=2)
    assert physics.estimate_noise(noisy) == pytest.approx(sigma, rel=0.1)


def test_noise_estimate_is_floored_and_handles_tiny_images() -> None:
    clean = _blur(_scene(5), gaussian_kernel(2.0))
    assert physics.estimate_noise(clean) == pytest.approx(physics.NOISE_FLOOR)
    assert physics.estimate_noise(np.zeros((3, 3), np.float32)) == physics.NOISE_FLOOR


def test_the_deconvolution_weight_follows_the_noise() -> None:
    assert physics.deconvolution_weight(0.0) == pytest.approx(physics.REGULARIZATION * physics.NOISE_FLOOR**2)
    assert physics.deconvolution_weight(0.02) == pytest.approx(physics.REGULARIZATION * 4e-4)


@pytest.mark.parametrize("channels", [1, 3])
def test_network_input_holds_image_deconvolution_and_noise(channels: int) -> None:
    x = _scene(6)
    k = gaussian_kernel(1.5)
    y = _blur(x, k)
    y = y if channels == 1 else np.stack([y, y * 0.9, y * 0.8], axis=2)
    stack = physics.network_input(y, k, sigma=0.02)
    assert stack.shape == y.shape[:2] + (2 * channels + 1,) == y.shape[:2] + (physics.input_channels(channels),)
    planes = fourier.planes(y)
    np.testing.assert_allclose(stack[..., :channels], planes * 2 - 1, atol=1e-6)
    z = fourier.solve_regions(planes, k, physics.deconvolution_weight(0.02))
    np.testing.assert_allclose(stack[..., channels : 2 * channels], z * 2 - 1, atol=1e-5)
    np.testing.assert_allclose(stack[..., -1], physics.NOISE_SCALE * 0.02)
    estimated = physics.network_input(y, k)
    np.testing.assert_allclose(estimated[..., -1], physics.NOISE_SCALE * physics.estimate_noise(y), rtol=1e-6)


def test_discrepancy_keeps_an_output_that_explains_the_input() -> None:
    x = _scene(7)
    k = gaussian_kernel(2.0)
    y = _blur(x, k) + np.random.default_rng(7).normal(0, 0.01, x.shape).astype(np.float32)
    assert physics.discrepancy_weight(x, y, k, 0.01) is None  # the truth: its residual is the noise


def test_discrepancy_lowers_the_residual_of_a_blurry_output_to_the_noise() -> None:
    x = _scene(8)
    k = gaussian_kernel(2.0)
    sigma = 0.005
    y = _blur(x, k) + np.random.default_rng(8).normal(0, sigma, x.shape).astype(np.float32)
    blurry = _blur(x, gaussian_kernel(1.5))  # an output that missed detail the input still shows
    lam = physics.discrepancy_weight(blurry, y, k, sigma)
    assert lam is not None and lam >= physics.LAM_MIN * (sigma / physics.NOISE_FLOOR) ** 2
    z = fourier.solve_regions(y, k, lam, prior=blurry)
    residual = float(np.mean((_blur(z, k) - y) ** 2))
    assert residual == pytest.approx(physics.DISCREPANCY * sigma**2, rel=0.05)
    assert _psnr(z, x) > _psnr(blurry, x)


def test_discrepancy_stops_at_the_floor() -> None:
    """An input the PSF cannot explain (sharp detail where a disk's transfer is zero, as a wrong PSF
    gives): the weight stops at its floor instead of inverse filtering further."""
    x = _scene(9)
    k = disk_kernel(4.0)
    assert physics.discrepancy_weight(np.full_like(x, 0.5), x, k, 0.0) == pytest.approx(physics.LAM_MIN)
