"""The one contract between image values and a network's, and what a checkpoint says about it.

Every MicroGAN generator takes and returns values in [-1, 1]: image values in [0, 1] (after a
normalizer: :mod:`microgan.data.normalize`) times 2 minus 1. Training (datasets, validation, the
perceptual loss), inference (the enhancer, the PSF-aware model's physics channels) and every export
map through :func:`to_network` / :func:`from_network`, so the mapping is written once, here.

A checkpoint records the contract its model was trained under (``meta["io"]``, :func:`contract_for`,
written by training): the normalizer training used (``range``: the sample type's range), the
network range, the image channels, for a model told the PSF how it takes it (the channels
:func:`microgan.core.physics.network_input` makes), and the scale of its output (upscaling: the
sampling its training degradation held; 1 for all other models and every older checkpoint). :func:`contract_of` reads it back; a checkpoint
written before the record existed gets the contract every model had then, and says so.
"""
from __future__ import annotations

from typing import Any, Dict, Mapping, Tuple, TypeVar

T = TypeVar("T")

#: What the network sees and returns.
NETWORK_RANGE: Tuple[float, float] = (-1.0, 1.0)
#: The contract's version: bump it when the mapping changes, so old checkpoints are recognised.
VERSION = 1
#: How a PSF-aware model takes its kernel (core.physics.network_input).
PSF_INPUT = "image, Tikhonov deconvolution with the PSF (weight 1000 sigma^2), noise channel 20 sigma"


def to_network(unit: T) -> T:
    """Image values in [0, 1] -> network values in [-1, 1] (numpy arrays or torch tensors)."""
    return unit * 2 - 1  # type: ignore[operator,return-value]


def from_network(values: T) -> T:
    """Network values in [-1, 1] -> image values in [0, 1]."""
    return (values + 1) / 2  # type: ignore[operator,return-value]


def to_network_(array: Any) -> Any:
    """:func:`to_network` in place (numpy float arrays): no copy of a large batch."""
    array *= 2
    array -= 1
    return array


def from_network_(array: Any) -> Any:
    """:func:`from_network` in place (numpy float arrays)."""
    array += 1
    array /= 2
    return array


def contract_for(config: Mapping[str, Any]) -> Dict[str, Any]:
    """The contract a run config's model is trained under (recorded in its checkpoints)."""
    generator = config.get("generator") or {}
    takes_psf = str(generator.get("type", "")).endswith("-psf")
    channels = generator.get("image_channels") if takes_psf else generator.get("out_channels", generator.get("in_channels", 3))
    return {
        "version": VERSION,
        "normalizer": "range",
        "network_range": list(NETWORK_RANGE),
        "image_channels": int(channels or 3),
        "psf_input": PSF_INPUT if takes_psf else None,
        "scale": training_scale(config),
    }


def training_scale(config: Mapping[str, Any]) -> int:
    """How many times larger than its input a run config's model writes its output: the sampling of
    its training degradation (``down:S``, :mod:`microgan.core.sampling`), 1 without one."""
    spec = (config.get("data") or {}).get("degradation")
    if not spec:
        return 1
    from microgan.data.degrade import build_degradation

    return int(build_degradation(spec).scale)


def model_scale(contract: Mapping[str, Any]) -> int:
    """The output's scale a contract records (1 for every contract written before upscaling)."""
    return int(contract.get("scale") or 1)


def contract_of(meta: Mapping[str, Any]) -> Tuple[Dict[str, Any], bool]:
    """(the contract a checkpoint's model was trained under, whether the checkpoint recorded it).
    Checkpoints written before the record get :func:`contract_for` their config: the only contract
    there has been."""
    recorded = meta.get("io")
    if isinstance(recorded, dict) and recorded.get("version") == VERSION:
        return dict(recorded), True
    return contract_for(meta.get("config") or {}), False
