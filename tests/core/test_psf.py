"""PSF sources against their definitions (sum, centre, width), and the refusal of each bad PSF."""
from __future__ import annotations

import math
from pathlib import Path

import cv2
import numpy as np
import pytest
import tifffile

from microgan.core.psf import (
    MAX_SIDE,
    WIDEFIELD_SIGMA,
    airy_kernel,
    checked,
    disk_kernel,
    gaussian_kernel,
    load_psf_file,
    parse_psf_spec,
    psf_from_optics,
    resolve_psf,
    second_moment_sigma,
)
from microgan.errors import PsfError


def _centred(k: np.ndarray) -> bool:
    h, w = k.shape
    y, x = np.mgrid[:h, :w]
    return abs(float((k * y).sum()) - h // 2) < 1e-9 and abs(float((k * x).sum()) - w // 2) < 1e-9


@pytest.mark.parametrize("text, rms", [("gauss:1.5", 1.5), ("gauss:2.6", 2.6), ("gauss:0.8", 0.8)])
def test_gaussian_spec_sums_to_one_is_centred_and_has_its_sigma(text: str, rms: float) -> None:
    k = parse_psf_spec(text)
    assert k.shape[0] % 2 == 1 and k.shape == k.T.shape
    assert k.sum() == pytest.approx(1.0) and _centred(k)
    assert second_moment_sigma(k) == pytest.approx(rms, rel=0.03)  # +-3 sigma truncation


def test_anisotropic_gaussian_spec_has_its_two_sigmas_along_the_angle() -> None:
    k = parse_psf_spec("gauss:3,1.5,0")
    h, w = k.shape
    y, x = np.mgrid[:h, :w] - np.array([h // 2, w // 2])[:, None, None]
    assert math.sqrt((k * x**2).sum()) == pytest.approx(3.0, rel=0.03)
    assert math.sqrt((k * y**2).sum()) == pytest.approx(1.5, rel=0.03)
    np.testing.assert_allclose(parse_psf_spec("gauss:1.5,3,0"), parse_psf_spec("gauss:3,1.5,90"), atol=1e-12)


def test_disk_is_uniform_inside_its_radius() -> None:
    k = parse_psf_spec("disk:4")
    assert k.shape == (9, 9) and k.sum() == pytest.approx(1.0) and _centred(k)
    assert k[4, 4] == pytest.approx(k[4, 5]) and k[0, 0] == 0
    # a uniform disk of radius R has RMS radius R / sqrt(2), so per axis R / 2
    assert second_moment_sigma(k) == pytest.approx(2.0, rel=0.03)
    np.testing.assert_allclose(k, disk_kernel(4.0))


def test_airy_first_dark_ring_is_at_its_radius() -> None:
    k = airy_kernel(4.0, supersample=1)
    centre = k.shape[0] // 2
    profile = k[centre, centre:]
    assert k.sum() == pytest.approx(1.0) and _centred(k)
    assert int(np.argmin(profile[:7])) == 4  # the first minimum along an axis, at r = 4 px
    assert profile[4] < 0.01 * profile[0]
    np.testing.assert_allclose(parse_psf_spec("airy:4"), airy_kernel(4.0))


def test_optics_give_the_widefield_gaussian() -> None:
    na, wavelength, pixel = 0.75, 550.0, 0.1
    sigma = WIDEFIELD_SIGMA * wavelength / 1000 / na / pixel  # 1.54 px
    k = psf_from_optics(na, wavelength, pixel)
    np.testing.assert_allclose(k, gaussian_kernel(sigma))
    assert second_moment_sigma(k) == pytest.approx(sigma, rel=0.03)


@pytest.mark.parametrize("na, wavelength, pixel, says", [
    (0, 550, 0.1, "numerical aperture"), (2.5, 550, 0.1, "beyond any objective"), (0.75, -5, 0.1, "wavelength"),
    (0.75, 550, float("nan"), "pixel size"), (1.4, 400, 5.0, "far below one pixel"),
])
def test_bad_optics_are_refused(na: float, wavelength: float, pixel: float, says: str) -> None:
    with pytest.raises(PsfError, match=says):
        psf_from_optics(na, wavelength, pixel)


@pytest.mark.parametrize("text", ["gauss", "gauss:", "gauss:a", "blob:3", "disk:1,2", "gauss:1,2", "gauss:-1", "disk:0",
                                  "gauss:nan", "airy:1e9"])
def test_bad_specs_are_refused_with_the_spec_named(text: str) -> None:
    with pytest.raises(PsfError, match="PSF '"):
        parse_psf_spec(text)


@pytest.mark.parametrize("suffix", [".npy", ".tif", ".png"])
def test_files_are_read_and_normalised(tmp_path: Path, suffix: str) -> None:
    k = gaussian_kernel(2.0)
    path = tmp_path / f"psf{suffix}"
    if suffix == ".npy":
        np.save(path, k * 7)
    elif suffix == ".tif":
        tifffile.imwrite(path, (k * 1000).astype(np.float32))
    else:
        cv2.imwrite(str(path), np.round(k / k.max() * 65535).astype(np.uint16))
    got = load_psf_file(path)
    assert got.sum() == pytest.approx(1.0)
    np.testing.assert_allclose(got, k, atol=2e-5)
    np.testing.assert_allclose(resolve_psf(str(path)), got)


def test_grey_png_saved_as_rgb_is_accepted_but_colour_differences_are_refused(tmp_path: Path) -> None:
    k = np.round(gaussian_kernel(1.5) / gaussian_kernel(1.5).max() * 255).astype(np.uint8)
    grey = np.repeat(k[..., None], 3, axis=2)
    cv2.imwrite(str(tmp_path / "grey.png"), grey)
    assert load_psf_file(tmp_path / "grey.png").shape == k.shape
    grey[0, 0, 1] += 1
    cv2.imwrite(str(tmp_path / "colour.png"), grey)
    with pytest.raises(PsfError, match="channels differ"):
        load_psf_file(tmp_path / "colour.png")


@pytest.mark.parametrize("array, says", [
    (np.ones((3, 5, 5)), "3-D stack"),
    (np.ones((4, 5)), "must be odd"),
    (np.ones((MAX_SIDE + 2, 3)), "beyond"),
    (np.array([[0, 1, 0], [1, np.nan, 1], [0, 1, 0]]), "NaN"),
    (np.array([[0, 1, 0], [1, np.inf, 1], [0, 1, 0]]), "NaN"),
    (np.zeros((3, 3)), "empty"),
    (np.array([[0, -0.2, 0], [-0.2, 1, -0.2], [0, -0.2, 0]]), "negative"),
    (np.array([["a"]]), "numbers"),
])
def test_bad_arrays_are_refused_naming_the_source(array: np.ndarray, says: str) -> None:
    with pytest.raises(PsfError, match=f"my psf: .*{says}"):
        checked(array, "my psf")


def test_singleton_axes_and_float_noise_are_forgiven() -> None:
    k = gaussian_kernel(1.0)
    assert checked(k[None, :, :, None], "x").shape == k.shape
    noisy = k.copy()
    noisy[0, 0] = -1e-9 * k.max()
    assert checked(noisy, "x").min() >= 0


def test_resolve_tells_specs_from_files(tmp_path: Path) -> None:
    assert resolve_psf(None) is None
    np.testing.assert_allclose(resolve_psf("gauss:2"), gaussian_kernel(2.0))
    with pytest.raises(PsfError, match="no such PSF file"):
        resolve_psf(str(tmp_path / "missing.tif"))
    with pytest.raises(PsfError, match="no such PSF file"):
        resolve_psf("true")
    corrupt = tmp_path / "bad.tif"
    corrupt.write_bytes(b"not a tiff")
    with pytest.raises(PsfError, match="bad.tif: cannot read"):
        resolve_psf(str(corrupt))


def test_a_psf_wider_than_the_image_is_legal() -> None:
    """A wide PSF on a small crop: the solves reflect the image beyond its edges (no error)."""
    from microgan.core.fourier import solve_regions

    y = np.random.default_rng(0).random((9, 7)).astype(np.float32)
    z = solve_regions(y, parse_psf_spec("gauss:6"), 0.01)
    assert z.shape == y.shape and np.isfinite(z).all()
