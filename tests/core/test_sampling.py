"""The camera's sampling (core.sampling) and the exact data term with it (core.fourier_sampled)."""
import numpy as np
import pytest

from microgan.core.fourier_sampled import solve_sampled, solve_sampled_regions
from microgan.core.sampling import area_mean, crop_to_scale, pixel_kernel
from microgan.errors import ConfigError


def test_area_mean_is_the_block_mean():
    x = np.arange(4 * 6 * 3, dtype=np.float32).reshape(4, 6, 3)
    y = area_mean(x, 2)
    assert y.shape == (2, 3, 3) and y.dtype == np.float32
    assert y[1, 2, 0] == pytest.approx(x[2:4, 4:6, 0].mean())
    assert np.array_equal(area_mean(x, 1), x)


@pytest.mark.parametrize("shape", [(5, 6), (6, 5), (1, 4)])
def test_area_mean_refuses_partial_blocks(shape):
    with pytest.raises(ConfigError, match="multiples of 2"):
        area_mean(np.zeros(shape), 2)


@pytest.mark.parametrize("scale", [0, 5, 2.5, True, "2"])
def test_unknown_scales_are_refused(scale):
    with pytest.raises(ConfigError, match="scale must be one of"):
        area_mean(np.zeros((8, 8)), scale)


def test_crop_to_scale_drops_the_partial_rows_and_columns():
    assert crop_to_scale(np.zeros((7, 9, 3)), 4).shape == (4, 8, 3)


@pytest.mark.parametrize("scale", [1, 2, 3, 4])
def test_pixel_kernel_is_centred_odd_and_sums_to_one(scale):
    k = pixel_kernel(scale)
    assert k.shape[0] % 2 == 1 and k.shape == k.shape[::-1]
    assert k.sum() == pytest.approx(1.0)
    assert np.allclose(k, k[::-1, ::-1])
    # its spread: uniform on s pixels (odd s), or that box moved half a pixel both ways (even s)
    taps = k.sum(axis=1)
    centre = np.arange(len(taps)) - len(taps) // 2
    expected = (scale**2 - 1) / 12 if scale % 2 else scale**2 / 12 + 1 / 6
    assert (taps * centre**2).sum() == pytest.approx(expected)


def _dense_problem(kernel, shape, scale):
    """The sampled forward operator as a matrix, periodic: circular convolution, then block means."""
    h, w = shape
    kh, kw = kernel.shape

    def forward(x):
        out = np.zeros_like(x)
        for i in range(kh):
            for j in range(kw):
                out += kernel[i, j] * np.roll(np.roll(x, i - kh // 2, 0), j - kw // 2, 1)
        return area_mean(out, scale).astype(np.float64)

    eye = np.eye(h * w)
    a = np.stack([forward(e.reshape(h, w)).ravel() for e in eye], 1)

    def grad(x):
        return np.concatenate([(np.roll(x, -1, 0) - x).ravel(), (np.roll(x, -1, 1) - x).ravel()])

    g = np.stack([grad(e.reshape(h, w)) for e in eye], 1)
    return a, g


@pytest.mark.parametrize("scale", [2, 3])
def test_the_closed_form_solves_the_normal_equations(scale):
    rng = np.random.default_rng(0)
    kernel = rng.random((3, 5))
    kernel /= kernel.sum()
    shape = (4 * scale, 3 * scale)
    a, g = _dense_problem(kernel, shape, scale)
    y = rng.random((shape[0] // scale, shape[1] // scale))
    prior = rng.random(shape)
    w = 0.05
    tikhonov = np.linalg.solve(a.T @ a + w * g.T @ g + 1e-12 * np.eye(a.shape[1]), a.T @ y.ravel()).reshape(shape)
    consistent = np.linalg.solve(a.T @ a + w * np.eye(a.shape[1]), a.T @ y.ravel() + w * prior.ravel()).reshape(shape)
    assert np.abs(solve_sampled(y[..., None], kernel, w, scale)[..., 0] - tikhonov).max() < 1e-5
    assert np.abs(solve_sampled(y[..., None], kernel, w, scale, prior[..., None])[..., 0] - consistent).max() < 1e-5


def test_regions_equal_one_whole_solve():
    """An image larger than a region: the regions with halos give the whole (reflected) solve."""
    import cv2

    from microgan.core.fourier import reflect_index

    rng = np.random.default_rng(1)
    kernel = cv2.getGaussianKernel(9, 1.5) @ cv2.getGaussianKernel(9, 1.5).T
    y = cv2.GaussianBlur(rng.random((300, 280)).astype(np.float32), (0, 0), 3)
    regions = solve_sampled_regions(y, kernel, 1e-3, 2)
    assert regions.shape == (600, 560)
    halo = 100  # one solve of the whole image padded by reflection, its centre kept
    padded = y[np.ix_(reflect_index(-halo, 300 + halo, 300), reflect_index(-halo, 280 + halo, 280))]
    whole = solve_sampled(padded[..., None], kernel, 1e-3, 2)[2 * halo : 2 * (halo + 300), 2 * halo : 2 * (halo + 280), 0]
    assert np.abs(regions - whole).max() < 2e-3


def test_the_data_term_recovers_what_interpolation_cannot():
    """Blur + sampling by 2 of a real image: the exact solve beats bicubic enlargement by far."""
    import cv2
    from skimage import data

    from microgan.core.metrics import psnr
    from microgan.data.degrade.presets import parse_degradation_text
    from microgan.data.io import from_float, to_float

    hr = crop_to_scale(data.camera()[100:228, 100:230], 2)
    degradation = parse_degradation_text("gauss:1.0+down:2")
    lr = degradation(hr, np.random.default_rng(0))
    assert lr.shape == (64, 65) and lr.dtype == np.uint8
    solved = from_float(solve_sampled_regions(to_float(lr), degradation.psf(), 1e-3, 2), np.uint8)
    bicubic = cv2.resize(lr, (130, 128), interpolation=cv2.INTER_CUBIC)
    assert solved.shape == hr.shape
    assert psnr(solved, hr) > psnr(bicubic, hr) + 1.0
