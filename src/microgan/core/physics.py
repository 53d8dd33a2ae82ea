"""What a PSF-aware model is given: the physics half of it.

A model told the PSF ``k`` does not learn to deblur: the deblurring is a known linear problem. It is
given, beside the input ``y`` (float, [0, 1] units), what the physics alone makes of it:

1. the camera noise ``sigma``, read off the input (:func:`estimate_noise`: the median absolute
   response of Immerkaer's noise mask, which cancels smooth image structure, so a blurred image's
   response is nearly all noise; floored at the 8-bit quantisation's RMS, :data:`NOISE_FLOOR`);
2. ``z``, the Tikhonov deconvolution of ``y`` with ``k`` at a weight that follows the noise,
   ``w = REGULARIZATION * sigma^2`` (:mod:`microgan.core.fourier`): sharp where the PSF kept
   signal above the noise, with the ringing and amplified noise a network knows how to remove.

The network's input is ``[y, z, sigma]`` (:func:`network_input`; its output is a correction of ``z``)
and what it learns is a prior of what a sharp image looks like, which, unlike a blur, is shared by
sample types. Its output ``x`` then goes through one data-consistency solve with the PSF,
``argmin |k * u - y|^2 + lam |u - x|^2``, with ``lam`` chosen per image by the **discrepancy
principle** (:func:`discrepancy_weight`): where ``k * x`` already explains the input to within its
noise the output is kept (a fixed small ``lam`` lost up to 9 dB on the training domains' val crops
by inverse-filtering their quantisation), and where it does not (a sample type whose detail the
network's prior misses) ``lam`` is lowered until the residual is the noise, and no further: the
input decides whatever the PSF let through above its noise.

Upscaling (``scale`` > 1, issue 34): the input is ``scale`` times coarser than the output, ``y = S(k * x) + n``
(:mod:`microgan.core.sampling`). Everything above happens on the fine grid: the image channels are
the input enlarged by bicubic interpolation, ``z`` solves the Tikhonov problem with the sampling
(:mod:`microgan.core.fourier_sampled`), the noise is read off the coarse input (where the camera
added it), and the data-consistency solve and its weight use the sampled forward model. The network
is the same; only its input's physics changed.

The constants were chosen on validation crops (docs/paper-notes.md, "The PSF-aware model").
"""
from __future__ import annotations

from typing import Optional

import cv2
import numpy as np

from microgan.core.contract import to_network
from microgan.core.fourier import planes, residual, solve_regions
from microgan.core.fourier_sampled import sampled_residual, solve_sampled_regions
from microgan.core.sampling import upsample

#: RMS of the 8-bit quantisation (1/255/sqrt(12)): no image the models train on is cleaner, and a
#: smaller estimate (16-bit or float data) would only make the deconvolution ring more.
NOISE_FLOOR = 1.0 / 255.0 / np.sqrt(12.0)
#: Tikhonov weight per unit noise variance. The PSNR-best weight on BCCD val crops is 1000-10,000
#: sigma^2 (0.003-0.01 clean, 0.3 at 1 % noise, 1 at 3 %, 3 at 5 %: benchmarks/tikhonov_weight.py);
#: the network gets the low end, more detail and more noise, which it removes better than the
#: gradient penalty does.
REGULARIZATION = 1000.0
#: The noise channel's value is sigma times this (5 % noise -> 1).
NOISE_SCALE = 20.0
#: Immerkaer's mask (second differences along both axes); white noise of sigma gives a response of
#: standard deviation 6 sigma, so the median absolute response / (0.6745 * 6) is sigma.
_MASK = np.array([[1, -2, 1], [-2, 4, -2], [1, -2, 1]], np.float32)


def estimate_noise(image: np.ndarray) -> float:
    """The camera noise's standard deviation in ``image`` (float, [0, 1] units; mean over channels),
    at least :data:`NOISE_FLOOR`. Images of 3x3 or less have no interior to read: the floor."""
    x = planes(image).astype(np.float32, copy=False)
    if x.shape[0] < 4 or x.shape[1] < 4:
        return float(NOISE_FLOOR)
    sigmas = []
    for c in range(x.shape[2]):
        response = cv2.filter2D(np.ascontiguousarray(x[..., c]), -1, _MASK, borderType=cv2.BORDER_REFLECT_101)[1:-1, 1:-1]
        sigmas.append(float(np.median(np.abs(response))) / (0.6745 * 6.0))
    return max(float(np.mean(sigmas)), float(NOISE_FLOOR))


def deconvolution_weight(sigma: float) -> float:
    """The Tikhonov weight of the deconvolution a PSF-aware model is given."""
    return REGULARIZATION * max(sigma, NOISE_FLOOR) ** 2


def input_channels(image_channels: int) -> int:
    """Channels of a PSF-aware network's input: the image, its deconvolution, the noise level."""
    return 2 * image_channels + 1


def deconvolution(y: np.ndarray, kernel: np.ndarray, sigma: float, to_unit=None,
                  out: Optional[np.ndarray] = None, scale: int = 1) -> np.ndarray:
    """The deconvolution channels of the network input, (H, W, C) float32 in network units ([-1, 1]),
    of an (H, W) or (H, W, C) image: float in [0, 1] units, or native pixels with ``to_unit`` mapping
    them there region by region (no image-sized float copy of the input is made). ``scale`` > 1: the
    input is that many times coarser and the result lies on the fine grid (one float copy of the input)."""
    weight = deconvolution_weight(sigma)
    if scale > 1:
        unit = planes(y if to_unit is None else to_unit(y)).astype(np.float32, copy=False)
        fine = to_network(solve_sampled_regions(unit, kernel, weight, scale))
        if out is None:
            return fine
        out[...] = fine
        return out
    if out is None:
        out = np.empty(y.shape[:2] + (1 if y.ndim == 2 else y.shape[2],), np.float32)

    def network_units(values: np.ndarray, _like: np.ndarray) -> np.ndarray:
        return to_network(planes(values))

    return solve_regions(y, kernel, weight, to_unit=to_unit, from_unit=network_units, out=out)


def enlarged(y: np.ndarray, scale: int) -> np.ndarray:
    """The image channels of the network input on the fine grid: ``y`` itself, or enlarged ``scale``
    times by bicubic interpolation and clipped to the range of ``y``'s values' unit ([0, 1])."""
    if scale == 1:
        return y
    return np.clip(planes(upsample(y, scale)), 0.0, 1.0)


def network_input(y: np.ndarray, kernel: np.ndarray, sigma: Optional[float] = None, scale: int = 1) -> np.ndarray:
    """``[y, z, sigma]`` as one (H s, W s, 2C + 1) float32 array in network units (images in [-1, 1],
    the noise channel ``NOISE_SCALE * sigma``) for an (H, W) or (H, W, C) float image ``y`` in
    [0, 1] units, ``scale`` times coarser than the output (1: the same grid). ``sigma`` None:
    estimated from ``y``. (Inference builds the same channels tile by tile from the image and
    :func:`deconvolution`.)"""
    y = planes(y).astype(np.float32, copy=False)
    sigma = estimate_noise(y) if sigma is None else max(float(sigma), float(NOISE_FLOOR))
    c = y.shape[2]
    out = np.empty((y.shape[0] * scale, y.shape[1] * scale, 2 * c + 1), np.float32)
    out[..., :c] = to_network(enlarged(y, scale))
    deconvolution(y, kernel, sigma, out=out[..., c : 2 * c], scale=scale)
    out[..., 2 * c] = NOISE_SCALE * sigma
    return out


#: The discrepancy principle's target: the residual ``|k * u - y|^2`` is lowered to this many times the
#: noise variance, and ``lam`` never below LAM_MIN x max(sigma / NOISE_FLOOR, 1)^2 (a guard against
#: inverse filtering where the PSF's transfer has zeros, or where the PSF was estimated wrongly).
DISCREPANCY = 1.0
LAM_MIN = 1e-3
#: ``lam`` is searched between LAM_MIN's value and this, by bisection in its logarithm.
LAM_MAX = 1e3
BISECTIONS = 14


def consistent(y: np.ndarray, kernel: np.ndarray, lam: float, prior: np.ndarray, scale: int = 1) -> np.ndarray:
    """The data-consistency solve ``argmin |S(k * u) - y|^2 + lam |u - prior|^2`` on a whole float
    image (``S`` the sampling by ``scale``; 1: none), float32 on ``prior``'s grid."""
    if scale == 1:
        return solve_regions(y, kernel, lam, prior=prior)
    return solve_sampled_regions(y, kernel, lam, scale, prior=prior)


def explained(u: np.ndarray, y: np.ndarray, kernel: np.ndarray, margin=(0, 0), scale: int = 1) -> float:
    """Mean square of ``S(k * u) - y`` scored ``margin`` coarse px inside the edges."""
    return residual(u, y, kernel, margin) if scale == 1 else sampled_residual(u, y, kernel, scale, margin)


def discrepancy_weight(x: np.ndarray, y: np.ndarray, kernel: np.ndarray, sigma: float,
                       margin=(0, 0), scale: int = 1) -> Optional[float]:
    """The data-consistency weight for a restoration ``x`` of the input ``y`` (float, [0, 1] units;
    ``x`` ``scale`` times larger than ``y``, 1: one shape; a window of a large image with ``margin``
    px of ``y``'s real context, scored inside): None when ``S(k * x)`` already explains ``y`` to within
    :data:`DISCREPANCY` times the noise variance (keep ``x``), else the largest ``lam`` whose solve
    brings the residual down to it, at least the floor ``LAM_MIN max(sigma / NOISE_FLOOR, 1)^2``."""
    x = planes(x).astype(np.float32, copy=False)
    y = planes(y).astype(np.float32, copy=False)
    sigma = max(float(sigma), float(NOISE_FLOOR))
    target = DISCREPANCY * sigma**2

    def left(lam: float) -> float:
        return explained(consistent(y, kernel, lam, x, scale), y, kernel, margin, scale)

    if explained(x, y, kernel, margin, scale) <= target:
        return None
    floor = LAM_MIN * max(sigma / NOISE_FLOOR, 1.0) ** 2
    low, high = np.log10(floor), np.log10(LAM_MAX)
    if left(floor) > target:
        return floor  # even the floor leaves more than the noise: go no further
    for _ in range(BISECTIONS):  # the residual grows with lam: find where it meets the target
        mid = (low + high) / 2
        if left(10**mid) > target:
            high = mid
        else:
            low = mid
    return float(10**low)
