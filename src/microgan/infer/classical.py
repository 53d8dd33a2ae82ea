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

Upscaling (a degradation that samples, ``down:S``): the LR crop is first enlarged to the HR grid by
the ``upsample`` parameter's interpolation (bicubic or Lanczos, tuned like the rest), then deconvolved
with the PSF convolved with the coarse pixel's box on the fine grid
(:func:`microgan.core.sampling.pixel_kernel`): what a microscopist would run with a known PSF. The
``tikhonov`` baseline instead solves the exact data term with the sampling
(:mod:`microgan.core.fourier_sampled`): the strongest classical answer, there to keep models honest.

Tuning (:func:`tune`): an exhaustive search of each baseline's small grid for the best mean PSNR on a
subsample of the validation crops; the winner is then frozen for the test split.
"""
from __future__ import annotations

import itertools
import json
from dataclasses import dataclass
from typing import Any, Callable, Dict, List, Mapping, Optional, Sequence, Tuple, Union

import numpy as np
from scipy.signal import convolve2d
from skimage.filters import unsharp_mask
from skimage.restoration import richardson_lucy, unsupervised_wiener, wiener

from microgan.data.degrade import build_degradation
from microgan.data.io import from_float, to_float
from microgan.errors import ConfigError
from microgan.core.fourier import solve_regions
from microgan.core.fourier_sampled import solve_sampled_regions
from microgan.core.metrics import psnr
from microgan.core.sampling import UPSAMPLERS, pixel_kernel, upsample
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


def degradation_scale(spec: Degradation) -> int:
    """How many times coarser the LR crop of a degradation spec is than its HR crop (1: the same grid)."""
    return build_degradation(dict(spec)).scale


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
    one float32 channel in [0, 1]; this class does the dtype conversion, the enlargement of a coarser
    LR crop (``upsample``, upscaling only), the per-channel loop and the reflect padding (when
    :attr:`needs_psf`). The result has the HR crop's shape: the input's times the degradation's scale."""

    name: str = ""
    grid: Dict[str, Sequence[Any]] = {}
    needs_psf: bool = True

    def __init__(self, **params: Any) -> None:
        unknown = set(params) - set(self.grid) - {"upsample"}
        if unknown:
            raise ConfigError(f"baseline '{self.name}' has no parameter(s) {sorted(unknown)}; tunable: {sorted(self.grid)}")
        self.params = params

    def restore_channel(self, channel: np.ndarray, psf: Optional[np.ndarray]) -> np.ndarray:
        raise NotImplementedError

    def _input(self, lr: np.ndarray, scale: int) -> np.ndarray:
        """The LR crop as float32 on the HR grid (enlarged by ``upsample`` when it is coarser)."""
        image = to_float(lr)  # float32: half the memory traffic of float64, same PSNR to 0.01 dB
        if scale == 1:
            return image
        return upsample(image, scale, str(self.params.get("upsample", "bicubic")))

    def __call__(self, lr: np.ndarray, degradation: Degradation) -> np.ndarray:
        scale = degradation_scale(degradation)
        psf = degradation_psf(degradation) if self.needs_psf else None
        if psf is not None and scale > 1:
            psf = convolve2d(psf, pixel_kernel(scale))
        pad = PAD_KERNELS * psf.shape[0] if psf is not None else 0
        image = self._input(lr, scale)
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
        scale = degradation_scale(degradation)
        return lr.copy() if scale == 1 else from_float(self._input(lr, scale), lr.dtype)


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


@BASELINES.register("tikhonov")
class Tikhonov(Baseline):
    """The exact quadratic data term with the known PSF (and the sampling, when upscaling) and a
    gradient penalty, solved in the Fourier domain (:mod:`microgan.core.fourier`,
    :mod:`microgan.core.fourier_sampled`) on the LR crop itself: no interpolation guesses the missing
    pixels, the forward model does. ``weight`` trades sharpness for noise."""

    name = "tikhonov"
    grid = {"weight": (1e-4, 3e-4, 1e-3, 3e-3, 1e-2, 3e-2, 0.1, 0.3, 1.0)}

    def __call__(self, lr: np.ndarray, degradation: Degradation) -> np.ndarray:
        scale = degradation_scale(degradation)
        psf = degradation_psf(degradation)
        weight = float(self.params.get("weight", 1e-3))
        image = to_float(lr)
        if scale == 1:
            return from_float(solve_regions(image, psf, weight), lr.dtype)
        return from_float(solve_sampled_regions(image, psf, weight, scale), lr.dtype)


def grid_points(name: str, scale: int = 1) -> List[Dict[str, Any]]:
    """Every parameter combination of a baseline's grid (one empty dict for a baseline with no grid);
    upscaling (``scale`` > 1) adds the interpolation that enlarges the LR crop to baselines that take one."""
    grid = dict(BASELINES.get(name).grid)
    if scale > 1 and name != "tikhonov":
        grid["upsample"] = tuple(UPSAMPLERS)
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
    scales = {degradation_scale(deg) for _lr, _hr, deg in pairs}
    if len(scales) > 1:
        raise ConfigError(f"cannot tune baseline '{name}' on crops of different scales {sorted(scales)}")
    scores: List[Tuple[Dict[str, Any], float]] = []
    for params in grid_points(name, scales.pop()):
        baseline = BASELINES.build({"type": name, **params})
        score = float(np.mean([psnr(baseline(lr, deg), hr) for lr, hr, deg in pairs]))
        scores.append((params, score))
        if on_step is not None:
            on_step(params, score)
    best_params, best_score = max(scores, key=lambda item: item[1])
    return TuningResult(name=name, params=best_params, val_psnr=best_score, n_images=len(pairs), scores=scores)
