"""Classical baselines: each must actually restore a Gaussian-blurred image, tuned on a separate one."""
from __future__ import annotations

import cv2
import numpy as np
import pytest
from skimage.restoration import richardson_lucy

from microgan.data.io import from_float, to_float
from microgan.errors import ConfigError
from microgan.infer.classical import degradation_psf, grid_points, parse_degradation, tune
from microgan.core.metrics import psnr
from microgan.registry import BASELINES

DEG = {"type": "gaussian-blur", "kernel_size": 15, "sigma": 2.6}
DEBLURRERS = ["richardson-lucy", "wiener", "unsupervised-wiener", "unsharp"]


def cells(seed: int, size: int = 48, channels: int = 3) -> np.ndarray:
    """Sharp-edged textured discs on a background: a crude stand-in for a blood-smear crop."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:size, :size]
    image = np.full((size, size, channels), 200.0)
    for _ in range(6):
        cy, cx, r = rng.uniform(0, size, 2).tolist() + [rng.uniform(4, 12)]
        disc = (yy - cy) ** 2 + (xx - cx) ** 2 < r**2
        image[disc] = rng.uniform(40, 180, channels)
    image += rng.normal(0, 2, image.shape)  # faint texture
    image = np.clip(image, 0, 255).astype(np.uint8)
    return image[..., 0] if channels == 1 else image


def blur(image: np.ndarray) -> np.ndarray:
    return cv2.GaussianBlur(image, (15, 15), 2.6)


def test_psf_is_opencv_gaussian_kernel():
    psf = degradation_psf(DEG)
    impulse = np.zeros((31, 31), np.float64)
    impulse[15, 15] = 1.0
    assert np.allclose(cv2.GaussianBlur(impulse, (15, 15), 2.6)[8:23, 8:23], psf)
    assert psf.sum() == pytest.approx(1.0)


@pytest.mark.parametrize("name", DEBLURRERS)
def test_each_baseline_improves_a_blurred_image(name):
    val, test = cells(1), cells(2)
    tuned = tune(name, [(blur(val), val, DEG)])
    baseline = tuned.build()
    lr = blur(test)
    restored = baseline(lr, DEG)
    assert restored.shape == lr.shape and restored.dtype == np.uint8
    assert psnr(restored, test) > psnr(lr, test) + 0.5


def test_identity_returns_the_input():
    lr = blur(cells(3))
    out = BASELINES.build({"type": "identity"})(lr, DEG)
    assert np.array_equal(out, lr) and out is not lr


@pytest.mark.parametrize("name", DEBLURRERS)
def test_grayscale_and_16_bit(name):
    hr = cells(4, channels=1).astype(np.uint16) * 257
    lr = blur(hr)
    restored = BASELINES.build({"type": name})(lr, DEG)
    assert restored.shape == hr.shape and restored.dtype == np.uint16
    assert psnr(restored, hr) > psnr(lr, hr)


@pytest.mark.parametrize("size", [1, 2, 5])
def test_tiny_crops_smaller_than_the_psf(size):
    hr = cells(5)[:size, :size]
    lr = blur(hr)
    for name in ["identity", *DEBLURRERS]:
        out = BASELINES.build({"type": name})(lr, DEG)
        assert out.shape == lr.shape


def test_reflect_padding_beats_skimage_zero_border():
    """skimage's Richardson-Lucy convolves with zeros outside the image: on a small crop the dark
    border eats the whole result. Reflect padding (what the baseline does) fixes it."""
    hr = cells(6, size=32)
    lr = blur(hr)
    ours = BASELINES.build({"type": "richardson-lucy", "num_iter": 20})(lr, DEG)
    image = to_float(lr).astype(np.float64)
    psf = degradation_psf(DEG)
    raw = np.stack([richardson_lucy(image[..., c], psf, num_iter=20) for c in range(3)], axis=-1)
    zero_border = from_float(raw, np.uint8)
    assert psnr(ours, hr) > psnr(lr, hr) > psnr(zero_border, hr) + 3


def test_tuning_picks_the_best_grid_point_and_reports_all():
    hr = cells(7)
    pairs = [(blur(hr), hr, DEG)]
    result = tune("wiener", pairs)
    assert len(result.scores) == len(grid_points("wiener"))
    assert result.val_psnr == max(score for _, score in result.scores)
    assert result.params == max(result.scores, key=lambda s: s[1])[0]
    assert tune("identity", pairs).params == {}


def test_psf_from_composed_degradation_and_default_sigma():
    composed = {"type": "compose", "steps": [{"type": "gaussian-blur", "kernel_size": 15, "sigma": None},
                                             {"type": "gaussian-noise", "sigma": 0.01}]}
    k = cv2.getGaussianKernel(15, 0)
    assert np.allclose(degradation_psf(composed), k @ k.T)


def test_degradation_errors():
    assert parse_degradation('{"type": "gaussian-blur", "kernel_size": 15, "sigma": 2.6}') == DEG
    with pytest.raises(ConfigError, match="JSON"):
        parse_degradation("{not json")
    with pytest.raises(ConfigError, match="gaussian-blur"):
        degradation_psf({"type": "noise", "sigma": 3})
    with pytest.raises(ConfigError, match="no parameter"):
        BASELINES.build({"type": "wiener", "iterations": 3})
    with pytest.raises(ConfigError, match="no validation crops"):
        tune("wiener", [])


UPSCALE = {"type": "compose", "steps": [{"type": "blur", "sigma": 1.0}, {"type": "downsample", "factor": 2}]}


@pytest.mark.parametrize("name", ["identity", "wiener", "richardson-lucy", "unsharp", "tikhonov"])
def test_upscaling_baselines_return_the_hr_grid(name):
    """A coarser LR crop is enlarged (bicubic or Lanczos, a tuned parameter) and deconvolved with the
    PSF and the pixel's box; tikhonov solves the data term with the sampling: all give the HR shape."""
    from microgan.data.degrade import build_degradation

    hr = cells(3, size=48)
    lr = build_degradation(UPSCALE)(hr)
    assert lr.shape == (24, 24, 3)
    points = grid_points(name, scale=2)
    assert all(p.get("upsample") in ("bicubic", "lanczos") for p in points) != (name == "tikhonov")
    out = BASELINES.build({"type": name, **points[0]})(lr, UPSCALE)
    assert out.shape == hr.shape and out.dtype == hr.dtype


def test_upscaling_baselines_restore_what_interpolation_lost():
    from microgan.data.degrade import build_degradation

    hr = cells(4, size=64)
    lr = build_degradation(UPSCALE)(hr)
    pairs = [(lr, hr, UPSCALE)]
    scores = {name: tune(name, pairs).val_psnr for name in ("identity", "wiener", "tikhonov")}
    assert scores["wiener"] > scores["identity"] + 1.0
    assert scores["tikhonov"] > scores["identity"] + 1.0


def test_tuning_refuses_mixed_scales():
    with pytest.raises(ConfigError, match="different scales"):
        tune("wiener", [(cells(0), cells(0), DEG), (cells(0, 24), cells(0), UPSCALE)])
