"""Point spread functions: the kernel families, and the PSF a user gives (a file, a spec, the optics).

A PSF here is a 2-D float64 array with odd sides whose centre pixel is the origin, non-negative,
summing to 1: what blurs a sharp image ``x`` into ``k * x`` (convolution; the families are all
point-symmetric, so convolution and correlation agree). Everything that runs a model told the PSF
(``enhance --psf``, ``evaluate --psf``, ``microgan.load(psf=...)``, the napari widget) resolves
what the user wrote with :func:`resolve_psf`:

* a **spec**: ``gauss:SIGMA`` (isotropic Gaussian, px), ``gauss:SX,SY,ANGLE`` (sigma SX along the
  axis at ANGLE degrees, SY across it), ``disk:R`` (defocus: a uniform disk of radius R px),
  ``airy:R`` (an in-focus diffraction pattern whose first dark ring has radius R px);
* the **optics**: numerical aperture, wavelength (nm) and pixel size at the sample (um), turned
  into the Gaussian that approximates a widefield PSF, ``sigma = 0.21 lambda / NA``
  (Zhang, Zerubia and Olivo-Marin, Applied Optics 46(10), 2007, paraxial widefield model;
  docs/paper-notes.md says why a brightfield user can take it too) (:func:`psf_from_optics`);
* a **file**: a 2-D PSF image (``.npy``, TIFF, PNG; a measured bead image, say), normalised to
  sum 1. A 3-D stack, an RGB image whose channels differ, even sides (no centre pixel), negative
  or non-finite values, an all-zero image, or a side beyond :data:`MAX_SIDE` get one clear error
  (:class:`~microgan.errors.PsfError`) naming the source and the reason.

A PSF wider than a small crop is legal: the solves reflect the image beyond its edges, as the
degradations do.
"""
from __future__ import annotations

import math
import re
from pathlib import Path
from typing import Optional, Union

import numpy as np

from microgan.errors import PsfError

#: Largest PSF side accepted (px): a widefield PSF at a sensible sampling spans tens of pixels; a
#: larger array is more likely a whole image given by mistake, and costs every solve.
MAX_SIDE = 255
#: Zhang et al.'s paraxial widefield fit: lateral sigma = 0.21 lambda / NA.
WIDEFIELD_SIGMA = 0.21
#: A negative value counts as negative only below this fraction of the PSF's maximum (float noise
#: of a file written by another program is not a user's error).
NEGATIVE_TOLERANCE = 1e-6
#: First zero of the Bessel function J1 (the Airy pattern's first dark ring).
_J1_ZERO = 3.831705970207512

PsfLike = Union[str, Path, np.ndarray]


def _odd_side(radius: float) -> int:
    return 2 * int(math.ceil(radius)) + 1


def gaussian_kernel(sigma: float, anisotropy: float = 1.0, angle: float = 0.0) -> np.ndarray:
    """A normalized anisotropic Gaussian: ``sigma`` along its long axis at ``angle`` degrees,
    ``sigma / anisotropy`` across it; side ``2 ceil(3 sigma) + 1`` (+-3 sigma on the long axis)."""
    half = int(math.ceil(3.0 * sigma))
    y, x = np.mgrid[-half : half + 1, -half : half + 1].astype(np.float64)
    theta = math.radians(angle)
    u = x * math.cos(theta) + y * math.sin(theta)
    v = -x * math.sin(theta) + y * math.cos(theta)
    k = np.exp(-0.5 * ((u / sigma) ** 2 + (v * anisotropy / sigma) ** 2))
    return k / k.sum()


def _supersampled(radius: float, supersample: int, profile) -> np.ndarray:
    """A radial ``profile(r)`` averaged over ``supersample`` x ``supersample`` points per pixel, on
    a square of half-side ``ceil(radius)``, normalized."""
    half = int(math.ceil(radius))
    offsets = (np.arange(supersample) + 0.5) / supersample - 0.5
    grid = np.arange(-half, half + 1, dtype=np.float64)
    t = (grid[:, None] + offsets[None, :]).reshape(-1)
    values = profile(np.sqrt(t[:, None] ** 2 + t[None, :] ** 2))
    n = 2 * half + 1
    k = values.reshape(n, supersample, n, supersample).mean(axis=(1, 3))
    return k / k.sum()


def disk_kernel(radius: float, supersample: int = 8) -> np.ndarray:
    """A normalized uniform disk of ``radius`` px, each pixel weighted by the fraction of its area
    inside the circle (``supersample`` x ``supersample`` points per pixel)."""
    return _supersampled(radius, supersample, lambda r: (r <= radius).astype(np.float64))


def airy_kernel(radius: float, rings: int = 2, supersample: int = 8) -> np.ndarray:
    """The in-focus diffraction PSF of a circular aperture, ``(2 J1(v) / v)^2``, scaled so that its
    first dark ring lies at ``radius`` px (``0.61 lambda / NA`` at the sample), kept out to the
    ``rings``-th dark ring (about 94 % of its energy for 2) and normalized over that support."""
    from scipy.special import j1

    zeros = {1: 1.0, 2: 1.8309, 3: 2.6819}  # dark rings in units of the first
    extent = radius * zeros.get(rings, 1.0 + 0.85 * (rings - 1))

    def profile(r: np.ndarray) -> np.ndarray:
        v = _J1_ZERO * r / radius
        safe = np.where(v == 0, 1.0, v)
        out = np.where(v == 0, 1.0, (2 * j1(safe) / safe) ** 2)
        return np.where(r <= extent, out, 0.0)

    return _supersampled(extent, supersample, profile)


def psf_from_optics(na: float, wavelength_nm: float, pixel_size_um: float) -> np.ndarray:
    """The Gaussian approximation of a widefield PSF from the optics: lateral sigma
    ``0.21 lambda / NA`` (Zhang et al. 2007) in pixels of ``pixel_size_um`` at the sample."""
    for name, value in (("numerical aperture", na), ("wavelength", wavelength_nm), ("pixel size", pixel_size_um)):
        if not (isinstance(value, (int, float)) and math.isfinite(value) and value > 0):
            raise PsfError(f"optics: the {name} must be a positive number, got {value!r}")
    if na > 1.7:
        raise PsfError(f"optics: a numerical aperture of {na:g} is beyond any objective's (at most ~1.7)")
    sigma = WIDEFIELD_SIGMA * (wavelength_nm / 1000.0) / na / pixel_size_um
    if sigma < 0.1:
        raise PsfError(f"optics: NA {na:g}, {wavelength_nm:g} nm and {pixel_size_um:g} um pixels give a PSF of sigma "
                       f"{sigma:.3f} px, far below one pixel: the image is not blurred by its optics (check the pixel size)")
    return checked(gaussian_kernel(sigma), f"optics NA {na:g}, {wavelength_nm:g} nm, {pixel_size_um:g} um/px")


_NUMBER = r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?"


def parse_psf_spec(text: str) -> np.ndarray:
    """A kernel from ``gauss:SIGMA``, ``gauss:SX,SY,ANGLE``, ``disk:R`` or ``airy:R`` (px, degrees)."""
    kind, sep, rest = text.strip().partition(":")
    values = [v.strip() for v in rest.split(",")] if sep else []
    if not sep or not all(re.fullmatch(_NUMBER, v) for v in values):
        raise PsfError(f"PSF '{text}': expected gauss:SIGMA, gauss:SX,SY,ANGLE, disk:R or airy:R (px), or a PSF image file")
    numbers = [float(v) for v in values]
    if kind == "gauss" and len(numbers) == 1:
        numbers = [numbers[0], numbers[0], 0.0]
    shapes = {"gauss": 3, "disk": 1, "airy": 1}
    if kind not in shapes or len(numbers) != shapes[kind]:
        raise PsfError(f"PSF '{text}': expected gauss:SIGMA, gauss:SX,SY,ANGLE, disk:R or airy:R")
    widths = numbers[:2] if kind == "gauss" else numbers
    if not all(math.isfinite(w) and w > 0 for w in widths) or not math.isfinite(numbers[-1]):
        raise PsfError(f"PSF '{text}': widths must be positive numbers")
    if kind == "gauss":
        sx, sy, angle = numbers
        long, short, angle = (sx, sy, angle) if sx >= sy else (sy, sx, angle + 90.0)
        kernel = gaussian_kernel(long, long / short, angle) if _odd_side(3 * long) <= MAX_SIDE else None
    elif kind == "disk":
        kernel = disk_kernel(numbers[0]) if _odd_side(numbers[0]) <= MAX_SIDE else None
    else:
        kernel = airy_kernel(numbers[0]) if _odd_side(2 * numbers[0]) <= MAX_SIDE else None
    if kernel is None:
        raise PsfError(f"PSF '{text}': wider than the {MAX_SIDE}-px limit")
    return checked(kernel, f"PSF '{text}'")


def load_psf_file(path: Union[str, Path]) -> np.ndarray:
    """A PSF image from ``.npy``, TIFF or PNG/JPEG, checked (:func:`checked`) and normalized."""
    path = Path(path)
    if not path.is_file():
        raise PsfError(f"{path}: no such PSF file")
    try:
        if path.suffix.lower() == ".npy":
            array = np.load(path, allow_pickle=False)
        elif path.suffix.lower() in (".tif", ".tiff"):
            import tifffile

            array = tifffile.imread(path)
        else:
            import cv2

            array = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
            if array is None:
                raise ValueError("not an image OpenCV can read")
    except Exception as exc:  # noqa: BLE001 - any decoding failure is one line naming the file
        raise PsfError(f"{path}: cannot read a PSF from it ({type(exc).__name__}: {exc})") from None
    array = np.asarray(array)
    if array.ndim == 3 and array.shape[2] in (3, 4) and path.suffix.lower() not in (".npy", ".tif", ".tiff"):
        planes = array[..., :3].astype(np.float64)
        if not (np.array_equal(planes[..., 0], planes[..., 1]) and np.array_equal(planes[..., 0], planes[..., 2])):
            raise PsfError(f"{path}: a colour PSF image whose channels differ; give one grey PSF")
        array = planes[..., 0]
    return checked(array, str(path))


def checked(kernel: np.ndarray, source: str) -> np.ndarray:
    """``kernel`` as a float64 PSF summing to 1, or a :class:`PsfError` naming ``source`` and why:
    not 2-D (singleton axes are dropped), even sides, a side beyond :data:`MAX_SIDE`, non-finite
    or negative values, or nothing in it."""
    array = np.asarray(kernel)
    if array.dtype.kind not in "uif" or array.dtype == bool:
        raise PsfError(f"{source}: a PSF must hold numbers, got {array.dtype}")
    array = array.astype(np.float64)
    if array.ndim > 2:  # (1, H, W), (H, W, 1): singleton axes dropped, down to two
        kept = [n for n in array.shape if n != 1]
        array = array.reshape(kept if len(kept) >= 2 else ([1] * (2 - len(kept)) + kept))
    if array.ndim != 2:
        what = "a 3-D stack (give its in-focus plane as a 2-D image)" if array.ndim == 3 else f"{array.ndim}-D"
        raise PsfError(f"{source}: the PSF is {what}; a 2-D PSF is needed")
    h, w = array.shape
    if h % 2 == 0 or w % 2 == 0:
        raise PsfError(f"{source}: the PSF is {h}x{w}; its sides must be odd so that its centre pixel is the origin")
    if max(h, w) > MAX_SIDE:
        raise PsfError(f"{source}: the PSF is {h}x{w}, beyond the {MAX_SIDE}x{MAX_SIDE} limit (crop it around its centre)")
    if not np.isfinite(array).all():
        raise PsfError(f"{source}: the PSF holds NaN or infinite values")
    peak = float(array.max())
    if peak <= 0:
        raise PsfError(f"{source}: the PSF is empty (no positive value)")
    if float(array.min()) < -NEGATIVE_TOLERANCE * peak:
        raise PsfError(f"{source}: the PSF has negative values (down to {float(array.min()):.3g}); subtract the "
                       "background so that it is zero, not negative, and clip it at 0")
    array = np.clip(array, 0.0, None)
    return array / array.sum()


def resolve_psf(value: Optional[PsfLike]) -> Optional[np.ndarray]:
    """What a user gave as the PSF -> a checked kernel (None stays None: blind). An array is checked
    as is; a string is a spec when it looks like one (``kind:numbers``), else a file path."""
    if value is None:
        return None
    if isinstance(value, np.ndarray):
        return checked(value, "the PSF array")
    text = str(value)
    if re.fullmatch(r"[a-z]+:[-+0-9.,eE ]*", text.strip()) and not Path(text).exists():
        return parse_psf_spec(text)
    return load_psf_file(text)


def second_moment_sigma(kernel: np.ndarray) -> float:
    """The RMS radius per axis of a PSF, ``sqrt((var_x + var_y) / 2)`` px: a Gaussian's sigma, a
    width for any kernel (reports; tests)."""
    h, w = kernel.shape
    y, x = np.mgrid[: h, : w].astype(np.float64)
    k = kernel / kernel.sum()
    cy, cx = float((k * y).sum()), float((k * x).sum())
    return float(np.sqrt(((k * (y - cy) ** 2).sum() + (k * (x - cx) ** 2).sum()) / 2))


def describe_psf(kernel: np.ndarray) -> str:
    """A short description for notes: size and RMS width."""
    h, w = kernel.shape
    return f"{h}x{w} px, RMS width {second_moment_sigma(kernel):.2f} px"
