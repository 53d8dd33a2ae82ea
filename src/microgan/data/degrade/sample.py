"""The camera's sampling as a degradation step: ``down:S``, the area mean of every S x S block.

The one step that changes the shape: the forward model of upscaling is ``y = S_s(k * x) + n``
(:mod:`microgan.core.sampling`), so in a chain it comes after the blur and before the noise and
compression, which a camera adds to the pixels it records (``gauss:1.5+down:2+noise:0.01``). The input's
sides must be multiples of S (``crop_to_scale`` the HR crop first: evaluation and training do); the
sample type is kept (integers rounded), so the LR image is what a camera with coarser pixels writes.
"""
from __future__ import annotations

from typing import Optional

import numpy as np

from microgan.core.sampling import area_mean, check_scale
from microgan.data.degrade.base import Degradation, Spec
from microgan.data.io import from_float, to_float
from microgan.registry import DEGRADATIONS


@DEGRADATIONS.register("downsample")
class Downsample(Degradation):
    """Area sampling by ``factor`` (an integer of :data:`microgan.core.sampling.SCALES`)."""

    name = "downsample"

    def __init__(self, factor: int = 2) -> None:
        self.factor = check_scale(factor)

    @property
    def scale(self) -> int:
        return self.factor

    def __call__(self, array: np.ndarray, rng: Optional[np.random.Generator] = None) -> np.ndarray:
        if array.dtype.kind == "f":
            return area_mean(array, self.factor)
        return from_float(area_mean(to_float(array), self.factor), array.dtype)

    def spec(self) -> Spec:
        return {"type": self.name, "factor": self.factor}
