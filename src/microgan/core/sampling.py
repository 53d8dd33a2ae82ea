"""The camera's sampling: what a sensor with ``scale`` times coarser pixels records.

A pixel integrates the light that falls on it, so a camera whose pixels are ``scale`` times wider
records the **area mean** of each ``scale x scale`` block of the finer image: ``S_s``. It is the
sampling of the forward model ``y = S_s(k * x) + n`` (upscaling, issue 34): the degradations apply it
(``down:S``), the Fourier solve inverts it exactly together with the PSF
(:func:`microgan.core.fourier.solve_sampled`), and the classical baselines need its blur on the fine
grid (:func:`pixel_kernel`).

Geometry, the one convention everything here follows: coarse pixel ``(i, j)`` is the mean of the fine
block ``[s i, s i + s) x [s j, s j + s)``, so its centre lies at fine coordinate ``s i + (s - 1) / 2``,
which is also where OpenCV's ``resize`` puts it (``x_fine = (x_coarse + 0.5) s - 0.5``): bicubic or
Lanczos upsampling of a coarse image lands on the fine grid without a shift. A fine image whose sides
are not multiples of ``s`` has no whole last block: :func:`crop_to_scale` drops the partial rows and
columns at the bottom and right, and :func:`area_mean` refuses such an image rather than guess.
"""
from __future__ import annotations

import cv2
import numpy as np

from microgan.errors import ConfigError

#: The factors a forward model and a model may use: integer, as a sensor's pixel pitch is.
SCALES = (1, 2, 3, 4, 8)
#: OpenCV's interpolations that enlarge a coarse image onto the fine grid.
UPSAMPLERS = {"bicubic": cv2.INTER_CUBIC, "lanczos": cv2.INTER_LANCZOS4}


def check_scale(scale: object) -> int:
    """``scale`` as an int, or a :class:`ConfigError` naming the factors allowed."""
    if isinstance(scale, bool) or not isinstance(scale, (int, float, np.integer, np.floating)) or float(scale) not in SCALES:
        raise ConfigError(f"scale must be one of {', '.join(map(str, SCALES))}, got {scale!r}")
    return int(scale)


def crop_to_scale(image: np.ndarray, scale: int) -> np.ndarray:
    """The largest top-left part of ``image`` whose sides are multiples of ``scale`` (a view)."""
    h, w = image.shape[:2]
    return image[: h - h % scale, : w - w % scale]


def area_mean(image: np.ndarray, scale: int) -> np.ndarray:
    """``S_s``: the mean of every ``scale x scale`` block of an (H, W) or (H, W, C) image whose sides
    are multiples of ``scale`` (at least one block), in float32; ``scale`` 1 returns a float32 copy."""
    scale = check_scale(scale)
    h, w = image.shape[:2]
    if h < scale or w < scale or h % scale or w % scale:
        raise ConfigError(
            f"sampling by {scale} needs sides that are positive multiples of {scale}, got {h}x{w} "
            f"(microgan.core.sampling.crop_to_scale drops the partial rows and columns)"
        )
    x = image.astype(np.float32, copy=False)
    blocks = x.reshape((h // scale, scale, w // scale, scale) + x.shape[2:])
    return blocks.mean(axis=(1, 3), dtype=np.float64).astype(np.float32)


def pixel_kernel(scale: int) -> np.ndarray:
    """The blur of a coarse pixel seen on the fine grid, centred on a fine pixel: the ``scale``-wide
    box, odd-sized (an even box centred between pixels spread over ``scale + 1`` taps, the end taps
    half weight), normalised to sum 1. ``scale`` 1: a single tap. What a deconvolution after
    upsampling must undo beside the PSF."""
    scale = check_scale(scale)
    if scale == 1:
        return np.ones((1, 1))
    if scale % 2:
        taps = np.ones(scale)
    else:
        taps = np.ones(scale + 1)
        taps[[0, -1]] = 0.5
    taps /= taps.sum()
    return np.outer(taps, taps)


def upsample(image: np.ndarray, scale: int, method: str = "bicubic") -> np.ndarray:
    """A float (H, W[, C]) image enlarged ``scale`` times by OpenCV's ``method`` interpolation (pixel
    centres where this module puts them), not clipped: the coarse image as a viewer shows it on the
    fine grid."""
    if method not in UPSAMPLERS:
        raise ConfigError(f"upsample must be one of {', '.join(UPSAMPLERS)}, got {method!r}")
    h, w = image.shape[:2]
    out = cv2.resize(image, (w * scale, h * scale), interpolation=UPSAMPLERS[method])
    return out.reshape((h * scale, w * scale) + image.shape[2:])
