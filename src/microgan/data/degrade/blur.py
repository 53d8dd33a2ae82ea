"""Blurs: the paper's fixed 15x15 Gaussian, a Gaussian of random width and shape, defocus, and an Airy pattern.

The paper (section 3.1) makes LR images "by applying a gaussian filter with a kernel size of 15x15
on the HR images". It gives no sigma; OpenCV, which the paper's pipeline uses, derives
``sigma = 0.3 * ((ksize - 1) * 0.5 - 1) + 0.8`` when none is given, which is 2.6 for 15x15, so
``gaussian-blur`` defaults to ``kernel_size=15, sigma=2.6`` (``sigma=None`` asks OpenCV for its own
value and gives bit-identical output).

Real optics are never exactly that: ``blur`` draws the width (``sigma``), an elongation
(``anisotropy``: the ratio of the long to the short axis's sigma, so astigmatism or a tilted
coverslip) and its orientation (``angle``, degrees) per call, with a kernel wide enough for +-3
sigma; ``defocus-blur`` is the uniform disk an out-of-focus lens gives (geometric optics), its edge
anti-aliased by supersampling; ``airy-blur`` the in-focus diffraction pattern of a circular
aperture. Each knows the kernel it drew (:meth:`Degradation.apply`), which a model told the PSF
is trained with; the kernels live in :mod:`microgan.core.psf`. All borders use ``BORDER_REFLECT_101``, OpenCV's default, written
out so that a change of default cannot silently change the data.
"""
from __future__ import annotations

from typing import Optional, Tuple

import cv2
import numpy as np

from microgan.core.psf import MAX_SIDE, airy_kernel, disk_kernel, gaussian_kernel
from microgan.data.degrade.base import Bounds, Degradation, Param, Spec
from microgan.errors import ConfigError
from microgan.registry import DEGRADATIONS


def opencv_sigma(kernel_size: int) -> float:
    """The sigma OpenCV uses for a Gaussian kernel of this size when given sigma <= 0."""
    return 0.3 * ((kernel_size - 1) * 0.5 - 1) + 0.8


def _filter(array: np.ndarray, kernel: np.ndarray) -> np.ndarray:
    """Convolve each channel with a (symmetric) kernel; output keeps shape and sample type."""
    return cv2.filter2D(array, -1, kernel.astype(np.float32), borderType=cv2.BORDER_REFLECT_101)


#: The widest blurs a degradation accepts: kernels within the PSF bound (core.psf.MAX_SIDE, 255 px).
MAX_SIGMA = 40.0  # a Gaussian's kernel is 2 ceil(3 sigma) + 1 = 241 px
MAX_RADIUS = 60.0  # an Airy pattern's kernel reaches about twice its radius


@DEGRADATIONS.register("gaussian-blur")
class GaussianBlur(Degradation):
    """Isotropic Gaussian blur, ``kernel_size`` x ``kernel_size`` (odd), standard deviation ``sigma``
    in pixels (None: OpenCV's value for the kernel size). The paper's degradation."""

    name = "gaussian-blur"

    def __init__(self, kernel_size: int = 15, sigma: Optional[float] = 2.6) -> None:
        if not isinstance(kernel_size, int) or kernel_size < 1 or kernel_size % 2 == 0 or kernel_size > MAX_SIDE:
            raise ConfigError(f"gaussian-blur kernel_size must be odd, 1 to {MAX_SIDE}, got {kernel_size}")
        if sigma is not None and not 0 < sigma <= MAX_SIGMA:  # NaN fails too
            raise ConfigError(f"gaussian-blur sigma must be > 0 and at most {MAX_SIGMA:g} (or None for OpenCV's), got {sigma}")
        self.kernel_size = int(kernel_size)
        self.sigma = None if sigma is None else float(sigma)

    def __call__(self, array: np.ndarray, rng: Optional[np.random.Generator] = None) -> np.ndarray:
        sigma = 0.0 if self.sigma is None else self.sigma  # 0 makes OpenCV derive its own
        size = (self.kernel_size, self.kernel_size)
        return cv2.GaussianBlur(array, size, sigmaX=sigma, sigmaY=sigma, borderType=cv2.BORDER_REFLECT_101)

    def apply(self, array: np.ndarray, rng: Optional[np.random.Generator] = None) -> Tuple[np.ndarray, Optional[np.ndarray]]:
        return self(array, rng), self.psf()

    def spec(self) -> Spec:
        return {"type": self.name, "kernel_size": self.kernel_size, "sigma": self.sigma}

    def psf(self) -> np.ndarray:
        """Exactly the separable kernel ``cv2.GaussianBlur`` applies."""
        k = cv2.getGaussianKernel(self.kernel_size, self.sigma or 0.0).astype(np.float64)
        return k @ k.T

    def scaled(self, factor: float) -> Degradation:
        sigma = self.sigma or opencv_sigma(self.kernel_size)
        return Blur(sigma=sigma * factor)


class _KernelBlur(Degradation):
    """A blur that draws its kernel per call (:meth:`kernel`) and convolves every channel with it."""

    def kernel(self, rng: Optional[np.random.Generator] = None) -> np.ndarray:
        raise NotImplementedError

    def __call__(self, array: np.ndarray, rng: Optional[np.random.Generator] = None) -> np.ndarray:
        return self.apply(array, rng)[0]

    def apply(self, array: np.ndarray, rng: Optional[np.random.Generator] = None) -> Tuple[np.ndarray, Optional[np.ndarray]]:
        kernel = self.kernel(rng)
        return _filter(array, kernel), kernel


@DEGRADATIONS.register("blur")
class Blur(_KernelBlur):
    """Gaussian blur whose ``sigma`` (px), ``anisotropy`` (>= 1) and ``angle`` (degrees) may each be a
    ``[low, high]`` range drawn per call: the blind-deblurring training blur."""

    name = "blur"

    def __init__(self, sigma: Param = 2.6, anisotropy: Param = 1.0, angle: Param = 0.0) -> None:
        self.sigma = Bounds(sigma, "blur sigma", strict=True, maximum=MAX_SIGMA)
        self.anisotropy = Bounds(anisotropy, "blur anisotropy", minimum=1.0)
        self.angle = Bounds(angle, "blur angle", minimum=-360.0)

    def kernel(self, rng: Optional[np.random.Generator] = None) -> np.ndarray:
        return gaussian_kernel(self.sigma.draw(rng), self.anisotropy.draw(rng), self.angle.draw(rng))

    def spec(self) -> Spec:
        return {"type": self.name, "sigma": self.sigma.spec(), "anisotropy": self.anisotropy.spec(), "angle": self.angle.spec()}

    @property
    def fixed(self) -> bool:
        return self.sigma.fixed and self.anisotropy.fixed and self.angle.fixed

    def psf(self) -> np.ndarray:
        if not self.fixed:
            raise ConfigError("a blur with random parameters has no single PSF")
        return self.kernel()

    def scaled(self, factor: float) -> Degradation:
        if not self.fixed:
            raise ConfigError("only a fixed blur can be scaled")
        return Blur(self.sigma.low * factor, self.anisotropy.low, self.angle.low)


class _RadiusBlur(_KernelBlur):
    """A blur of one width, ``radius`` px (a number or a ``[low, high]`` range drawn per call), whose
    kernel is ``shape(radius)``."""

    shape = staticmethod(disk_kernel)
    what = ""  # for messages: "a defocus blur"

    def __init__(self, radius: Param = 3.0) -> None:
        self.radius = Bounds(radius, f"{self.name} radius", strict=True, maximum=MAX_RADIUS)

    def kernel(self, rng: Optional[np.random.Generator] = None) -> np.ndarray:
        return type(self).shape(self.radius.draw(rng))

    def spec(self) -> Spec:
        return {"type": self.name, "radius": self.radius.spec()}

    @property
    def fixed(self) -> bool:
        return self.radius.fixed

    def psf(self) -> np.ndarray:
        if not self.fixed:
            raise ConfigError(f"{self.what} with a random radius has no single PSF")
        return type(self).shape(self.radius.low)

    def scaled(self, factor: float) -> Degradation:
        if not self.fixed:
            raise ConfigError(f"only a fixed {self.what.split(' ', 1)[1]} can be scaled")
        return type(self)(self.radius.low * factor)


@DEGRADATIONS.register("defocus-blur")
class DefocusBlur(_RadiusBlur):
    """Out-of-focus blur: a uniform disk of ``radius`` px (a number or a ``[low, high]`` range)."""

    name = "defocus-blur"
    shape = staticmethod(disk_kernel)
    what = "a defocus blur"


@DEGRADATIONS.register("airy-blur")
class AiryBlur(_RadiusBlur):
    """An in-focus diffraction-limited blur: the Airy pattern whose first dark ring has ``radius``
    px (``0.61 lambda / NA`` at the sample; a number or a ``[low, high]`` range), two rings kept."""

    name = "airy-blur"
    shape = staticmethod(airy_kernel)
    what = "an airy blur"
