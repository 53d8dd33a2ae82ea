"""Networks, built by name from config specs through ``microgan.registry.GENERATORS`` and ``CRITICS``.

Importing this package registers every architecture: generators ``unet`` (parametrized),
``unet-trimmed`` (MicroGAN), ``unet-full`` (MicroGAN-NT), ``unet-psf`` (MicroGAN's U-Net told the
PSF), ``resnet-deblurgan`` (DeblurGAN) and
critics ``gap`` (MicroGAN), ``fc`` (MicroGAN-FS), ``patch`` (DeblurGAN).
"""
from __future__ import annotations

from typing import Any, Mapping

from torch import nn

from microgan.archs import critics, resnet_generator, unet  # noqa: F401  (registration)
from microgan.registry import CRITICS, GENERATORS


def build_generator(spec: Mapping[str, Any]) -> nn.Module:
    """``{"type": "unet-trimmed", "in_channels": 3, ...}`` -> generator ``(N,C,H,W) -> (N,C,H,W)``."""
    return GENERATORS.build(spec)


#: Generators told the PSF: their input is the image, its deconvolution and the noise level.
PSF_GENERATORS = ("unet-psf",)


def takes_psf(spec: Mapping[str, Any]) -> bool:
    """Whether a generator spec (a config's ``generator:``) is a model told the PSF."""
    return str((spec or {}).get("type", "")) in PSF_GENERATORS


def image_channels(spec: Mapping[str, Any]) -> int:
    """The image channels a generator spec restores (3 unless it says otherwise)."""
    spec = spec or {}
    return int(spec.get("image_channels", 3) if takes_psf(spec) else spec.get("in_channels", 3))


def build_critic(spec: Mapping[str, Any]) -> nn.Module:
    """``{"type": "gap", "in_channels": 3, ...}`` -> critic ``(N,C,H,W), mask=None -> (N,)`` raw scores."""
    return CRITICS.build(spec)


def count_params(module: nn.Module) -> int:
    """All parameters (trainable or frozen; buffers such as batch-norm statistics excluded)."""
    return sum(p.numel() for p in module.parameters())
