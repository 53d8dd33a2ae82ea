"""Deconvolution with the camera's sampling, solved exactly in the Fourier domain: the data term of upscaling.

The forward model of upscaling is ``y = S_s(k * x) + n`` (:mod:`microgan.core.sampling`): the PSF
``k`` on the fine grid, then the area mean of every ``s x s`` block. Its two least-squares problems,
as :mod:`microgan.core.fourier` solves them without the sampling, give a fine image ``x`` ``s`` times
larger than the coarse input ``y``:

* **Tikhonov** (``prior`` None): ``argmin_x |S(k * x) - y|^2 + w |grad x|^2``;
* **data consistency** (``prior`` a fine image ``p``): ``argmin_x |S(k * x) - y|^2 + w |x - p|^2``.

Both are closed-form per group of frequencies (Zhao et al., "Fast single image super-resolution
using a new analytical solution for l2-l2 problems", IEEE TIP 2016): on a periodic canvas the area
mean is a convolution with the ``s``-wide box then a decimation, and decimation folds the ``s^2``
fine frequencies that alias onto one coarse frequency together, so the normal equations are a
diagonal plus one rank-one term per group, inverted by the Woodbury identity:
``x = M b - M conj(K) T[(1 + L)^-1 F(K M b)]`` with ``K`` the transfer of PSF and box, ``M`` the
regulariser's inverse, ``b`` the right-hand side, ``F`` the fold (mean over the aliases), ``T`` its
transpose (tiling) and ``L = F(|K|^2 M)``. The gradient penalty leaves the mean to the data (a
negligible ``1e-9`` keeps its inverse finite).

Large images are solved in coarse regions of ``TILE / s`` px with halos, as in
:func:`microgan.core.fourier.solve_block`.
"""
from __future__ import annotations

from typing import Optional, Tuple

import cv2
import numpy as np
from scipy import fft as sfft

from microgan.core.fourier import FILTER_RADII, FILTER_TAIL, TILE, gradient_power, halo_for, kernel_canvas, planes, reflect_index
from microgan.core.sampling import area_mean, check_scale

#: The gradient penalty's weight on the mean, relative to ``w``: the data alone set the mean.
_MEAN_WEIGHT = 1e-9


def sampled_transfer(kernel: np.ndarray, shape: Tuple[int, int], scale: int) -> np.ndarray:
    """``K``: the transfer function (complex fft2) of the PSF followed by the ``scale``-wide box on a fine
    canvas of ``shape``, aligned so that decimating at multiples of ``scale`` gives the block means
    ``[s i, s i + s)`` of :func:`microgan.core.sampling.area_mean` (the PSF's centre at the origin)."""
    box = np.zeros(shape, np.float64)
    offsets = (-np.arange(scale)) % shape[0], (-np.arange(scale)) % shape[1]
    box[np.ix_(*offsets)] = 1.0 / scale**2  # (box * x)[n] = mean of x[n .. n + s - 1]
    return sfft.fft2(kernel_canvas(kernel, shape)) * sfft.fft2(box)


def _fold(values: np.ndarray, scale: int) -> np.ndarray:
    """The mean over the ``scale^2`` fine frequencies aliasing onto each coarse one (fine index ``a h + g``)."""
    h, w = values.shape[0] // scale, values.shape[1] // scale
    return values.reshape(scale, h, scale, w).mean(axis=(0, 2))


def solve_sampled(y: np.ndarray, kernel: np.ndarray, weight: float, scale: int,
                  prior: Optional[np.ndarray] = None) -> np.ndarray:
    """One coarse (h, w, C) region, periodic at its edges, to its fine (h s, w s, C) float32 solution:
    Tikhonov (``prior`` None) or data consistency towards the fine ``prior``."""
    scale = check_scale(scale)
    h, w = y.shape[:2]
    shape = (h * scale, w * scale)
    k = sampled_transfer(kernel, shape, scale)
    if prior is None:
        reg = gradient_power(shape, full=True)
        reg[0, 0] = _MEAN_WEIGHT
    else:
        reg = np.ones(shape)
    m = 1.0 / (float(weight) * reg)
    fold_power = 1.0 + _fold(np.abs(k) ** 2 * m, scale)
    out = np.empty(shape + (y.shape[2],), np.float32)
    for c in range(y.shape[2]):
        b = np.conj(k) * np.tile(sfft.fft2(y[..., c].astype(np.float64)), (scale, scale))
        if prior is not None:
            b += float(weight) * sfft.fft2(prior[..., c].astype(np.float64))
        u = m * b
        x = u - m * np.conj(k) * np.tile(_fold(k * u, scale) / fold_power, (scale, scale))
        out[..., c] = sfft.ifft2(x).real
    return out


def solve_sampled_regions(y: np.ndarray, kernel: np.ndarray, weight: float, scale: int,
                          prior: Optional[np.ndarray] = None) -> np.ndarray:
    """:func:`solve_sampled` over a whole coarse float image ((h, w) or (h, w, C), [0, 1] units) of any
    size, in coarse regions of ``TILE // scale`` px whose halos (the PSF's, in coarse pixels) are the
    image's own pixels, reflected beyond its edges; ``prior`` a fine image (h s, w s[, C]). Returns the
    fine float32 image, channels as ``y``."""
    scale = check_scale(scale)
    h, w = y.shape[:2]
    side = max(TILE // scale, 1)
    halo = -(-halo_for(kernel) // scale)
    out = np.empty((h * scale, w * scale) + y.shape[2:], np.float32)
    coarse = planes(y)
    fine = None if prior is None else planes(prior)
    for r0 in range(0, h, side):
        r1 = min(r0 + side, h)
        rows = reflect_index(r0 - halo, r1 + halo, h)
        fine_rows = reflect_index(scale * (r0 - halo), scale * (r1 + halo), h * scale)
        for c0 in range(0, w, side):
            c1 = min(c0 + side, w)
            cols = reflect_index(c0 - halo, c1 + halo, w)
            p = None if fine is None else fine[np.ix_(fine_rows, reflect_index(scale * (c0 - halo), scale * (c1 + halo), w * scale))]
            x = solve_sampled(coarse[np.ix_(rows, cols)], kernel, weight, scale, p)
            x = x[scale * halo : scale * (halo + r1 - r0), scale * halo : scale * (halo + c1 - c0)]
            out[scale * r0 : scale * r1, scale * c0 : scale * c1] = x[..., 0] if y.ndim == 2 else x
    return out


def sampled_residual(u: np.ndarray, y: np.ndarray, kernel: np.ndarray, scale: int,
                     margin: Tuple[int, int] = (0, 0)) -> float:
    """Mean square of ``S(k * u) - y`` (the blur by OpenCV with the degradations' reflect border, then
    the area mean), scored ``margin`` (rows, columns) coarse px inside the edges: how well the fine
    ``u`` (float32) explains the coarse ``y``. The fine sides must be ``scale`` times the coarse ones."""
    blurred = cv2.filter2D(u, -1, kernel.astype(np.float32, copy=False), borderType=cv2.BORDER_REFLECT_101)
    diff = planes(area_mean(blurred, scale)) - planes(y)
    mr, mc = margin
    diff = diff[mr : diff.shape[0] - mr, mc : diff.shape[1] - mc]
    return float(np.mean(np.square(diff, dtype=np.float64)))


def sampled_tikhonov_filter(kernel: np.ndarray, weight: float, scale: int) -> Tuple[np.ndarray, int]:
    """The Tikhonov solve with the sampling (:func:`solve_sampled` without a prior) as one transposed
    convolution of stride ``scale``: ``(taps, radius)``, taps (2 radius + scale) px square, float32. The solve
    is linear and commutes with a shift of one coarse pixel (``scale`` fine ones), so it is exactly
    ``x[s i + j - radius] += y[i] taps[j]`` (PyTorch's ``conv_transpose2d``): the fine response to one
    coarse pixel, cut at the smallest of :data:`microgan.core.fourier.FILTER_RADII` fine px that leaves
    at most :data:`~microgan.core.fourier.FILTER_TAIL` of its absolute mass out, each of the ``scale^2``
    phases renormalised to sum 1 (a flat image stays flat). Raises ValueError when even the largest cut
    leaves more."""
    scale = check_scale(scale)
    side = -(-max(4 * FILTER_RADII[-1], 4 * max(kernel.shape)) // scale)
    centre = side // 2
    delta = np.zeros((side, side, 1), np.float32)
    delta[centre, centre] = 1.0
    response = solve_sampled(delta, kernel, weight, scale)[..., 0].astype(np.float64)
    origin = scale * centre
    total = float(np.abs(response).sum())
    for radius in FILTER_RADII:
        cut = response[origin - radius : origin + radius + scale, origin - radius : origin + radius + scale]
        left = 1.0 - float(np.abs(cut).sum()) / total
        if left <= FILTER_TAIL:
            taps = cut.copy()
            for a in range(scale):  # fine phase a gets the taps j with (j - radius) = a (mod scale)
                for b in range(scale):
                    rows = slice((a + radius) % scale, None, scale)
                    cols = slice((b + radius) % scale, None, scale)
                    taps[rows, cols] /= taps[rows, cols].sum()
            return taps.astype(np.float32), radius
    raise ValueError(f"its deconvolution reaches beyond {FILTER_RADII[-1]} px ({left:.1%} of it lies further out)")
