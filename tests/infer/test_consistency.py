"""Data consistency (microgan.infer.consistency): the PSF fit, the correction, and the Enhancer's use of it."""
from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from torch import nn

import microgan
from microgan.archs import build_generator
from microgan.core import checkpoint as ck
from microgan.data.degrade import build_degradation
from microgan.core import fourier
from microgan.core.psf import disk_kernel, gaussian_kernel
from microgan.errors import MicroGANError
from microgan.infer import Enhancer
from microgan.infer import consistency as cons
from microgan.infer.enhancer import trained_blind


def _cells(seed: int = 0, size: int = 96) -> np.ndarray:
    """A sharp RGB field of overlapping discs with edges at every orientation, in [0, 1]."""
    rng = np.random.default_rng(seed)
    image = np.full((size, size, 3), 0.85, np.float32)
    yy, xx = np.mgrid[:size, :size]
    for _ in range(12):
        cy, cx, r = rng.uniform(0, size, 2).tolist() + [rng.uniform(6, 18)]
        colour = rng.uniform(0.2, 0.8, 3).astype(np.float32)
        image[(yy - cy) ** 2 + (xx - cx) ** 2 < r**2] = colour
    return image


def _blur(image: np.ndarray, kernel: np.ndarray) -> np.ndarray:
    return cv2.filter2D(image, -1, kernel.astype(np.float32), borderType=cv2.BORDER_REFLECT_101)


def _psnr(a: np.ndarray, b: np.ndarray) -> float:
    return float(10 * np.log10(1 / np.mean((a.astype(np.float64) - b) ** 2)))


@pytest.mark.parametrize("sigma", [1.3, 2.6, 3.7])
def test_fit_recovers_the_gaussian_that_blurred_the_image(sigma: float) -> None:
    sharp = _cells()
    blurred = _blur(sharp, gaussian_kernel(sigma, 1.0, 0.0))
    fit = cons.fit_psf(sharp, blurred)
    assert fit.kind == "gaussian" and abs(fit.width - sigma) <= 0.05
    assert fit.residual < 1e-8 and fit.kernel.sum() == pytest.approx(1.0, abs=1e-5)


def test_fit_recovers_a_defocus_disk_and_its_radius() -> None:
    sharp = _cells(1)
    fit = cons.fit_psf(sharp, _blur(sharp, disk_kernel(3.5)))
    assert fit.kind == "disk" and abs(fit.width - 3.5) <= 0.1


def test_fit_uses_the_degradations_own_psf_for_the_papers_blur() -> None:
    """The paper's 15x15 Gaussian (sigma 2.6, truncated) is fitted as the family's sigma 2.6 or its neighbour."""
    sharp = (_cells(2) * 255).astype(np.uint8)
    blurred = build_degradation({"type": "gaussian-blur"})(sharp)
    fit = cons.fit_psf(sharp / np.float32(255), blurred / np.float32(255))
    assert fit.kind == "gaussian" and abs(fit.width - 2.6) <= 0.1


@pytest.mark.parametrize("short", [0.5, 0.7, 1.0])
def test_correction_with_the_true_psf_moves_an_under_sharpened_image_towards_the_truth(short: float) -> None:
    """A restoration that stopped short (the truth blurred a little) is corrected towards the truth
    on a clean, 8-bit-quantised input, at the clean-image weight: the principle. (The fitted PSF
    absorbs a Gaussian shortfall like this one, so the fit is tested apart; on real crops with the
    bundled model the whole step gains, tests/test_pretrained.py.)"""
    truth = _blur(_cells(3), gaussian_kernel(1.0, 1.0, 0.0))
    observed = np.round(_blur(truth, gaussian_kernel(2.6, 1.0, 0.0)) * 255) / 255
    restored = _blur(truth, gaussian_kernel(short, 1.0, 0.0))
    fit = cons.PsfFit("gaussian", 2.6, cons.kernel("gaussian", 2.6), cons.RESIDUAL_FLOOR)
    corrected = cons.correct(restored, observed, fit)
    assert corrected.shape == restored.shape and corrected.dtype == np.float32
    assert _psnr(truth, corrected) > _psnr(truth, restored) + 1.0


def test_a_noisy_input_keeps_the_restoration() -> None:
    """With 3 % camera noise the residual is ~450x the clean floor: the weight holds the output
    within a fraction of a grey level of the model's (the model beats deconvolution on noise)."""
    rng = np.random.default_rng(4)
    truth = _cells(4)
    observed = _blur(truth, gaussian_kernel(2.0, 1.0, 0.0)) + rng.normal(0, 0.03, truth.shape).astype(np.float32)
    restored = _blur(truth, gaussian_kernel(0.8, 1.0, 0.0))
    fit = cons.fit_psf(restored, observed)
    assert fit.noise == pytest.approx(0.03, rel=0.1)
    corrected = cons.correct(restored, observed, fit)
    assert np.abs(corrected - restored).mean() * 255 < 0.2


def test_weight_is_the_strength_at_the_floor_and_grows_with_the_residual() -> None:
    k = cons.kernel("gaussian", 1.0)
    at_floor = cons.PsfFit("gaussian", 1.0, k, cons.RESIDUAL_FLOOR)
    assert at_floor.weight == pytest.approx(cons.STRENGTH)
    weights = [cons.PsfFit("gaussian", 1.0, k, cons.RESIDUAL_FLOOR * f).weight for f in (0.5, 1, 10, 100)]
    assert weights == sorted(weights)
    assert weights[2] == pytest.approx(cons.STRENGTH * 10**cons.POWER)


@pytest.mark.parametrize("shape", [(1, 1), (1, 1, 3), (3, 2), (9, 5, 3), (17, 3)])
def test_tiny_images_are_corrected_without_error(shape: tuple) -> None:
    """Kernels wider than the image: the canvas is reflected as often as needed."""
    rng = np.random.default_rng(5)
    x, y = rng.random(shape).astype(np.float32), rng.random(shape).astype(np.float32)
    z, fit = cons.refine(x, y)
    assert z.shape == shape and np.isfinite(z).all() and fit.kind in cons.WIDTHS


def test_a_large_image_is_fitted_on_its_most_textured_window_with_real_context() -> None:
    """A field whose cells sit off-centre (the centre is background): the fit must read the cells,
    scored only where the blur saw real pixels (not the window's reflected edges)."""
    sharp = np.full((700, 900, 3), 0.85, np.float32)
    sharp[420:680, 600:880] = _cells(7, 280)[:260]
    observed = np.round(_blur(sharp, gaussian_kernel(4.5, 1.0, 0.0)) * 255) / 255
    region, margins = cons.fit_window(observed, lambda a: a.astype(np.float32))
    assert margins == (cons.CONTEXT, cons.CONTEXT)
    rows, cols = region
    assert rows.stop - rows.start == cols.stop - cols.start == cons.FIT_WINDOW + 2 * cons.CONTEXT
    assert rows.start >= 400 - cons.FIT_WINDOW and cols.start >= 600 - cons.FIT_WINDOW  # on the cells
    fit = cons.fit_psf(sharp[region], observed[region], margins)
    assert fit.kind == "gaussian" and abs(fit.width - 4.5) <= 0.05 and fit.informative
    assert cons.fit_window(observed[:200, :250], lambda a: a) == ((slice(0, 200), slice(0, 250)), (0, 0))


@pytest.mark.parametrize("shape", [(40, 3000), (200, 1000), (270, 270), (1000, 200)])
def test_thin_and_mid_size_images_are_fitted_to_their_own_edges(shape: tuple) -> None:
    """An axis up to a window plus its context is taken whole (its edges are the image's, reflected
    as the blur reflected them): the clean residual stays at the 8-bit floor, so the weight stays
    the clean one."""
    h, w = shape
    sharp = np.concatenate([_cells(s, 300) for s in range(1 + max(h, w) // 300)], axis=1)
    sharp = np.ascontiguousarray(sharp[:h, :w] if h <= 300 else np.swapaxes(sharp, 0, 1)[:h, :w])
    observed = np.round(_blur(sharp, gaussian_kernel(2.6, 1.0, 0.0)) * 255) / 255
    region, margins = cons.fit_window(observed, lambda a: a)
    for axis, (n, m) in enumerate(zip(shape, margins)):
        if n <= cons.FIT_WINDOW + 2 * cons.CONTEXT:
            assert region[axis] == slice(0, n) and m == 0
    fit = cons.fit_psf(sharp[region], observed[region], margins)
    assert abs(fit.width - 2.6) <= 0.1 and fit.weight == pytest.approx(cons.STRENGTH)


def test_the_last_strip_of_a_field_is_a_candidate_window() -> None:
    sharp = np.full((400, 300, 3), 0.85, np.float32)
    sharp[290:400] = _cells(13, 300)[:110]
    observed = _blur(sharp, gaussian_kernel(2.0, 1.0, 0.0))
    (rows, _), _ = cons.fit_window(observed, lambda a: a)
    assert rows.stop == 400 - 0 or rows.stop >= 390
    out, fit = cons.refine(sharp, observed)
    assert fit.informative


def test_a_featureless_image_keeps_the_networks_output() -> None:
    flat = np.full((300, 400, 3), 0.6, np.float32)
    restored = flat + np.float32(0.002)
    out, fit = cons.refine(restored, flat)
    assert not fit.informative
    np.testing.assert_array_equal(out, restored)


def test_a_residual_below_the_8bit_floor_does_not_turn_the_solve_into_inverse_filtering() -> None:
    """16-bit or float data can leave a residual far below 8-bit quantisation: the weight is
    clamped at the clean 8-bit one, so the result stays close to the truth."""
    truth = _blur(_cells(8), gaussian_kernel(1.0, 1.0, 0.0))
    rng = np.random.default_rng(8)
    observed = _blur(truth, gaussian_kernel(2.6, 1.0, 0.0)) + rng.normal(0, 2e-4, truth.shape).astype(np.float32)
    restored = truth + rng.normal(0, 3e-3, truth.shape).astype(np.float32)  # a good restoration
    fit = cons.fit_psf(restored, observed)
    assert fit.residual < cons.RESIDUAL_FLOOR and fit.weight == pytest.approx(cons.STRENGTH)
    assert _psnr(truth, cons.correct(restored, observed, fit)) > _psnr(truth, restored) - 1.0


@pytest.mark.parametrize("kind, width", [("gaussian", 2.6), ("disk", 1.5), ("disk", 6.0)])
def test_tiled_solve_equals_the_whole_image_solve(kind: str, width: float) -> None:
    """Regions of TILE px with a halo of real pixels, centres kept: equal to one solve of the whole
    image (reflect-padded by the same halo) within a small fraction of a grey level, for Gaussians
    and for disks (whose regularised inverse reaches furthest)."""
    truth = _blur(np.concatenate([_cells(s, 300) for s in (11, 12)], axis=1), gaussian_kernel(1.0, 1.0, 0.0))
    k = cons.kernel(kind, width)
    observed = np.round(_blur(truth, k) * 255) / 255
    restored = _blur(truth, gaussian_kernel(0.7, 1.0, 0.0))
    fit = cons.PsfFit(kind, width, k, cons.RESIDUAL_FLOOR)
    halo = fourier.halo_for(k)
    whole = fourier.solve(np.pad(observed, ((halo, halo), (halo, halo), (0, 0)), mode="reflect"), k, fit.weight,
                          np.pad(restored, ((halo, halo), (halo, halo), (0, 0)), mode="reflect"))[halo:-halo, halo:-halo]
    tiled = cons.correct(restored, observed, fit)
    assert restored.shape[1] > fourier.TILE  # more than one region
    assert np.abs(tiled - whole).max() * 255 < 0.1


def test_no_blur_to_put_back_keeps_the_output() -> None:
    """A network that passed its input through (output = input) leaves the narrowest Gaussian as
    the best fit, or nothing to compare (a flat image): the output is kept, noise not sharpened."""
    rng = np.random.default_rng(14)
    noisy = (np.float32(0.5) + rng.normal(0, 0.002, (120, 150))).astype(np.float32)
    out, fit = cons.refine(noisy, noisy)
    assert not fit.informative
    np.testing.assert_array_equal(out, noisy)
    flat = np.full((50, 60), 0.3, np.float32)
    assert not cons.refine(flat, flat)[1].informative


def test_float_results_stay_in_range_under_range_normalization() -> None:
    image = _blur(_cells(9, 64), gaussian_kernel(2.6, 1.0, 0.0))
    image[:8] = 1.0  # saturated rows: the correction overshoots there
    image[-8:] = 0.0
    out = Enhancer(_Sharpen(), _blind_meta(), device="cpu", backend="torch").enhance(image)
    assert out.dtype == np.float32 and out.min() >= 0 and out.max() <= 1


# ---------------------------------------------------------------------------------- the Enhancer


class _Sharpen(nn.Module):
    """A stand-in generator that sharpens its input a little (unsharp masking, in [-1, 1]): an
    under-restoration, so the input is its output blurred and the correction has work to do."""

    multiple = 1

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        smooth = torch.nn.functional.avg_pool2d(x, 3, 1, 1, count_include_pad=False)
        return (x + 0.6 * (x - smooth)).clamp(-1, 1)


def _blind_meta() -> dict:
    return {"config": {"name": "t", "generator": {"in_channels": 3}, "data": {"degradation": {"type": "blur", "sigma": [1, 3]}}}}


def test_auto_is_on_for_blind_trained_models_only() -> None:
    assert trained_blind(_blind_meta())
    assert not trained_blind({"config": {"data": {"batch_size": 1}}}) and not trained_blind({})
    assert microgan.load("microgan-blind", device="cpu").consistency
    assert not microgan.load("microgan-bccd", device="cpu").consistency
    assert microgan.load("microgan-bccd", device="cpu", consistency=True).consistency
    with pytest.raises(MicroGANError, match="consistency 'yes'"):
        Enhancer(_Sharpen(), {"config": {"generator": {"in_channels": 3}}}, device="cpu", consistency="yes")


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16, np.float32])
@pytest.mark.parametrize("channels", [None, 3])
def test_enhancer_applies_the_correction_to_the_networks_output(dtype: type, channels) -> None:
    """With consistency the result is exactly refine(network output, input) in the normalized
    range, returned in the input's shape and sample type."""
    field = _blur(_cells(6, 52)[:40], gaussian_kernel(1.5, 1.0, 0.0))
    field = field.mean(axis=2) if channels is None else field
    scale = 1.0 if dtype == np.float32 else np.iinfo(dtype).max
    image = (field * scale).astype(dtype)
    plain = Enhancer(_Sharpen(), _blind_meta(), device="cpu", consistency=False, backend="torch")
    fixed = Enhancer(_Sharpen(), _blind_meta(), device="cpu", backend="torch")
    network, out = plain.enhance(image), fixed.enhance(image)
    assert out.shape == image.shape and out.dtype == image.dtype
    assert plain.fits == [] and len(fixed.fits) == 1
    norm = fixed.normalizer
    bound = norm.bounds(image)
    corrected, fit = cons.refine(norm.normalize(network, bound), norm.normalize(image, bound))
    np.testing.assert_array_equal(out, norm.denormalize(corrected, image, bound).astype(dtype))
    assert fit == fixed.fits[0] and not np.array_equal(out, network)


def test_batch_results_equal_one_by_one_and_each_image_gets_its_fit() -> None:
    images = [(_cells(s, 48)[:40] * 255).astype(np.uint8) for s in (7, 8, 9)]
    enhancer = Enhancer(_Sharpen(), _blind_meta(), device="cpu", backend="torch")
    batch = enhancer.enhance_batch(images)
    assert len(enhancer.fits) == 3
    for image, out in zip(images, batch):
        np.testing.assert_array_equal(out, enhancer.enhance(image))


def test_tiled_output_with_consistency_equals_whole() -> None:
    """The correction runs on the whole restored image, after the tiles: tiling changes nothing."""
    torch.manual_seed(0)
    net = build_generator({"type": "unet", "channels": [4, 8]})
    image = (_cells(10, 128) * 255).astype(np.uint8)
    whole = Enhancer(net, _blind_meta(), device="cpu", tile=None, backend="torch").enhance(image)
    tiled = Enhancer(net, _blind_meta(), device="cpu", tile=64, backend="torch").enhance(image)
    # tiles equal the whole image to float rounding, which may flip an 8-bit level (as without the step)
    assert np.abs(whole.astype(int) - tiled).max() <= 1 and (whole != tiled).mean() < 1e-3


def test_evaluate_records_the_setting(tmp_path: Path, save_tiny_generator) -> None:
    from microgan.evaluate.runner import model_method

    path = save_tiny_generator(tmp_path / "tiny.safetensors")
    state = ck.load_checkpoint(path)
    state.meta["config"]["data"] = _blind_meta()["config"]["data"]
    ck.save_checkpoint(path, state)
    assert model_method("m", path, device="cpu").settings["consistency"] is True
    assert model_method("m", path, device="cpu", consistency=False).settings["consistency"] is False


def test_describe_names_the_blur_and_noise_a_user_had() -> None:
    fits = [cons.PsfFit("gaussian", w, cons.kernel("gaussian", w), (n / 255) ** 2) for w, n in ((2.5, 0.4), (2.6, 0.5), (2.65, 0.3))]
    fits.append(cons.PsfFit("disk", 3.0, cons.kernel("disk", 3.0), (2 / 255) ** 2))
    line = cons.describe(fits)
    assert "Gaussian of sigma 2.60 px (median of 3 of 4 images, 2.50-2.65)" in line
    assert "residual 0.50 grey levels RMS" in line
    assert cons.describe([]) == ""
