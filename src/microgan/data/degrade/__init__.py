"""Degradations that turn a high-quality crop into its low-quality training partner.

Each is registered in ``DEGRADATIONS`` and built from a JSON-able spec (``build_degradation``), the
spec that ``microgan prepare`` writes into ``manifest.csv`` and that a training config's
``data.degradation`` holds. ``base`` has the contract (ranges drawn per call, PSFs, mis-specified
copies) and the combinators (``compose``, ``random-choice``, ``maybe``, ``identity``); ``blur`` the
paper's Gaussian, a random anisotropic Gaussian, defocus and an Airy pattern; ``noise`` Gaussian, Poisson and JPEG;
``sample`` the camera's area sampling (``down:S``, upscaling's forward model);
``presets`` the named degradations of evaluation's robustness grid and the blind training pipeline.
"""
from __future__ import annotations

from typing import Optional

from microgan.data.degrade.base import Bounds, Compose, Degradation, Identity, Maybe, RandomChoice, Spec, build_degradation
from microgan.data.degrade.blur import AiryBlur, Blur, DefocusBlur, GaussianBlur, disk_kernel, gaussian_kernel, opencv_sigma
from microgan.data.degrade.noise import JPEG, GaussianNoise, PoissonNoise
from microgan.data.degrade.sample import Downsample
from microgan.errors import ConfigError

__all__ = [
    "AiryBlur", "Blur", "Bounds", "Compose", "DefocusBlur", "Degradation", "Downsample", "GaussianBlur", "GaussianNoise", "Identity", "JPEG",
    "Maybe", "PoissonNoise", "RandomChoice", "Spec", "build_degradation", "disk_kernel", "gaussian_kernel",
    "opencv_sigma", "paper_degradation",
]


def paper_degradation(kernel_size: int = 15, sigma: Optional[float] = 2.6, noise: float = 0.0) -> Degradation:
    """The paper's blur, optionally followed by Gaussian noise (``noise`` > 0)."""
    if not 0.0 <= noise <= 1.0:  # NaN fails too (it used to switch the noise off silently)
        raise ConfigError(f"noise must be a fraction of the full range, 0 to 1, got {noise}")
    blur = GaussianBlur(kernel_size, sigma)
    return Compose([blur, GaussianNoise(noise)]) if noise > 0 else blur
