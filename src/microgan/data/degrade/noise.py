"""Camera noise and compression: Gaussian (read) noise, Poisson (shot) noise, JPEG.

Not in the paper, whose LR images are blurred only; real microscope images are noisy and often
JPEG-compressed, and a model trained on clean blur amplifies noise (docs/results.md). Noise levels
are in units of the full sample range (1.0 = 255 for uint8, 65535 for uint16), so one setting means
the same thing for 8- and 16-bit data; values are clipped back into the range and rounded to the
input's sample type, as a camera would.
"""
from __future__ import annotations

from typing import Optional

import cv2
import numpy as np

from microgan.data.degrade.base import Bounds, Degradation, Param, Spec
from microgan.data.io import from_float, to_float
from microgan.errors import ConfigError
from microgan.registry import DEGRADATIONS


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
    """Additive white Gaussian noise with standard deviation ``sigma`` (fraction of full range;
    a number or a ``[low, high]`` range drawn per call)."""

    name = "gaussian-noise"

    def __init__(self, sigma: Param = 0.01) -> None:
        self.sigma = Bounds(sigma, "gaussian-noise sigma")

    def _noisy(self, x01: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        sigma = self.sigma.draw(rng)
        return x01 + rng.normal(0.0, sigma, size=x01.shape).astype(np.float32)

    def spec(self) -> Spec:
        return {"type": self.name, "sigma": self.sigma.spec()}


@DEGRADATIONS.register("poisson-noise")
class PoissonNoise(_Noise):
    """Shot noise: full range corresponds to ``peak`` photons (smaller peak, noisier image); a range
    is drawn log-uniformly, since photon counts vary by orders of magnitude."""

    name = "poisson-noise"

    def __init__(self, peak: Param = 1000.0) -> None:
        self.peak = Bounds(peak, "poisson-noise peak", strict=True, log=True)

    def _noisy(self, x01: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        peak = self.peak.draw(rng)
        counts = rng.poisson(np.clip(x01, 0.0, None) * peak)
        return (counts / peak).astype(np.float32)

    def spec(self) -> Spec:
        return {"type": self.name, "peak": self.peak.spec()}


@DEGRADATIONS.register("jpeg")
class JPEG(Degradation):
    """A JPEG round trip at ``quality`` (1-100; a number or a range drawn per call) through
    OpenCV's libjpeg, with RGB handed over in the BGR order it expects, so chroma is subsampled
    as a camera would. 16-bit and float images pass through 8 bits, as JPEG has no more."""

    name = "jpeg"

    def __init__(self, quality: Param = 75) -> None:
        self.quality = Bounds(quality, "jpeg quality", minimum=1.0)
        if self.quality.high > 100:
            raise ConfigError(f"jpeg quality must lie in 1..100, got {quality!r}")

    def __call__(self, array: np.ndarray, rng: Optional[np.random.Generator] = None) -> np.ndarray:
        quality = int(round(self.quality.draw(rng)))
        eight = array if array.dtype == np.uint8 else from_float(to_float(array), np.uint8)
        colour = eight.ndim == 3
        ok, buffer = cv2.imencode(".jpg", eight[..., ::-1] if colour else eight, [cv2.IMWRITE_JPEG_QUALITY, quality])
        if not ok:  # pragma: no cover - libjpeg refuses only empty images
            raise ConfigError(f"jpeg: OpenCV could not encode a {array.shape} image")
        decoded = cv2.imdecode(buffer, cv2.IMREAD_COLOR if colour else cv2.IMREAD_GRAYSCALE)
        decoded = np.ascontiguousarray(decoded[..., ::-1]) if colour else decoded
        if array.dtype == np.uint8:
            return decoded
        out = to_float(decoded)
        return out if array.dtype.kind == "f" else from_float(out, array.dtype)

    def spec(self) -> Spec:
        return {"type": self.name, "quality": self.quality.spec()}
