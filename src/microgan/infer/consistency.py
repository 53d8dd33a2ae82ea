"""Data consistency: check a blind restoration against the image it came from, and correct it.

A blind model is never told the blur, so on a clean image it sharpens less than deconvolution
given the exact kernel (docs/results.md, the robustness grid). But its output ``x`` and the input
``y`` together say what the blur was: the kernel ``k`` that best maps ``x`` back onto ``y``. This
module

1. **fits the PSF** from a family (isotropic Gaussians of width 0.4-5 px, uniform defocus disks of
   radius 1-6 px: :data:`WIDTHS`) by least squares of ``k * x`` against ``y``, on the whole image
   or, in a larger one, on its most textured :data:`FIT_WINDOW` square (the blur is one for the
   whole field; :func:`fit_window`); an image with nothing to read the blur from keeps the
   network's output;
2. reads the **residual** ``r = y - k * x``: its mean square ``e`` is what the model's output
   leaves unexplained, camera noise first;
3. returns the image closest to the model's output that also agrees with the input,
   ``argmin_z |k * z - y|^2 + lam |z - x|^2``, solved per channel in the Fourier domain, in
   regions of :data:`~microgan.core.fourier.TILE` px with halos of the image's own pixels, reflected beyond its edges
   (the degradations' border, so a crop's edges do not ring) (:func:`correct`).

The weight ``lam = STRENGTH * max(e / RESIDUAL_FLOOR, 1) ** POWER`` is the whole policy. On a clean
image the residual sits at the 8-bit quantisation floor and ``lam`` is small: the correction restores what
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
from typing import Callable, Optional, Sequence, Tuple

import numpy as np

from microgan.core.fourier import Native, Unit, planes, residual, solve_regions
from microgan.core.psf import disk_kernel, gaussian_kernel

#: Weight of the model's output at the quantisation floor, and how fast it grows with the residual.
STRENGTH = 0.03
POWER = 1.5
#: Mean square residual of a clean 8-bit image (in [0, 1] units; measured: 1.9-2.1e-6 on BCCD's
#: clean cells, quantisation alone is 1.3e-6).
RESIDUAL_FLOOR = 2e-6
#: Side of the square the PSF is fitted on in a larger image (one blur per field; bounds the cost),
#: and the real context around it: the widest kernel's radius, so no reflected edge is scored.
FIT_WINDOW = 256
CONTEXT = 15
#: A fit is informative when the worst width's error is above this many times the best's.
INFORMATIVE = 2.0


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
    #: False when no width fits much better than another (a featureless image: nothing to read the
    #: blur from); the image then keeps the network's output
    informative: bool = True

    @property
    def noise(self) -> float:
        """The residual's RMS in [0, 1] units: an upper bound of the camera noise's sigma."""
        return float(np.sqrt(self.residual))

    @property
    def weight(self) -> float:
        """``lam``: how strongly the correction holds on to the model's output. Never below
        ``STRENGTH``: a residual under the 8-bit floor (16-bit or float data, a dim image) would
        otherwise turn the solve into inverse filtering."""
        return STRENGTH * max(self.residual / RESIDUAL_FLOOR, 1.0) ** POWER


def fit_psf(restored: np.ndarray, observed: np.ndarray, margin: Tuple[int, int] = (0, 0)) -> PsfFit:
    """The PSF of the family (:data:`WIDTHS`) that best maps ``restored`` onto ``observed`` (float
    arrays of one shape, (H, W) or (H, W, C), values in [0, 1]), scored ``margin`` (rows, columns)
    px inside their edges (a window cut with that much real context around it; 0: the image's own
    edge, reflected as the degradations reflect it). Coarse to fine: every :data:`COARSE`-th width
    of both kinds, then every width around the best (the error is smooth in the width), 41 blurs
    instead of 144, the same choice on the grid's crops. Uninformative (:attr:`PsfFit.informative`)
    when the worst width's error is not above :data:`INFORMATIVE` times the best's (nothing in the
    image to read a blur from), or when the best is the family's narrowest Gaussian (the input is
    no blurrier than the restoration: there is nothing to put back)."""
    x = np.ascontiguousarray(planes(restored), dtype=np.float32)
    y = planes(observed).astype(np.float32)

    def error(kind: str, i: int) -> float:
        return residual(x, y, kernel(kind, float(WIDTHS[kind][i])), margin)

    scores = {(kind, i): error(kind, i) for kind, widths in WIDTHS.items() for i in range(0, len(widths), COARSE)}
    worst = max(scores.values())
    kind, centre = min(scores, key=scores.get)
    for i in range(max(0, centre - COARSE + 1), min(len(WIDTHS[kind]), centre + COARSE)):
        if (kind, i) not in scores:
            scores[(kind, i)] = error(kind, i)
    kind, i = min(((k, j) for k, j in scores if k == kind), key=scores.get)
    width, best = float(WIDTHS[kind][i]), scores[(kind, i)]
    informative = worst > INFORMATIVE * best and not (kind == "gaussian" and i == 0)
    return PsfFit(kind, width, kernel(kind, width), best, informative=informative)


def _axis_window(n: int, profile: np.ndarray, step: int) -> Tuple[slice, int]:
    """One axis of :func:`fit_window`: the whole axis when it is at most a window plus its context
    on both sides (scored to its own edges), else the :data:`FIT_WINDOW` span whose ``profile``
    (texture summed across the other axis, every ``step``-th pixel) is largest, with
    :data:`CONTEXT` px of real pixels on both sides. Returns (slice, margin)."""
    if n <= FIT_WINDOW + 2 * CONTEXT:
        return slice(0, n), 0
    starts = list(range(CONTEXT, n - FIT_WINDOW - CONTEXT + 1, FIT_WINDOW // 2))
    starts.append(n - FIT_WINDOW - CONTEXT)  # the last span too, however the grid falls
    cum = np.concatenate([[0.0], np.cumsum(profile)])
    score = [cum[min((a + FIT_WINDOW) // step, len(profile))] - cum[a // step] for a in starts]
    start = starts[int(np.argmax(score))]
    return slice(start - CONTEXT, start + FIT_WINDOW + CONTEXT), CONTEXT


#: Texture is judged on every TEXTURE_STEP-th pixel of both axes: cheap on a 4096x3072 field.
TEXTURE_STEP = 4


def thumbnail(observed: np.ndarray, to_unit: "Unit") -> np.ndarray:
    """Every :data:`TEXTURE_STEP`-th pixel of both axes, in [0, 1] units, the channels' mean."""
    return planes(to_unit(observed[::TEXTURE_STEP, ::TEXTURE_STEP])).mean(axis=2)


def texture(small: np.ndarray) -> np.ndarray:
    """Each thumbnail pixel's squared differences to the next row and the next column."""
    energy = np.zeros_like(small)
    energy[:-1, :] += np.diff(small, axis=0) ** 2
    energy[:, :-1] += np.diff(small, axis=1) ** 2
    return energy


def fit_window(observed: np.ndarray, to_unit: "Unit") -> Tuple[Tuple[slice, slice], Tuple[int, int]]:
    """Where to fit the PSF on an image: per axis, all of it when it is at most
    :data:`FIT_WINDOW` + 2 :data:`CONTEXT` px, else the most textured :data:`FIT_WINDOW` span
    (the input's mean square gradient) cut with :data:`CONTEXT` px of real pixels around it.
    Returns (the region's slices, the margins to score inside it). A background-only part of a
    field must not decide the blur of all of it, and a window's cut edges must not be scored."""
    h, w = observed.shape[:2]
    if h <= FIT_WINDOW + 2 * CONTEXT and w <= FIT_WINDOW + 2 * CONTEXT:
        return (slice(0, h), slice(0, w)), (0, 0)
    energy = texture(thumbnail(observed, to_unit))
    return window_from_texture((h, w), energy.sum(axis=1), lambda r0, r1: energy[r0:r1].sum(axis=0))


def window_from_texture(shape: Tuple[int, int], row_profile: np.ndarray,
                        column_profile: Callable[[int, int], np.ndarray]) -> Tuple[Tuple[slice, slice], Tuple[int, int]]:
    """:func:`fit_window` from the texture's sum along each thumbnail row and ``column_profile(r0, r1)``,
    its sum down each column over thumbnail rows ``r0:r1``: what a slide read band by band provides."""
    h, w = shape
    rows, mr = _axis_window(h, row_profile, TEXTURE_STEP)
    cols, mc = _axis_window(w, column_profile(rows.start // TEXTURE_STEP, -(-rows.stop // TEXTURE_STEP)), TEXTURE_STEP)
    return (rows, cols), (mr, mc)


def correct(restored: np.ndarray, observed: np.ndarray, fit: PsfFit, to_unit: Optional[Unit] = None,
            from_unit: Optional[Native] = None, out: Optional[np.ndarray] = None) -> np.ndarray:
    """``argmin_z |k * z - observed|^2 + lam |z - restored|^2`` per channel, the shape of ``restored``,
    solved in regions with halos (:func:`microgan.core.fourier.solve_regions`). ``to_unit`` maps
    native pixels to float32 in [0, 1] units (default: as they are), ``from_unit(values, like)``
    maps results back to ``like``'s sample type (default: float32, not clipped); ``out``: where to
    write (default: a new array)."""
    if out is None:
        out = np.empty(restored.shape, np.float32 if from_unit is None else restored.dtype)
    return solve_regions(observed, fit.kernel, fit.weight, prior=restored, to_unit=to_unit, from_unit=from_unit, out=out)


def refine(restored: np.ndarray, observed: np.ndarray, to_unit: Optional[Unit] = None,
           from_unit: Optional[Native] = None) -> Tuple[np.ndarray, PsfFit]:
    """Fit the PSF and correct ``restored`` against ``observed`` (the network's input; one shape).
    With ``to_unit``/``from_unit`` (see :func:`correct`) both stay in their native sample type and
    the result comes back in it; without, they are float in [0, 1] units and so is the result
    (float32, not clipped). Returns (corrected image, fit)."""
    unit = to_unit or (lambda a: a.astype(np.float32))
    region, margins = fit_window(observed, unit)
    fit = fit_psf(unit(restored[region]), unit(observed[region]), margins)
    if not fit.informative:
        return (restored.copy() if from_unit else unit(restored)), fit
    out = np.empty(restored.shape, np.float32 if from_unit is None else restored.dtype)
    return correct(restored, observed, fit, to_unit, from_unit, out), fit


def describe(fits: Sequence[PsfFit], told: bool = False) -> str:
    """One line for a user: the blur and noise their images look like they had (medians over the
    images). For a blind model's consistency step (``told`` False) the fitted blur is what maps the
    restoration onto the input: the optics' own where the network restored fully, narrower where it
    stopped short, and the residual RMS bounds the camera noise from above. For a model told the
    PSF (``told``) it is the PSF each image was restored with (``given``, or estimated) and the
    noise read off the input."""
    if not fits:
        return ""
    mid = len(fits) // 2
    kinds = sorted({f.kind for f in fits}, key=lambda k: -sum(f.kind == k for f in fits))
    widths = sorted(f.width for f in fits if f.kind == kinds[0])
    noise = sorted(f.noise for f in fits)
    count = f"{len(widths)} of {len(fits)} image{'s' if len(fits) > 1 else ''}"
    spread = f", {widths[0]:.2f}-{widths[-1]:.2f}" if len(widths) > 1 else ""
    if told:
        if kinds[0] == "given":
            blur = f"restored with the given PSF (RMS width {widths[len(widths) // 2]:.2f} px)"
        else:
            name = {"gaussian": "a Gaussian of sigma", "disk": "a defocus disk of radius"}[kinds[0]]
            blur = (f"PSF estimated per image: {name} {widths[len(widths) // 2]:.2f} px (median of {count}{spread}; "
                    "--psf gives it instead)")
        return f"{blur}; noise read off the input {noise[mid] * 255:.2f} grey levels RMS of 255 (median)"
    name = "Gaussian of sigma" if kinds[0] == "gaussian" else "defocus disk of radius"
    return (f"data consistency: the input matches the restoration blurred by a {name} {widths[len(widths) // 2]:.2f} px (median of "
            f"{count}{spread}); residual "
            f"{noise[mid] * 255:.2f} grey levels RMS of 255 (camera noise is at most this)")
