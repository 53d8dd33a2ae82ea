"""PSNR and SSIM on the images' own integer scale, as scikit-image computes them.

The paper reports mean PSNR (dB) and SSIM over the test crops (Table 3) without saying how they are
computed. We use scikit-image on the original 8-bit (or 16-bit) values, with ``data_range`` taken from
the dtype and RGB handled with ``channel_axis``, so anyone can recompute our numbers from the PNGs.

Two cases the library leaves to the caller, decided here once for the whole project:

- Identical images give an infinite PSNR. A mean over crops with one ``inf`` is ``inf`` and JSON cannot
  hold it, so each crop's PSNR is capped at :data:`PSNR_CAP_DB` (100 dB: an 8-bit pair differing in one
  value of one pixel of a 1000x1000 crop already scores 108 dB, so 100 dB means "equal up to rounding"
  for any crop size we meet). The report counts the capped crops.
- SSIM's default 7x7 window does not fit crops smaller than 7 px on a side (BCCD platelets at tight
  boxes, segmentation specks). We shrink the window to the largest odd size that fits (at least 3).
  Below 3 px there is no window at all: SSIM is NaN for that crop, excluded from the mean and counted
  in the report, rather than silently replaced by a number that means nothing.
"""
from __future__ import annotations

import math
from typing import Optional

import numpy as np
from skimage.metrics import peak_signal_noise_ratio, structural_similarity

from microgan.registry import METRICS

PSNR_CAP_DB = 100.0
SSIM_DEFAULT_WIN = 7
SSIM_MIN_WIN = 3


def data_range(dtype: np.dtype) -> float:
    """The value range of an image's storage type: 255 for uint8, 65535 for uint16, 1 for floats in [0, 1]."""
    dtype = np.dtype(dtype)
    if dtype == np.uint8:
        return 255.0
    if dtype == np.uint16:
        return 65535.0
    if np.issubdtype(dtype, np.floating):
        return 1.0
    raise ValueError(f"unsupported image dtype {dtype} (expected uint8, uint16 or float in [0, 1])")


def _check_pair(restored: np.ndarray, reference: np.ndarray) -> None:
    if restored.shape != reference.shape:
        raise ValueError(f"restored image {restored.shape} and reference {reference.shape} differ in shape")
    if restored.dtype != reference.dtype:
        raise ValueError(f"restored image ({restored.dtype}) and reference ({reference.dtype}) differ in dtype")
    if restored.ndim not in (2, 3):
        raise ValueError(f"expected an (H, W) or (H, W, C) image, got shape {restored.shape}")


def ssim_win_size(height: int, width: int) -> Optional[int]:
    """SSIM window for a crop: 7, or the largest odd size that fits (>= 3); None when none fits."""
    side = min(height, width)
    if side >= SSIM_DEFAULT_WIN:
        return SSIM_DEFAULT_WIN
    win = side if side % 2 == 1 else side - 1
    return win if win >= SSIM_MIN_WIN else None


@METRICS.register("psnr")
def psnr(restored: np.ndarray, reference: np.ndarray, cap_db: float = PSNR_CAP_DB) -> float:
    """PSNR in dB over all pixels and channels, capped at ``cap_db`` (identical images would be inf)."""
    _check_pair(restored, reference)
    if np.array_equal(restored, reference):
        return cap_db
    value = peak_signal_noise_ratio(reference, restored, data_range=data_range(reference.dtype))
    return float(min(value, cap_db))


@METRICS.register("ssim")
def ssim(restored: np.ndarray, reference: np.ndarray) -> float:
    """Mean SSIM (scikit-image defaults: uniform window, K1=0.01, K2=0.03), channels averaged for RGB.

    Returns NaN for crops under 3 px on a side, where no SSIM window fits (see module docstring)."""
    _check_pair(restored, reference)
    win = ssim_win_size(*reference.shape[:2])
    if win is None:
        return math.nan
    channel_axis = -1 if reference.ndim == 3 else None
    value = structural_similarity(
        reference, restored, win_size=win, data_range=data_range(reference.dtype), channel_axis=channel_axis
    )
    return float(value)
