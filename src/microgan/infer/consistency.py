"""Data consistency: check a blind restoration against the image it came from, and correct it.

A blind model is never told the blur, so on a clean image it sharpens less than deconvolution
given the exact kernel (docs/results.md, the robustness grid). But its output ``x`` and the input
``y`` together say what the blur was: the kernel ``k`` that best maps ``x`` back onto ``y``. This
module

1. **fits the PSF** from a family (isotropic Gaussians of width 0.4-5 px, uniform defocus disks of
   radius 1-6 px: :data:`WIDTHS`) by least squares of ``k * x`` against ``y``, on at most a
   :data:`FIT_WINDOW` square of the image's centre (the blur is one for the whole field);
2. reads the **residual** ``r = y - k * x``: its mean square ``e`` is what the model's output
   leaves unexplained, camera noise first;
3. returns the image closest to the model's output that also agrees with the input,
   ``argmin_z |k * z - y|^2 + lam |z - x|^2``, solved per channel in the Fourier domain on a
   reflect-padded canvas (the degradations' border, so the crop's edges do not ring).

The weight ``lam = STRENGTH * (e / RESIDUAL_FLOOR) ** POWER`` is the whole policy. On a clean image the
residual sits at the 8-bit quantisation floor and ``lam`` is small: the correction restores what
the model under-sharpened (+0.3 to +0.7 dB on the clean grid cells). With camera noise the residual
grows with the noise variance and ``lam`` with its 1.5th power, so a noisy image keeps the model's
output, which already beats deconvolution there; a blur outside the family (real optics) also
leaves a larger residual and so backs off. ``STRENGTH`` and ``POWER`` were chosen on validation
crops of BCCD and Chula (48 each, all eight grid degradations): the largest gain on clean cells such
that no cell, noisy or clean, lost PSNR (docs/paper-notes.md, "Data consistency").

Used by :class:`microgan.infer.Enhancer` (``consistency``) after the network, on the whole image in
the image's own value range; models trained blind (a ``data.degradation`` pipeline) use it by
default. An exported network (ONNX, TorchScript, bioimage.io) is the network alone.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache
from typing import Sequence, Tuple

import cv2
import numpy as np
from scipy import fft as sfft

from microgan.data.degrade.blur import disk_kernel, gaussian_kernel

#: Weight of the model's output at the quantisation floor, and how fast it grows with the residual.
STRENGTH = 0.03
POWER = 1.5
#: Mean square residual of a clean 8-bit image (in [0, 1] units; measured: 1.9-2.1e-6 on BCCD's
#: clean cells, quantisation alone is 1.3e-6).
RESIDUAL_FLOOR = 2e-6
#: Side of the centre square the PSF is fitted on (one blur per field; bounds the cost on big images).
FIT_WINDOW = 256
#: Reflect padding around each channel before the Fourier solve, in PSF widths.
PAD_KERNELS = 2


#: The candidate PSFs' widths: Gaussian sigmas (the training blurs' and the paper's 2.6) and
#: defocus-disk radii, px. The fit searches every :data:`COARSE`-th, then every one around the best.
WIDTHS = {"gaussian": np.round(np.arange(0.4, 5.001, 0.05), 2), "disk": np.round(np.arange(1.0, 6.001, 0.1), 2)}
COARSE = 5


@lru_cache(maxsize=None)
def kernel(kind: str, width: float) -> np.ndarray:
    """The normalized float32 PSF of a family member."""
    k = gaussian_kernel(width, 1.0, 0.0) if kind == "gaussian" else disk_kernel(width)
    return k.astype(np.float32)


@dataclass(frozen=True)
class PsfFit:
    """The fitted blur: ``kind`` (gaussian or disk), its ``width`` (sigma or radius, px), the kernel,
    and the mean square residual ``residual`` of ``kernel * restored`` against the input."""

    kind: str
    width: float
    kernel: np.ndarray = field(repr=False, compare=False)  # a function of kind and width
    residual: float = 0.0

    @property
    def noise(self) -> float:
        """The residual's RMS in [0, 1] units: an upper bound of the camera noise's sigma."""
        return float(np.sqrt(self.residual))

    @property
    def weight(self) -> float:
        """``lam``: how strongly the correction holds on to the model's output."""
        return STRENGTH * (max(self.residual, 1e-12) / RESIDUAL_FLOOR) ** POWER


def _planes(image: np.ndarray) -> np.ndarray:
    return image[..., None] if image.ndim == 2 else image


def _centre(image: np.ndarray, side: int) -> np.ndarray:
    h, w = image.shape[:2]
    top, left = max(0, (h - side) // 2), max(0, (w - side) // 2)
    return image[top : top + side, left : left + side]


def _blur(image: np.ndarray, kernel: np.ndarray) -> np.ndarray:
    return _planes(cv2.filter2D(image, -1, kernel, borderType=cv2.BORDER_REFLECT_101))


def fit_psf(restored: np.ndarray, observed: np.ndarray) -> PsfFit:
    """The PSF of the family (:data:`WIDTHS`) that best maps ``restored`` onto ``observed`` (float
    arrays of one shape, (H, W) or (H, W, C), values in [0, 1]). Coarse to fine: every
    :data:`COARSE`-th width of both kinds, then every width around the best (the error is smooth in
    the width), 41 blurs instead of 144, the same choice on the grid's crops."""
    x = np.ascontiguousarray(_centre(_planes(restored), FIT_WINDOW), dtype=np.float32)
    y = _centre(_planes(observed), FIT_WINDOW).astype(np.float32)

    def error(kind: str, i: int) -> float:
        diff = _blur(x, kernel(kind, float(WIDTHS[kind][i])))
        diff -= y
        return float(np.mean(np.square(diff, dtype=np.float64)))

    scores = {(kind, i): error(kind, i) for kind, widths in WIDTHS.items() for i in range(0, len(widths), COARSE)}
    kind, centre = min(scores, key=scores.get)
    for i in range(max(0, centre - COARSE + 1), min(len(WIDTHS[kind]), centre + COARSE)):
        if (kind, i) not in scores:
            scores[(kind, i)] = error(kind, i)
    kind, i = min(((k, j) for k, j in scores if k == kind), key=scores.get)
    width = float(WIDTHS[kind][i])
    return PsfFit(kind, width, kernel(kind, width), scores[(kind, i)])


def _otf(kernel: np.ndarray, shape: Tuple[int, int]) -> np.ndarray:
    """The kernel's transfer function on a canvas of ``shape`` (centre moved to the origin)."""
    canvas = np.zeros(shape, np.float32)
    kh, kw = kernel.shape
    canvas[:kh, :kw] = kernel
    canvas = np.roll(canvas, (-(kh // 2), -(kw // 2)), axis=(0, 1))
    return sfft.rfft2(canvas)


def correct(restored: np.ndarray, observed: np.ndarray, fit: PsfFit) -> np.ndarray:
    """``argmin_z |k * z - observed|^2 + lam |z - restored|^2`` per channel (float32, [0, 1] units,
    the shape of ``restored``; not clipped)."""
    x, y = _planes(restored).astype(np.float32), _planes(observed).astype(np.float32)
    h, w = x.shape[:2]
    pad = PAD_KERNELS * fit.kernel.shape[0]  # numpy reflects repeatedly where the image is smaller
    shape = (h + 2 * pad, w + 2 * pad)
    k = _otf(fit.kernel, shape)
    lam = np.float32(fit.weight)
    denom = (np.abs(k) ** 2 + lam).astype(np.float32)
    out = np.empty_like(x)
    for c in range(x.shape[2]):
        xp = np.pad(x[..., c], pad, mode="reflect")
        yp = np.pad(y[..., c], pad, mode="reflect")
        z = (np.conj(k) * sfft.rfft2(yp) + lam * sfft.rfft2(xp)) / denom
        out[..., c] = sfft.irfft2(z, s=shape)[pad : pad + h, pad : pad + w]
    return out[..., 0] if restored.ndim == 2 else out


def refine(restored: np.ndarray, observed: np.ndarray) -> Tuple[np.ndarray, PsfFit]:
    """Fit the PSF and correct ``restored`` against ``observed`` (the network's input; both float,
    one shape, normalized so that the sample type's range is [0, 1]). Returns the corrected image
    (float32, not clipped: the caller's denormalization clips to the sample type) and the fit."""
    fit = fit_psf(restored, observed)
    return correct(restored, observed, fit), fit


def describe(fits: Sequence[PsfFit]) -> str:
    """One line for a user: the blur and noise their images look like they had (medians over the
    images; the residual RMS bounds the camera noise from above: it also holds what the network and
    the family leave unexplained)."""
    if not fits:
        return ""
    mid = len(fits) // 2
    kinds = sorted({f.kind for f in fits}, key=lambda k: -sum(f.kind == k for f in fits))
    widths = sorted(f.width for f in fits if f.kind == kinds[0])
    noise = sorted(f.noise for f in fits)
    name = "Gaussian of sigma" if kinds[0] == "gaussian" else "defocus disk of radius"
    spread = f", {widths[0]:.2f}-{widths[-1]:.2f}" if len(widths) > 1 else ""
    return (f"data consistency: blur fitted as a {name} {widths[len(widths) // 2]:.2f} px (median of "
            f"{len(widths)} of {len(fits)} image{'s' if len(fits) > 1 else ''}{spread}); residual "
            f"{noise[mid] * 255:.2f} grey levels RMS of 255 (camera noise is at most this)")
