"""Intensity normalization strategies: native samples <-> float32 around [0, 1] (CSBDeep style).

Networks see one intensity range whatever the file held. Two strategies:

* ``range`` (default): the sample type's full range maps to [0, 1] (uint8 / 255, uint16 / 65535,
  float as is). Exactly invertible and identical for every image, which is what training pairs
  prepared from the same source need.
* ``percentile``: the ``pmin``..``pmax`` percentiles of *this* image map to 0..1 (CSBDeep's
  ``PercentileNormalizer``, defaults 1 / 99.8). For dim 16-bit fluorescence or float images whose
  useful signal occupies a sliver of the type's range. Percentiles are taken over all pixels and
  channels together so colour balance is kept.

Both are stateless: :meth:`Normalizer.denormalize` takes the source array again to recover the
bounds, so one normalizer object can serve many images (and threads) at once. Tiles of one image
pass the image's ``bounds`` explicitly (computed once on the whole image), so every tile maps
intensities exactly as the whole-image pass does.
"""
from __future__ import annotations

from typing import Any, Dict, Optional, Tuple, Union

import numpy as np

from microgan.data.io import from_float, to_float
from microgan.errors import ConfigError
from microgan.registry import Registry

NORMALIZERS = Registry("normalizer")


class Normalizer:
    """Base: subclasses define :meth:`bounds`, the native values that map to 0 and 1."""

    name = ""

    def bounds(self, source: np.ndarray) -> Tuple[float, float]:
        raise NotImplementedError

    def normalize(self, source: np.ndarray, bounds: Optional[Tuple[float, float]] = None) -> np.ndarray:
        """Native array -> float32 where ``bounds`` (default: ``bounds(source)``) map to 0 and 1."""
        values = source.astype(np.float32) if source.dtype.kind == "u" else to_float(source)
        low, high = bounds or self.bounds(source)
        return ((values - low) / max(high - low, 1e-20)).astype(np.float32)

    def denormalize(
        self, values: np.ndarray, source: np.ndarray, bounds: Optional[Tuple[float, float]] = None
    ) -> np.ndarray:
        """Inverse of :meth:`normalize` for the same ``source`` (and ``bounds``); returns
        ``source.dtype`` samples (integers rounded and clipped to the type's range)."""
        low, high = bounds or self.bounds(source)
        native = np.asarray(values, dtype=np.float32) * (high - low) + low
        return from_float(native / _type_scale(source.dtype), source.dtype)

    def spec(self) -> Dict[str, Any]:
        return {"type": self.name}


def _type_scale(dtype: np.dtype) -> float:
    return float(np.iinfo(dtype).max) if np.dtype(dtype).kind == "u" else 1.0


@NORMALIZERS.register("range")
class RangeNormalizer(Normalizer):
    """The sample type's range -> [0, 1]; floats are taken as already in [0, 1]."""

    name = "range"

    def bounds(self, source: np.ndarray) -> Tuple[float, float]:
        return 0.0, _type_scale(source.dtype)


@NORMALIZERS.register("percentile")
class PercentileNormalizer(Normalizer):
    """The image's ``pmin``/``pmax`` percentiles -> 0/1 (values beyond are kept unless ``clip``)."""

    name = "percentile"

    def __init__(self, pmin: float = 1.0, pmax: float = 99.8, clip: bool = False) -> None:
        if not 0 <= pmin < pmax <= 100:
            raise ConfigError(f"percentile normalizer needs 0 <= pmin < pmax <= 100, got {pmin}, {pmax}")
        self.pmin, self.pmax, self.clip = float(pmin), float(pmax), bool(clip)

    def bounds(self, source: np.ndarray) -> Tuple[float, float]:
        low, high = np.percentile(source, [self.pmin, self.pmax])
        return float(low), float(high)

    def normalize(self, source: np.ndarray, bounds: Optional[Tuple[float, float]] = None) -> np.ndarray:
        out = super().normalize(source, bounds)
        return np.clip(out, 0.0, 1.0) if self.clip else out

    def spec(self) -> Dict[str, Any]:
        return {"type": self.name, "pmin": self.pmin, "pmax": self.pmax, "clip": self.clip}


def build_normalizer(spec: Union[str, Dict[str, Any], None] = None) -> Normalizer:
    """Build from a name (``"percentile"``), a spec dict (``{"type": "percentile", "pmax": 99}``)
    or None (the default ``range``)."""
    if spec is None:
        spec = "range"
    if isinstance(spec, str):
        spec = {"type": spec}
    return NORMALIZERS.build(spec)
