"""Full-reference image metrics: PSNR and SSIM (scikit-image), VIF and MS-SSIM (torchmetrics), and
a spectral sharpness ratio.

PSNR and SSIM reward the blur-free average of the plausible answers, so they cannot see what an
adversarial loss changes (sharper texture at a small cost in PSNR). Three more measures need no
downloaded weights: visual information fidelity (Sheikh & Bovik 2006: the share of the reference's
information, in a natural-scene model, that the output keeps), multi-scale SSIM (Wang et al. 2003),
and ``hf_ratio``: the output's power in the upper half of the frequency band over the reference's
(1.0 = as sharp as the truth, < 1 blurred, > 1 over-sharpened or noisy).

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
from typing import TYPE_CHECKING, Optional

import numpy as np
from skimage.metrics import peak_signal_noise_ratio, structural_similarity

from microgan.registry import METRICS

if TYPE_CHECKING:
    import torch

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


#: Smallest side torchmetrics' VIF accepts (its 4 Gaussian scales need 41 px).
VIF_MIN_SIDE = 41
#: MS-SSIM's standard window and per-scale weights (Wang et al. 2003).
MS_SSIM_KERNEL = 11
MS_SSIM_BETAS = (0.0448, 0.2856, 0.3001, 0.2363, 0.1333)
#: The band ``hf_ratio`` compares: radial frequency in [0.25, 0.5] cycles per pixel (Nyquist is 0.5).
HF_BAND = (0.25, 0.5)
HF_MIN_SIDE = 8


def _to_tensor255(image: np.ndarray) -> "torch.Tensor":
    """(1, C, H, W) float32 on the 8-bit scale, the scale VIF's noise variance (2.0) is defined on
    (float32: torch's float64 convolutions are 3-16x slower on a CPU, and agree to 1e-6 here)."""
    import torch

    x = image.astype(np.float32) * np.float32(255.0 / data_range(image.dtype))
    x = x[..., None] if x.ndim == 2 else x
    return torch.from_numpy(np.ascontiguousarray(x.transpose(2, 0, 1)))[None]


@METRICS.register("vif")
def vif(restored: np.ndarray, reference: np.ndarray) -> float:
    """Pixel-domain VIF (torchmetrics), channels averaged; NaN for crops under 41 px on a side,
    which its four scales do not fit (left out of means and counted, like SSIM's small crops)."""
    from torchmetrics.functional.image import visual_information_fidelity

    _check_pair(restored, reference)
    if min(reference.shape[:2]) < VIF_MIN_SIDE:
        return math.nan
    return float(visual_information_fidelity(_to_tensor255(restored), _to_tensor255(reference)))


def ms_ssim_scales(height: int, width: int) -> int:
    """How many of MS-SSIM's five scales fit a crop by torchmetrics' own rule for ``k`` scales
    (``side // max(1, k - 1) ** 2 > kernel - 1``, which asks a little more than the 11 px window
    fitting the coarsest scale); 0 when not even one does."""
    side = min(height, width)
    fits = [k for k in range(1, len(MS_SSIM_BETAS) + 1) if side // max(1, k - 1) ** 2 > MS_SSIM_KERNEL - 1]
    return max(fits, default=0)


@METRICS.register("ms_ssim")
def ms_ssim(restored: np.ndarray, reference: np.ndarray) -> float:
    """MS-SSIM with a Gaussian 11 px window; small crops use the first scales that fit, their weights
    renormalized (a 55 px cell gets 3 of the 5 scales); NaN where not even one scale fits.
    torchmetrics' size check is not its only limit (a thin crop can still fail inside, at a pooled
    scale), so a failure there retries with one scale fewer."""
    from torchmetrics.functional.image import multiscale_structural_similarity_index_measure

    _check_pair(restored, reference)
    a, b = _to_tensor255(restored), _to_tensor255(reference)
    for scales in range(ms_ssim_scales(*reference.shape[:2]), 0, -1):
        betas = np.array(MS_SSIM_BETAS[:scales])
        try:
            value = multiscale_structural_similarity_index_measure(
                a, b, data_range=255.0, kernel_size=MS_SSIM_KERNEL,
                betas=tuple(float(x) for x in betas / betas.sum()), normalize="relu",
            )
        except (RuntimeError, ValueError):
            continue
        return float(value)
    return math.nan


def _band_power(gray: np.ndarray) -> float:
    """Power of a mean-removed, Hann-windowed image in :data:`HF_BAND` (the window stops the crop's
    border from counting as an edge)."""
    h, w = gray.shape
    window = np.outer(np.hanning(h), np.hanning(w))
    spectrum = np.abs(np.fft.fft2((gray - gray.mean()) * window)) ** 2
    radius = np.hypot(*np.meshgrid(np.fft.fftfreq(h), np.fft.fftfreq(w), indexing="ij"))
    band = (radius >= HF_BAND[0]) & (radius <= HF_BAND[1])
    return float(spectrum[band].sum())


@METRICS.register("hf_ratio")
def hf_ratio(restored: np.ndarray, reference: np.ndarray) -> float:
    """The output's high-frequency power over the reference's, on luma; NaN under 8 px or for a
    reference without any high frequencies (a flat crop)."""
    _check_pair(restored, reference)
    if min(reference.shape[:2]) < HF_MIN_SIDE:
        return math.nan

    def luma(image: np.ndarray) -> np.ndarray:
        x = image.astype(np.float64) / data_range(image.dtype)
        return x @ np.array([0.299, 0.587, 0.114]) if x.ndim == 3 else x

    truth = _band_power(luma(reference))
    return _band_power(luma(restored)) / truth if truth > 1e-12 else math.nan
