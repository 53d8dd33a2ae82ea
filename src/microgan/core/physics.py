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
sample types. No data-consistency solve follows: measured on validation crops of the three training
domains, one with the PSF after the trained network lost PSNR in every cell at every weight tried
(benchmarks/tune_psf_consistency.py): the network's output already agrees with the input.

The constants were chosen on validation crops (docs/paper-notes.md, "The PSF-aware model").
"""
from __future__ import annotations

from typing import Optional

import cv2
import numpy as np

from microgan.core.fourier import planes, solve_regions

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


def network_input(y: np.ndarray, kernel: np.ndarray, sigma: Optional[float] = None) -> np.ndarray:
    """``[y, z, sigma]`` as one (H, W, 2C + 1) float32 array in network units (images in [-1, 1],
    the noise channel ``NOISE_SCALE * sigma``) for an (H, W) or (H, W, C) float image ``y`` in
    [0, 1] units. ``sigma`` None: estimated from ``y``."""
    y = planes(y).astype(np.float32, copy=False)
    sigma = estimate_noise(y) if sigma is None else max(float(sigma), float(NOISE_FLOOR))
    c = y.shape[2]
    out = np.empty(y.shape[:2] + (2 * c + 1,), np.float32)
    out[..., :c] = y
    solve_regions(y, kernel, deconvolution_weight(sigma), out=out[..., c : 2 * c])
    out[..., : 2 * c] *= 2
    out[..., : 2 * c] -= 1
    out[..., 2 * c] = NOISE_SCALE * sigma
    return out
