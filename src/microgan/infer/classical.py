"""Classical restorations (deconvolution with a known PSF, unsharp masking), tuned on validation crops.

They live beside the learned restorer because two rooms use them as restorers: evaluation compares
models against them, and classification restores crops with them (input kind ``classical:NAME``).

A learned restorer is only worth its training if it beats what a microscopist can already run. These
baselines are the standard answers to "the image is blurred by a known Gaussian": the blurred input
itself, Richardson-Lucy and Wiener deconvolution with the known PSF, unsupervised Wiener-Hunt, and
unsharp masking. All the algorithms are scikit-image's; this module only supplies the PSF, the border
handling and the parameter grid, so the comparison is against the libraries people actually use.

Border handling: scikit-image's deconvolutions assume zeros (Richardson-Lucy's ``convolve(mode='same')``)
or periodicity (Wiener's FFT) outside the image. On a 20 px crop blurred by a 15 px kernel that border
is most of the crop, and the result rings or darkens there. We reflect-pad each channel first (numpy
``reflect`` = OpenCV ``BORDER_REFLECT_101``, the border ``cv2.GaussianBlur`` uses to make the LR
crops) and crop back afterwards. A pad of one PSF radius is not enough: the boundary error of the
padded image still creeps inward by about a radius per Richardson-Lucy iteration, so we pad by
:data:`PAD_KERNELS` kernel widths, beyond which the result no longer changes (measured in
docs/paper-notes.md). ``tests/evaluate/test_baselines.py`` shows the gain.

Tuning (:func:`tune`): an exhaustive search of each baseline's small grid for the best mean PSNR on a
subsample of the validation crops; the winner is then frozen for the test split.
"""
from __future__ import annotations

import itertools
import json
from dataclasses import dataclass
from typing import Any, Callable, Dict, List, Mapping, Optional, Sequence, Tuple, Union

import numpy as np
from skimage.filters import unsharp_mask
from skimage.restoration import richardson_lucy, unsupervised_wiener, wiener

from microgan.data.degrade import build_degradation
from microgan.data.io import from_float, to_float
from microgan.errors import ConfigError
from microgan.core.metrics import psnr
from microgan.registry import BASELINES

Degradation = Mapping[str, Any]
#: One validation example for tuning: (LR array, HR array, degradation spec).
TuningPair = Tuple[np.ndarray, np.ndarray, Degradation]
#: Reflect padding around each channel before deconvolution, in PSF widths (see module docstring).
PAD_KERNELS = 2


def parse_degradation(spec: Union[str, Degradation]) -> Dict[str, Any]:
    """The manifest stores the degradation as compact JSON; accept that or an already parsed dict."""
    if isinstance(spec, str):
        try:
            spec = json.loads(spec)
        except json.JSONDecodeError as exc:
            raise ConfigError(f"degradation {spec!r} is not valid JSON ({exc})") from None
    if not isinstance(spec, Mapping):
        raise ConfigError(f"degradation {spec!r} is not a JSON object")
    return dict(spec)


def degradation_psf(spec: Degradation) -> np.ndarray:
    """The known 2-D PSF of a degradation spec (its blur steps' kernels; noise has none), exactly
    the kernel :mod:`microgan.data.degrade` applied: for the paper's blur the separable
    ``cv2.getGaussianKernel(k, sigma)`` outer product that ``cv2.GaussianBlur`` uses."""
    psf = build_degradation(dict(spec)).psf()
    if psf is None:
        raise ConfigError(f"degradation {dict(spec)} has no blur step: deconvolution needs a known PSF")
    return psf


class Baseline:
    """A classical restorer: ``baseline(lr, degradation) -> restored`` with the input's shape and dtype.

    Subclasses set :attr:`grid` (the values tuned on val) and implement :meth:`restore_channel` on
    one float32 channel in [0, 1]; this class does the dtype conversion, the per-channel loop and the
    reflect padding (when :attr:`needs_psf`)."""

    name: str = ""
    grid: Dict[str, Sequence[Any]] = {}
    needs_psf: bool = True

    def __init__(self, **params: Any) -> None:
        unknown = set(params) - set(self.grid)
        if unknown:
            raise ConfigError(f"baseline '{self.name}' has no parameter(s) {sorted(unknown)}; tunable: {sorted(self.grid)}")
        self.params = params

    def restore_channel(self, channel: np.ndarray, psf: Optional[np.ndarray]) -> np.ndarray:
        raise NotImplementedError

    def __call__(self, lr: np.ndarray, degradation: Degradation) -> np.ndarray:
        psf = degradation_psf(degradation) if self.needs_psf else None
        pad = PAD_KERNELS * psf.shape[0] if psf is not None else 0
        image = to_float(lr)  # float32: half the memory traffic of float64, same PSNR to 0.01 dB
        channels = image[..., None] if image.ndim == 2 else image
        out = np.empty_like(channels)
        for c in range(channels.shape[-1]):
            plane = np.pad(channels[..., c], pad, mode="reflect") if pad else channels[..., c]
            restored = self.restore_channel(plane, psf)
            out[..., c] = restored[pad : pad + image.shape[0], pad : pad + image.shape[1]] if pad else restored
        out = out[..., 0] if image.ndim == 2 else out
        return from_float(out, lr.dtype)

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v}" for k, v in sorted(self.params.items()))
        return f"{self.name}({args})"


@BASELINES.register("identity")
class Identity(Baseline):
    """The blurred input itself: the floor every restorer must clear."""

    name = "identity"
    needs_psf = False

    def __call__(self, lr: np.ndarray, degradation: Degradation) -> np.ndarray:
        return lr.copy()


@BASELINES.register("richardson-lucy")
class RichardsonLucy(Baseline):
    """Richardson-Lucy with the known PSF. More iterations sharpen more but amplify the 8-bit
    quantisation and JPEG noise of the data, so the count is tuned."""

    name = "richardson-lucy"
    grid = {"num_iter": (10, 20, 40, 80, 160)}

    def restore_channel(self, channel: np.ndarray, psf: Optional[np.ndarray]) -> np.ndarray:
        return richardson_lucy(channel, psf, num_iter=int(self.params.get("num_iter", 10)), clip=False)


@BASELINES.register("wiener")
class Wiener(Baseline):
    """Wiener-Hunt deconvolution (Laplacian regulariser); ``balance`` trades sharpness for noise."""

    name = "wiener"
    grid = {"balance": (0.001, 0.003, 0.01, 0.03, 0.1, 0.3)}

    def restore_channel(self, channel: np.ndarray, psf: Optional[np.ndarray]) -> np.ndarray:
        return wiener(channel, psf, balance=float(self.params.get("balance", 0.01)), clip=False)


@BASELINES.register("unsupervised-wiener")
class UnsupervisedWiener(Baseline):
    """Wiener-Hunt with the regularisation estimated per image by a Gibbs sampler. Its only knob is
    how long the sampler runs: scikit-image's default minimum of 30 iterations stops on its
    convergence test long before the posterior mean settles on small crops (the result is barely
    sharper than the input), so the minimum is tuned. The sampler is seeded: a crop always gives the
    same result."""

    name = "unsupervised-wiener"
    grid = {"min_num_iter": (30, 100, 300)}

    def restore_channel(self, channel: np.ndarray, psf: Optional[np.ndarray]) -> np.ndarray:
        n = int(self.params.get("min_num_iter", 30))
        sampler = {"min_num_iter": n, "max_num_iter": max(n, 200)}
        restored, _chains = unsupervised_wiener(channel, psf, user_params=sampler, clip=False, rng=0)
        return restored


@BASELINES.register("unsharp")
class Unsharp(Baseline):
    """Unsharp masking: needs no PSF, the sharpener most viewers ship with."""

    name = "unsharp"
    needs_psf = False
    grid = {"radius": (1.0, 2.0, 3.0, 5.0), "amount": (0.5, 1.0, 2.0, 3.0)}

    def restore_channel(self, channel: np.ndarray, psf: Optional[np.ndarray]) -> np.ndarray:
        return unsharp_mask(
            channel, radius=float(self.params.get("radius", 1.0)), amount=float(self.params.get("amount", 1.0))
        )


def grid_points(name: str) -> List[Dict[str, Any]]:
    """Every parameter combination of a baseline's grid (one empty dict for a baseline with no grid)."""
    grid = BASELINES.get(name).grid
    keys = sorted(grid)
    return [dict(zip(keys, values)) for values in itertools.product(*(grid[k] for k in keys))]


@dataclass
class TuningResult:
    """The frozen parameters of one baseline and the validation scores that chose them."""

    name: str
    params: Dict[str, Any]
    val_psnr: float
    n_images: int
    scores: List[Tuple[Dict[str, Any], float]]

    def build(self) -> Baseline:
        return BASELINES.build({"type": self.name, **self.params})


def tune(
    name: str,
    pairs: Sequence[TuningPair],
    on_step: Optional[Callable[[Dict[str, Any], float], None]] = None,
) -> TuningResult:
    """Pick the grid point with the best mean PSNR over ``pairs`` (validation crops only).

    Ties go to the earlier grid point. A baseline without a grid is scored once, so its validation
    PSNR is still reported beside the others."""
    if not pairs:
        raise ConfigError(f"cannot tune baseline '{name}': no validation crops")
    scores: List[Tuple[Dict[str, Any], float]] = []
    for params in grid_points(name):
        baseline = BASELINES.build({"type": name, **params})
        score = float(np.mean([psnr(baseline(lr, deg), hr) for lr, hr, deg in pairs]))
        scores.append((params, score))
        if on_step is not None:
            on_step(params, score)
    best_params, best_score = max(scores, key=lambda item: item[1])
    return TuningResult(name=name, params=best_params, val_psnr=best_score, n_images=len(pairs), scores=scores)
