"""Networks, built by name from config specs through ``microgan.registry.ARCHS``.

Importing this package registers every architecture: generators ``unet`` (parametrized),
``unet-trimmed`` (MicroGAN), ``unet-full`` (MicroGAN-NT), ``resnet-deblurgan`` (DeblurGAN) and
critics ``gap`` (MicroGAN), ``fc`` (MicroGAN-FS), ``patch`` (DeblurGAN).
"""
from __future__ import annotations

from typing import Any, Mapping

from torch import nn

from microgan.archs import critics, resnet_generator, unet  # noqa: F401  (registration)
from microgan.errors import ConfigError
from microgan.registry import ARCHS

GENERATORS = ("unet", "unet-trimmed", "unet-full", "resnet-deblurgan")
CRITICS = ("gap", "fc", "patch")


def _build(spec: Mapping[str, Any], allowed: tuple[str, ...], role: str) -> nn.Module:
    if not isinstance(spec, Mapping) or "type" not in spec:
        raise ConfigError(f"{role} spec must be a mapping with a 'type' key, got {spec!r}")
    if spec["type"] not in allowed:
        raise ConfigError(f"unknown {role} type '{spec['type']}' (choose one of {', '.join(allowed)})")
    try:
        return ARCHS.build(dict(spec))
    except TypeError as exc:  # unknown or missing keyword in the config
        raise ConfigError(f"{role} '{spec['type']}': {exc}") from None


def build_generator(spec: Mapping[str, Any]) -> nn.Module:
    """``{"type": "unet-trimmed", "in_channels": 3, ...}`` -> generator ``(N,C,H,W) -> (N,C,H,W)``."""
    return _build(spec, GENERATORS, "generator")


def build_critic(spec: Mapping[str, Any]) -> nn.Module:
    """``{"type": "gap", "in_channels": 3, ...}`` -> critic ``(N,C,H,W), mask=None -> (N,)`` raw scores."""
    return _build(spec, CRITICS, "critic")


def count_params(module: nn.Module) -> int:
    """All parameters (trainable or frozen; buffers such as batch-norm statistics excluded)."""
    return sum(p.numel() for p in module.parameters())
