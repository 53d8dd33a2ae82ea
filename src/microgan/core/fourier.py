"""Quadratic deconvolution solved exactly in the Fourier domain, in regions with halos.

Two least-squares problems, each closed-form per frequency for a known PSF ``k`` and input ``y``
(float images, (H, W) or (H, W, C), solved per channel):

* **Tikhonov deconvolution** (``prior`` None): ``argmin_z |k * z - y|^2 + w |grad z|^2``. The
  gradient penalty leaves the mean (and flat regions) alone, so nothing darkens, and damps the
  frequencies the PSF erased in proportion to how little of them is left. What a PSF-aware model
  is given beside its input (:mod:`microgan.core.physics`).
* **Data consistency** (``prior`` an image ``x``): ``argmin_z |k * z - y|^2 + w |z - x|^2``: the
  image closest to ``x`` that the PSF maps onto ``y`` (blind consistency step; the final step of a
  PSF-aware model).

Large images are solved in square regions of :data:`TILE` px, each with a halo of the image's own
pixels (reflected beyond its edges, OpenCV's BORDER_REFLECT_101 as the degradations use), of which
only the centre is kept: memory stays a few region-sized buffers on a 4096x3072 field, and an image
up to a region is one solve (its halo then is the reflection alone). The layout of regions depends
on the image's size alone, so a result never depends on how the network was tiled.
"""
from __future__ import annotations

from typing import Callable, Optional, Tuple

import cv2
import numpy as np
from scipy import fft as sfft

#: Side of the regions solved at a time (plus halos): bounds the memory on large fields.
TILE = 512
#: Halo around each region in PSF sides, and at least MIN_HALO px: a regularised inverse of a disk
#: reaches far (its transfer function has near-zeros); 96 px keep regions within 0.05 grey levels
#: of one whole-image solve for every kernel of the blind family (tests/infer/test_consistency.py).
PAD_KERNELS = 2
MIN_HALO = 96

#: native pixels -> float32 in [0, 1] units; (float32 values, native like) -> native pixels
Unit = Callable[[np.ndarray], np.ndarray]
Native = Callable[[np.ndarray, np.ndarray], np.ndarray]


def planes(image: np.ndarray) -> np.ndarray:
    """(H, W) -> (H, W, 1); (H, W, C) as is."""
    return image[..., None] if image.ndim == 2 else image


def otf(kernel: np.ndarray, shape: Tuple[int, int]) -> np.ndarray:
    """The kernel's transfer function (rfft2) on a canvas of ``shape``, its centre moved to the
    origin. A kernel larger than the canvas wraps around (periodic), as a convolution on it would."""
    return sfft.rfft2(kernel_canvas(kernel, shape).astype(np.float32))


def kernel_canvas(kernel: np.ndarray, shape: Tuple[int, int]) -> np.ndarray:
    """``kernel`` on a float64 canvas of ``shape`` with its centre at the origin (wrapped around when larger)."""
    canvas = np.zeros(shape, np.float64)
    kh, kw = kernel.shape
    rows = (np.arange(kh) - kh // 2) % shape[0]
    cols = (np.arange(kw) - kw // 2) % shape[1]
    np.add.at(canvas, (rows[:, None], cols[None, :]), kernel)
    return canvas


def gradient_power(shape: Tuple[int, int], full: bool = False) -> np.ndarray:
    """|D|^2 of the forward differences along both axes on a canvas of ``shape``, float64, in rfft2's
    layout (``full``: fft2's)."""
    fy = np.fft.fftfreq(shape[0])[:, None]
    fx = (np.fft.fftfreq if full else np.fft.rfftfreq)(shape[1])[None, :]
    return 4 * np.sin(np.pi * fy) ** 2 + 4 * np.sin(np.pi * fx) ** 2


def solve(y: np.ndarray, kernel: np.ndarray, weight: float, prior: Optional[np.ndarray] = None) -> np.ndarray:
    """One (H, W, C) float32 region, periodic at its edges (callers keep what lies a halo inside):
    Tikhonov deconvolution (``prior`` None) or data consistency towards ``prior``."""
    shape = y.shape[:2]
    k = otf(kernel, shape)
    w = np.float32(weight)
    power = (np.abs(k) ** 2).astype(np.float32)
    denom = power + w * (gradient_power(shape).astype(np.float32) if prior is None else np.float32(1.0))
    if prior is None:
        denom[0, 0] = max(float(power[0, 0]), 1e-12)  # the mean: kept (|D|^2 is 0 there)
    out = np.empty(y.shape, np.float32)
    for c in range(y.shape[2]):
        z = np.conj(k) * sfft.rfft2(y[..., c])
        if prior is not None:
            z += w * sfft.rfft2(prior[..., c])
        out[..., c] = sfft.irfft2(z / denom, s=shape)
    return out


def reflect_index(start: int, stop: int, n: int) -> np.ndarray:
    """Indices ``start..stop-1`` into an axis of length ``n``, reflected at its ends as often as
    needed (OpenCV's BORDER_REFLECT_101, numpy's ``reflect``: the degradations' border)."""
    idx = np.arange(start, stop)
    if n == 1:
        return np.zeros_like(idx)
    period = 2 * (n - 1)
    idx = np.mod(idx, period)
    return np.where(idx >= n, period - idx, idx)


def residual(u: np.ndarray, y: np.ndarray, kernel: np.ndarray, margin: Tuple[int, int] = (0, 0)) -> float:
    """Mean square of ``k * u - y`` (the blur by OpenCV with the degradations' reflect border),
    scored ``margin`` (rows, columns) px inside the edges: how well ``u`` explains ``y`` under ``k``.
    ``u`` float32, ``y`` float, one shape."""
    mr, mc = margin
    inner = (slice(mr, u.shape[0] - mr), slice(mc, u.shape[1] - mc))
    diff = planes(cv2.filter2D(u, -1, kernel.astype(np.float32, copy=False), borderType=cv2.BORDER_REFLECT_101))[inner]
    diff -= planes(y)[inner]
    return float(np.mean(np.square(diff, dtype=np.float64)))


def halo_for(kernel: np.ndarray) -> int:
    """The halo a region needs around it for this kernel."""
    return max(PAD_KERNELS * max(kernel.shape), MIN_HALO)


def solve_regions(y: np.ndarray, kernel: np.ndarray, weight: float, prior: Optional[np.ndarray] = None,
                  to_unit: Optional[Unit] = None, from_unit: Optional[Native] = None,
                  out: Optional[np.ndarray] = None) -> np.ndarray:
    """:func:`solve` over a whole image of any size, in regions of :data:`TILE` px with halos.

    ``y`` (and ``prior``, of the same shape) may be native pixels: ``to_unit`` maps them to float32
    in [0, 1] units (default: as they are), ``from_unit(values, like)`` maps results back to
    ``like``'s sample type (default: float32, not clipped); ``out``: where to write (default: a new
    array shaped like ``y``, float32 unless ``from_unit`` says otherwise)."""
    if out is None:
        out = np.empty(y.shape, np.float32 if from_unit is None else y.dtype)
    h, w = y.shape[:2]
    return solve_block(y, kernel, weight, prior, (0, 0), (h, w), (0, h, 0, w), to_unit, from_unit, out)


def block_window(block: Tuple[int, int, int, int], shape: Tuple[int, int], kernel: np.ndarray) -> Tuple[int, int, int, int]:
    """The rows and columns (r0, r1, c0, c1) of an image of ``shape`` that :func:`solve_block` reads
    to solve ``block``: its regions' halos, reflected at the image's edges, all within it."""
    halo = halo_for(kernel)
    rows = reflect_index(block[0] - halo, block[1] + halo, shape[0])
    cols = reflect_index(block[2] - halo, block[3] + halo, shape[1])
    return int(rows.min()), int(rows.max()) + 1, int(cols.min()), int(cols.max()) + 1


def solve_block(y: np.ndarray, kernel: np.ndarray, weight: float, prior: Optional[np.ndarray],
                origin: Tuple[int, int], shape: Tuple[int, int], block: Tuple[int, int, int, int],
                to_unit: Optional[Unit] = None, from_unit: Optional[Native] = None,
                out: Optional[np.ndarray] = None) -> np.ndarray:
    """The regions of ``block`` (rows r0:r1, columns c0:c1 of an image of ``shape``, on the
    :data:`TILE` grid) solved as :func:`solve_regions` solves them on the whole image, from ``y``
    (and ``prior``) holding only a window of it that starts at ``origin`` and covers
    :func:`block_window`. Returns the block (``out``, or a new array), pixel for pixel what the
    whole-image solve writes there: a slide is solved a block at a time, by any process."""
    b0, b1, d0, d1 = block
    h, w = shape
    if out is None:
        out = np.empty((b1 - b0, d1 - d0) + y.shape[2:], np.float32 if from_unit is None else y.dtype)
    to_unit = to_unit or (lambda a: a.astype(np.float32))
    from_unit = from_unit or (lambda values, like: values)
    halo = halo_for(kernel)
    oy, ox = origin
    for r0 in range(b0, b1, TILE):
        r1 = min(r0 + TILE, h)
        rows = reflect_index(r0 - halo, r1 + halo, h) - oy
        for c0 in range(d0, d1, TILE):
            c1 = min(c0 + TILE, w)
            index = np.ix_(rows, reflect_index(c0 - halo, c1 + halo, w) - ox)
            p = None if prior is None else planes(to_unit(prior[index]))
            z = solve(planes(to_unit(y[index])), kernel, weight, p)[halo : halo + r1 - r0, halo : halo + c1 - c0]
            z = z[..., 0] if y.ndim == 2 else z
            like = y if prior is None else prior
            out[r0 - b0 : r1 - b0, c0 - d0 : c1 - d0] = from_unit(z, like[r0 - oy : r1 - oy, c0 - ox : c1 - ox])
    return out


#: Radii a spatial Tikhonov filter is cut at (the smallest that holds all but FILTER_TAIL of it).
FILTER_RADII = (16, 24, 32, 48, 64, 96, 128)
#: Share of the filter's absolute mass a cut may leave out (measured on the shipped BCCD field: a
#: Gaussian of sigma 3.5 at the 8-bit noise floor cut at 48 px leaves 1.4e-3 out and differs from
#: :func:`solve_regions` by 0.3 grey levels, at 96 px by 1e-5 and 0.001).
FILTER_TAIL = 1e-3


def tikhonov_filter(kernel: np.ndarray, weight: float) -> np.ndarray:
    """The Tikhonov deconvolution (:func:`solve` without a prior) as one spatial filter, float32,
    square with an odd side, summing to 1: a convolution any runtime can run (an exported model
    with its PSF built in), where :func:`solve_regions` needs Fourier transforms. Cut at the
    smallest of :data:`FILTER_RADII` that leaves at most :data:`FILTER_TAIL` of its absolute mass out.
    Raises ValueError when even the largest leaves more (a PSF whose transfer has near-zeros, told
    almost no noise: its inverse reaches too far)."""
    side = max(4 * FILTER_RADII[-1], 4 * max(kernel.shape))
    shape = (side, side)
    k = otf(kernel, shape)
    power = np.abs(k) ** 2
    denom = power + float(weight) * gradient_power(shape).astype(np.float32)
    denom[0, 0] = max(float(power[0, 0]), 1e-12)
    full = np.fft.fftshift(np.fft.irfft2(np.conj(k) / denom, s=shape))
    total = float(np.abs(full).sum())
    centre = side // 2
    for radius in FILTER_RADII:
        cut = full[centre - radius : centre + radius + 1, centre - radius : centre + radius + 1]
        if 1.0 - float(np.abs(cut).sum()) / total <= FILTER_TAIL:
            return (cut / cut.sum()).astype(np.float32)
    left = 1.0 - float(np.abs(cut).sum()) / total
    raise ValueError(f"its deconvolution reaches beyond {FILTER_RADII[-1]} px ({left:.1%} of it lies further out)")
