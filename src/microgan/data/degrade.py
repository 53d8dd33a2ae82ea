"""Degradations that turn a high-quality crop into its low-quality training partner.

The paper (section 3.1) makes LR images "by applying a gaussian filter with a kernel size of 15x15
on the HR images". It gives no sigma; OpenCV, which the paper's pipeline uses, derives
``sigma = 0.3 * ((ksize - 1) * 0.5 - 1) + 0.8`` when none is given, which is 2.6 for 15x15, so the
default here is ``kernel_size=15, sigma=2.6`` (``sigma=None`` asks OpenCV for its own value and
gives bit-identical output). Borders use ``BORDER_REFLECT_101``, OpenCV's default, written out
so that a change of default cannot silently change the data. Output has the input's size and
sample type, so HR and LR crops always pair pixel for pixel.

Noise options (not in the paper) exist for users whose real low-quality images are noisy. Noise
levels are in units of the full sample range (1.0 = 255 for uint8, 65535 for uint16), so one
setting means the same thing for 8- and 16-bit data. Random degradations draw only from the
``numpy.random.Generator`` passed in, so a prepared data set is reproducible from its seed.

Each class is registered in ``DEGRADATIONS`` and ``spec()`` returns the JSON-able dict that
rebuilds it (it goes into ``manifest.csv``).
"""
from __future__ import annotations

from typing import Any, Dict, List, Optional, Sequence, Union

import cv2
import numpy as np

from microgan.data.io import from_float, to_float
from microgan.errors import ConfigError
from microgan.registry import DEGRADATIONS

Spec = Dict[str, Any]


class Degradation:
    """Base: ``degradation(array, rng) -> array`` of the same shape and sample type."""

    name = ""

    def __call__(self, array: np.ndarray, rng: Optional[np.random.Generator] = None) -> np.ndarray:
        raise NotImplementedError

    def spec(self) -> Spec:
        raise NotImplementedError


def opencv_sigma(kernel_size: int) -> float:
    """The sigma OpenCV uses for a Gaussian kernel of this size when given sigma <= 0."""
    return 0.3 * ((kernel_size - 1) * 0.5 - 1) + 0.8


@DEGRADATIONS.register("gaussian-blur")
class GaussianBlur(Degradation):
    """Isotropic Gaussian blur, ``kernel_size`` x ``kernel_size`` (odd), standard deviation ``sigma``
    in pixels (None: OpenCV's value for the kernel size)."""

    name = "gaussian-blur"

    def __init__(self, kernel_size: int = 15, sigma: Optional[float] = 2.6) -> None:
        if kernel_size < 1 or kernel_size % 2 == 0:
            raise ConfigError(f"gaussian-blur kernel_size must be odd and >= 1, got {kernel_size}")
        if sigma is not None and sigma <= 0:
            raise ConfigError(f"gaussian-blur sigma must be > 0 (or None for OpenCV's), got {sigma}")
        self.kernel_size = int(kernel_size)
        self.sigma = None if sigma is None else float(sigma)

    def __call__(self, array: np.ndarray, rng: Optional[np.random.Generator] = None) -> np.ndarray:
        sigma = 0.0 if self.sigma is None else self.sigma  # 0 makes OpenCV derive its own
        size = (self.kernel_size, self.kernel_size)
        return cv2.GaussianBlur(array, size, sigmaX=sigma, sigmaY=sigma, borderType=cv2.BORDER_REFLECT_101)

    def spec(self) -> Spec:
        return {"type": self.name, "kernel_size": self.kernel_size, "sigma": self.sigma}


class _Noise(Degradation):
    """Shared conversion: noise is drawn on the [0, 1] float view, then mapped back and clipped."""

    def _noisy(self, x01: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        raise NotImplementedError

    def __call__(self, array: np.ndarray, rng: Optional[np.random.Generator] = None) -> np.ndarray:
        if rng is None:
            raise ConfigError(f"{self.name} needs a numpy Generator so results are reproducible")
        noisy = self._noisy(to_float(array), rng)
        if array.dtype.kind == "f":
            return noisy.astype(np.float32)
        return from_float(noisy, array.dtype)


@DEGRADATIONS.register("gaussian-noise")
class GaussianNoise(_Noise):
    """Additive white Gaussian noise with standard deviation ``sigma`` (fraction of full range)."""

    name = "gaussian-noise"

    def __init__(self, sigma: float = 0.01) -> None:
        if sigma < 0:
            raise ConfigError(f"gaussian-noise sigma must be >= 0, got {sigma}")
        self.sigma = float(sigma)

    def _noisy(self, x01: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        return x01 + rng.normal(0.0, self.sigma, size=x01.shape).astype(np.float32)

    def spec(self) -> Spec:
        return {"type": self.name, "sigma": self.sigma}


@DEGRADATIONS.register("poisson-noise")
class PoissonNoise(_Noise):
    """Shot noise: full range corresponds to ``peak`` photons (smaller peak, noisier image)."""

    name = "poisson-noise"

    def __init__(self, peak: float = 1000.0) -> None:
        if peak <= 0:
            raise ConfigError(f"poisson-noise peak must be > 0, got {peak}")
        self.peak = float(peak)

    def _noisy(self, x01: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        counts = rng.poisson(np.clip(x01, 0.0, None) * self.peak)
        return (counts / self.peak).astype(np.float32)

    def spec(self) -> Spec:
        return {"type": self.name, "peak": self.peak}


@DEGRADATIONS.register("compose")
class Compose(Degradation):
    """Apply ``steps`` (degradations or their specs) in order, sharing one Generator."""

    name = "compose"

    def __init__(self, steps: Sequence[Union[Degradation, Spec]]) -> None:
        self.steps: List[Degradation] = [build_degradation(s) for s in steps]

    def __call__(self, array: np.ndarray, rng: Optional[np.random.Generator] = None) -> np.ndarray:
        for step in self.steps:
            array = step(array, rng)
        return array

    def spec(self) -> Spec:
        return {"type": self.name, "steps": [s.spec() for s in self.steps]}


def build_degradation(spec: Union[Degradation, Spec]) -> Degradation:
    """A degradation from its spec dict (``{"type": "gaussian-blur", "sigma": 2.6}``) or as is."""
    if isinstance(spec, Degradation):
        return spec
    return DEGRADATIONS.build(spec)


def paper_degradation(
    kernel_size: int = 15, sigma: Optional[float] = 2.6, noise: float = 0.0
) -> Degradation:
    """The paper's blur, optionally followed by Gaussian noise (``noise`` > 0)."""
    blur = GaussianBlur(kernel_size, sigma)
    return Compose([blur, GaussianNoise(noise)]) if noise > 0 else blur
