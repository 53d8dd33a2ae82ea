"""Intensity normalization strategies: native samples <-> float32 around [0, 1] (CSBDeep style).

Networks see one intensity range whatever the file held. Three strategies:

* ``auto`` (the default where images come from users): the range the data *uses* maps to [0, 1].
  Integers by the bit depth their maximum needs: a 12-bit camera's data in a 16-bit file (values up
  to 4095) is scaled by 4095, as the camera meant, not by 65535, which would hand the network an
  almost black image; 8-bit data by 255. Where the file declares its depth (``top``: a TIFF's
  BitsPerSample, MaxSampleValue or OME SignificantBits, ``data.io.Image.declared_top``) and the data
  stays within it, the declaration decides: a dim 12-bit image is still 12-bit data. Floats already in [0, 1] and not dim are taken as they are;
  a float image beyond [0, 1] or whose maximum is under :data:`DIM_FLOAT` is mapped by its own range
  with headroom (0 or its minimum to 0, its maximum to :data:`HEADROOM`: brightfield backgrounds sit
  below white, and a network trained on such images clips and misjudges data pushed to 1.0; measured
  on 12 BCCD test crops given as floats in [0, 1e-4]: maximum to 1.0 cost 0.49 dB, to 0.8 nothing,
  docs/paper-notes.md). Exactly invertible: the output comes back in the input's type and range. :meth:`Normalizer.note` says when it did not take the type's range.
* ``range``: the sample type's full range maps to [0, 1] (uint8 / 255, uint16 / 65535,
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
    #: whether every value of an image maps into [0, 1] (outputs may then be clipped to it)
    bounded = False

    def note(self, source: np.ndarray) -> Optional[str]:
        """A line for the user when this image's mapping is not what its sample type suggests."""
        return None

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
    bounded = True

    def bounds(self, source: np.ndarray) -> Tuple[float, float]:
        return 0.0, _type_scale(source.dtype)


#: Bit depths a camera writes into a 16-bit file.
BIT_DEPTHS = (8, 10, 12, 14, 16)
#: A float image whose maximum is below this is "dim": mapped by its own range, not as [0, 1].
DIM_FLOAT = 1.0 / 16
#: Where a float image mapped by its own range puts its maximum.
HEADROOM = 0.8
#: A float image this far outside [0, 1] (half an 8-bit level: a filter's rounding) still counts as [0, 1].
FLOAT_SLACK = 1.0 / 512


@NORMALIZERS.register("auto")
class AutoNormalizer(Normalizer):
    """The range the data uses -> [0, 1]: integers by the bit depth their maximum needs, floats by
    [0, 1] when they fit it and are not dim, else by their own range (see the module docstring)."""

    name = "auto"
    bounded = True

    def __init__(self, top: Optional[int] = None) -> None:
        #: the largest value the images' source declares (a TIFF's BitsPerSample, MaxSampleValue or OME
        #: SignificantBits: ``data.io.Image.declared_top``); integers within it are scaled by it
        if top is not None and not (isinstance(top, int) and not isinstance(top, bool) and top > 0):
            raise ConfigError(f"auto normalization's top must be a whole number > 0, got {top!r}")
        self.top = top

    def _declared(self, source: np.ndarray) -> Optional[int]:
        """The declared top, where it applies: integer samples that do not exceed it."""
        if self.top is None or source.dtype.kind != "u" or self.top >= _type_scale(source.dtype):
            return None
        return self.top if not source.size or int(source.max()) <= self.top else None

    def spec(self) -> Dict[str, Any]:
        return {"type": self.name} if self.top is None else {"type": self.name, "top": self.top}

    def bounds(self, source: np.ndarray) -> Tuple[float, float]:
        if source.dtype.kind == "u":
            declared = self._declared(source)
            if declared is not None:
                return 0.0, float(declared)
            if source.dtype.itemsize == 1:
                return 0.0, 255.0
            top = int(source.max()) if source.size else 0
            bits = next((b for b in BIT_DEPTHS if top <= 2**b - 1), 8 * source.dtype.itemsize)
            return 0.0, float(2**bits - 1)
        low, high = (float(source.min()), float(source.max())) if source.size else (0.0, 1.0)
        if low >= -FLOAT_SLACK and DIM_FLOAT <= high <= 1.0 + FLOAT_SLACK:  # [0, 1] up to rounding of a filter
            return 0.0, 1.0
        low = min(low, 0.0)
        return low, (low + (high - low) / HEADROOM) if high > low else low + 1.0

    def note(self, source: np.ndarray) -> Optional[str]:
        low, high = self.bounds(source)
        if source.dtype.kind == "u":
            if self.top is not None and high == self.top:  # the declaration decided (bounds)
                return f"the file declares samples up to {int(high)}: 0..{int(high)} taken as the full range"
            if self.top is not None and self.top < _type_scale(source.dtype):
                return (f"the file declares samples up to {self.top} but holds values up to {int(source.max())}: "
                        f"0..{int(high)} taken as the full range")
            if high == _type_scale(source.dtype):
                return None
            bits = int(round(np.log2(high + 1)))
            return (f"{8 * source.dtype.itemsize}-bit samples holding {bits}-bit data (maximum {int(source.max())}): "
                    f"0..{int(high)} taken as the full range")
        if (low, high) == (0.0, 1.0):
            return None
        return f"float samples in [{float(source.min()):.4g}, {float(source.max()):.4g}]: {low:.4g}..{high:.4g} taken as the full range"


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
    or None (the default, ``auto``)."""
    if spec is None:
        spec = "auto"
    if isinstance(spec, str):
        spec = {"type": spec}
    return NORMALIZERS.build(spec)
