"""Blind-training degradations: each checked against its definition, reproducible from its seed,
PSFs for the baselines, the compact evaluation spelling and the on-the-fly dataset stream."""
from __future__ import annotations

import json

import numpy as np
import pytest

from microgan.data.degrade import (
    JPEG,
    Blur,
    Compose,
    DefocusBlur,
    GaussianBlur,
    GaussianNoise,
    Maybe,
    PoissonNoise,
    RandomChoice,
    build_degradation,
    disk_kernel,
    gaussian_kernel,
)
from microgan.data.degrade.presets import GRID, parse_degradation_text
from microgan.errors import ConfigError

RNG = np.random.default_rng(5)
FLAT = np.full((96, 96), 0.5, np.float32)
RGB8 = (RNG.random((40, 52, 3)) * 255).astype(np.uint8)

BLIND = {
    "type": "compose",
    "steps": [
        {"type": "random-choice", "weights": [3, 1], "options": [
            {"type": "blur", "sigma": [0.5, 4.0], "anisotropy": [1.0, 2.0], "angle": [0, 180]},
            {"type": "defocus-blur", "radius": [1.0, 5.0]}]},
        {"type": "maybe", "p": 0.5, "step": {"type": "poisson-noise", "peak": [200, 20000]}},
        {"type": "gaussian-noise", "sigma": [0.0, 0.04]},
        {"type": "maybe", "p": 0.3, "step": {"type": "jpeg", "quality": [60, 95]}},
    ],
}


def test_gaussian_kernel_sums_to_one_with_the_stated_widths():
    k = gaussian_kernel(2.0, anisotropy=2.0, angle=0.0)
    assert k.shape == (13, 13) and k.sum() == pytest.approx(1.0)
    y, x = np.mgrid[-6:7, -6:7]
    assert np.sqrt((k * x**2).sum()) == pytest.approx(2.0, rel=0.02)  # long axis along x
    assert np.sqrt((k * y**2).sum()) == pytest.approx(1.0, rel=0.02)
    rotated = gaussian_kernel(2.0, anisotropy=2.0, angle=90.0)
    np.testing.assert_allclose(rotated, k.T, atol=1e-12)
    np.testing.assert_allclose(Blur(sigma=1.5).psf(), gaussian_kernel(1.5))


def test_disk_kernel_is_a_uniform_disk():
    k = disk_kernel(4.0)
    assert k.shape == (9, 9) and k.sum() == pytest.approx(1.0)
    assert k[4, 4] == pytest.approx(k[4, 2]) and k[0, 0] == 0.0
    area = (k > 0).sum()
    assert np.pi * 16 * 0.9 < area < np.pi * 25  # ~50 pixels touched by a radius-4 circle
    impulse = np.zeros((21, 21), np.float32)
    impulse[10, 10] = 1.0
    np.testing.assert_allclose(DefocusBlur(4.0)(impulse)[6:15, 6:15], k, atol=1e-6)


def test_blur_of_an_impulse_is_its_psf():
    impulse = np.zeros((31, 31), np.float32)
    impulse[15, 15] = 1.0
    blur = Blur(sigma=2.0, anisotropy=1.5, angle=30.0)
    psf = blur.psf()
    half = psf.shape[0] // 2
    np.testing.assert_allclose(blur(impulse)[15 - half : 16 + half, 15 - half : 16 + half], psf, atol=1e-6)


@pytest.mark.parametrize("sigma", [0.01, 0.03])
def test_gaussian_noise_has_its_variance(sigma):
    out = GaussianNoise(sigma)(FLAT, np.random.default_rng(0))
    assert (out - FLAT).std() == pytest.approx(sigma, rel=0.03)
    assert abs((out - FLAT).mean()) < sigma / 20


def test_poisson_noise_variance_is_signal_over_peak():
    peak = 400.0
    out = PoissonNoise(peak)(FLAT, np.random.default_rng(0))
    assert (out - FLAT).var() == pytest.approx(0.5 / peak, rel=0.05)


def test_jpeg_round_trip_is_lossy_but_close_and_keeps_type():
    smooth = np.clip(np.add.outer(np.arange(40), np.arange(52))[..., None] * [2, 1, 3], 0, 255).astype(np.uint8)
    out = JPEG(90)(smooth)
    assert out.shape == smooth.shape and out.dtype == np.uint8
    assert 0 < np.abs(out.astype(int) - smooth).mean() < 3
    low = JPEG(10)(smooth)
    assert np.abs(low.astype(int) - smooth).mean() > np.abs(out.astype(int) - smooth).mean()
    u16 = (smooth.astype(np.uint16) * 257)
    assert JPEG(90)(u16).dtype == np.uint16
    gray = JPEG(90)(smooth[..., 0])
    assert gray.shape == smooth.shape[:2]
    with pytest.raises(ConfigError, match="1..100"):
        JPEG([50, 120])


def test_random_pipeline_is_reproducible_from_its_seed_and_varies_between_seeds():
    pipeline = build_degradation(BLIND)
    a = pipeline(RGB8, np.random.default_rng([7, 1]))
    b = pipeline(RGB8, np.random.default_rng([7, 1]))
    c = pipeline(RGB8, np.random.default_rng([7, 2]))
    np.testing.assert_array_equal(a, b)
    assert a.shape == RGB8.shape and a.dtype == RGB8.dtype
    assert not np.array_equal(a, c)
    assert not pipeline.fixed
    assert build_degradation(json.loads(json.dumps(pipeline.spec()))).spec() == pipeline.spec()
    with pytest.raises(ConfigError, match="no single PSF"):
        pipeline.psf()
    with pytest.raises(ConfigError, match="Generator"):
        Blur(sigma=[1, 2])(RGB8)


def test_ranges_are_drawn_within_bounds():
    rng = np.random.default_rng(0)
    blur = Blur(sigma=[0.5, 4.0])
    draws = [blur.sigma.draw(rng) for _ in range(500)]
    assert 0.5 <= min(draws) < 0.7 and 3.8 < max(draws) <= 4.0
    peaks = [PoissonNoise([100, 10000]).peak.draw(rng) for _ in range(500)]
    assert 0.4 < np.mean(np.log10(peaks) < 3.0) < 0.6  # log-uniform: half below the geometric middle


def test_combinators_and_bad_specs():
    choice = RandomChoice([{"type": "identity"}, {"type": "gaussian-blur"}], weights=[1, 0])
    np.testing.assert_array_equal(choice(RGB8, np.random.default_rng(0)), RGB8)
    assert Maybe({"type": "gaussian-blur"}, p=1.0).fixed and Maybe({"type": "gaussian-blur"}, p=1.0).psf() is not None
    with pytest.raises(ConfigError, match="weights"):
        RandomChoice([{"type": "identity"}], weights=[-1])
    with pytest.raises(ConfigError, match="number or a \\[low, high\\]"):
        Blur(sigma="wide")
    with pytest.raises(ConfigError, match="> 0"):
        Blur(sigma=[0, 2])
    with pytest.raises(ConfigError, match="non-empty"):
        Compose([])


def test_compose_psf_and_misspecified_copy():
    deg = Compose([Blur(sigma=1.5), GaussianNoise(0.01)])
    np.testing.assert_allclose(deg.psf(), gaussian_kernel(1.5))
    wider = deg.scaled(1.3)
    assert wider.spec()["steps"][0]["sigma"] == pytest.approx(1.95) and wider.spec()["steps"][1] == {"type": "gaussian-noise", "sigma": 0.01}
    assert GaussianBlur().scaled(1.3).spec()["sigma"] == pytest.approx(3.38)
    assert DefocusBlur(4).scaled(1.3).spec()["radius"] == pytest.approx(5.2)


def test_compact_spelling_and_grid():
    assert parse_degradation_text("paper").spec() == GaussianBlur().spec()
    deg = parse_degradation_text("gauss:3.5+noise:0.03")
    assert deg.spec() == {"type": "compose", "steps": [Blur(3.5).spec(), GaussianNoise(0.03).spec()]}
    assert parse_degradation_text('{"type": "defocus-blur", "radius": 2}').spec() == DefocusBlur(2).spec()
    for cell in GRID:
        assert parse_degradation_text(cell).fixed and parse_degradation_text(cell).psf().sum() == pytest.approx(1.0)
    for bad, message in (("blurry:2", "not one of"), ("gauss:x", "not a number"), ("{bad", "not valid JSON"), ("", "empty")):
        with pytest.raises(ConfigError, match=message):
            parse_degradation_text(bad)
