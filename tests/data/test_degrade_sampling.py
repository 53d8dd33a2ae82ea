"""The camera's sampling as a degradation step (``down:S``): shape, sample type, order, refusals."""
import numpy as np
import pytest

from microgan.core.sampling import area_mean
from microgan.data.degrade import build_degradation
from microgan.data.degrade.presets import GRID, parse_degradation_text, with_sampling
from microgan.errors import ConfigError


def test_down_is_the_area_mean_in_the_input_type():
    rng = np.random.default_rng(0)
    hr = rng.integers(0, 256, (12, 16, 3)).astype(np.uint8)
    lr = parse_degradation_text("down:4")(hr)
    assert lr.shape == (3, 4, 3) and lr.dtype == np.uint8
    assert np.array_equal(lr, np.rint(area_mean(hr.astype(np.float32) / 255, 4) * 255).astype(np.uint8))
    hr16 = (hr.astype(np.uint16) * 257)
    assert parse_degradation_text("down:2")(hr16).dtype == np.uint16


def test_chain_blurs_then_samples_then_adds_noise_and_reports_its_scale():
    d = parse_degradation_text("gauss:1.5+down:2+noise:0.01")
    assert d.scale == 2 and parse_degradation_text("gauss:1.5").scale == 1
    hr = np.full((10, 14), 128, np.uint8)
    lr, kernel = d.apply(hr, np.random.default_rng(0))
    assert lr.shape == (5, 7)
    assert np.allclose(kernel, parse_degradation_text("gauss:1.5").psf())  # the PSF on the HR grid
    assert build_degradation(d.spec()).spec() == d.spec()
    assert d.scaled(1.3).scale == 2  # a guessed PSF keeps the sampling


def test_a_blur_after_the_sampling_is_refused():
    d = parse_degradation_text("down:2+gauss:1.5")
    with pytest.raises(ConfigError, match="before the sampling"):
        d.psf()
    with pytest.raises(ConfigError, match="before the sampling"):
        d.apply(np.zeros((8, 8), np.uint8), np.random.default_rng(0))


def test_sides_that_are_not_multiples_are_refused_with_the_way_out():
    with pytest.raises(ConfigError, match="crop_to_scale"):
        parse_degradation_text("down:2")(np.zeros((9, 8), np.uint8))


def test_random_shapes_are_refused():
    with pytest.raises(ConfigError, match="share one scale"):
        build_degradation({"type": "random-choice", "options": [{"type": "downsample", "factor": 2}, {"type": "identity"}]})
    with pytest.raises(ConfigError, match="at random"):
        build_degradation({"type": "maybe", "p": 0.5, "step": {"type": "downsample", "factor": 2}})
    assert build_degradation({"type": "maybe", "p": 1.0, "step": {"type": "downsample", "factor": 2}}).scale == 2
    with pytest.raises(ConfigError, match="scale must be one of"):
        parse_degradation_text("down:5")


def test_grid_cells_with_sampling():
    assert with_sampling("gauss:1.5+noise:0.01", 2) == "gauss:1.5+down:2+noise:0.01"
    assert with_sampling("paper", 4) == "paper+down:4"
    assert with_sampling("defocus:4", 1) == "defocus:4"
    for cell in GRID:
        assert parse_degradation_text(with_sampling(cell, 2)).scale == 2
    with pytest.raises(ConfigError, match="no blur"):
        with_sampling("noise:0.01", 2)
