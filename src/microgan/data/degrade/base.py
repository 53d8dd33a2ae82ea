"""The degradation contract, parameters that may be ranges, and the combinators.

A degradation maps an HR array to its LR partner: ``degradation(array, rng) -> array`` with the same
sample type and, unless it samples (:attr:`Degradation.scale` > 1, the ``downsample`` step of
upscaling), the same shape, so HR and LR pair pixel for pixel; a sampling degradation divides each
side by its scale (the HR sides must be multiples of it). Every randomness is drawn from the
``numpy.random.Generator`` passed in, so a crop's LR image is a function of its seed.

A numeric parameter is either a number (fixed) or a ``[low, high]`` pair: then each call draws it
uniformly (or log-uniformly where the parameter is a scale, such as a photon count). A degradation
with a range is *random*: training draws a fresh one per crop visit; a fixed one (every parameter a
number) is what evaluation uses, and a fixed blur knows its PSF (:meth:`Degradation.psf`), which the
classical baselines need.
"""
from __future__ import annotations

import math
from typing import Any, Dict, List, Optional, Sequence, Tuple, Union

import numpy as np

from microgan.errors import ConfigError
from microgan.registry import DEGRADATIONS

Spec = Dict[str, Any]
Number = Union[int, float]
Param = Union[Number, Sequence[Number]]


class Bounds:
    """A parameter: a fixed number or a ``[low, high]`` range drawn per call."""

    def __init__(self, value: Param, name: str, minimum: float = 0.0, log: bool = False, strict: bool = False,
                 maximum: float = math.inf) -> None:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            low = high = float(value)
        elif isinstance(value, (list, tuple)) and len(value) == 2 and all(isinstance(v, (int, float)) for v in value):
            low, high = float(value[0]), float(value[1])
        else:
            raise ConfigError(f"{name} must be a number or a [low, high] pair, got {value!r}")
        too_small = (lambda v: v <= minimum) if strict else (lambda v: v < minimum)
        if too_small(low) or high < low or not math.isfinite(high) or math.isnan(low):
            relation = ">" if strict else ">="
            raise ConfigError(f"{name} must be {relation} {minimum:g} with low <= high, got {value!r}")
        if high > maximum:  # a kernel wider than any image, or an allocation of terabytes
            raise ConfigError(f"{name} must be at most {maximum:g}, got {value!r}")
        self.low, self.high, self.log, self.name = low, high, log, name

    @property
    def fixed(self) -> bool:
        return self.low == self.high

    def draw(self, rng: Optional[np.random.Generator]) -> float:
        if self.fixed:
            return self.low
        if rng is None:
            raise ConfigError(f"a random {self.name} needs a numpy Generator so results are reproducible")
        if self.log and self.low > 0:
            return float(math.exp(rng.uniform(math.log(self.low), math.log(self.high))))
        return float(rng.uniform(self.low, self.high))

    def spec(self) -> Param:
        return self.low if self.fixed else [self.low, self.high]


class Degradation:
    """Base: ``degradation(array, rng) -> array`` of the same sample type and the shape divided by
    :attr:`scale` (1: the same shape)."""

    name = ""

    @property
    def scale(self) -> int:
        """How many times coarser the LR pixels are than the HR ones (1: none, the same grid)."""
        return 1

    def __call__(self, array: np.ndarray, rng: Optional[np.random.Generator] = None) -> np.ndarray:
        raise NotImplementedError

    def apply(self, array: np.ndarray, rng: Optional[np.random.Generator] = None) -> Tuple[np.ndarray, Optional[np.ndarray]]:
        """The degraded array and the PSF this very call blurred it with (None: it did not blur):
        what a model told the PSF is given beside its training input. Draws exactly what
        ``__call__`` draws, so a crop's LR image is the same either way."""
        return self(array, rng), None

    def spec(self) -> Spec:
        raise NotImplementedError

    @property
    def fixed(self) -> bool:
        """True when every call gives the same result for the same input (up to noise draws)."""
        return True

    def psf(self) -> Optional[np.ndarray]:
        """The normalized 2-D blur kernel this degradation applies, None if it does not blur.
        Random blurs have no single PSF and raise."""
        return None

    def scaled(self, factor: float) -> "Degradation":
        """The same degradation with its blur width scaled by ``factor``: the PSF a user guesses
        when they misjudge their optics (evaluation's mis-specified baselines)."""
        return self


@DEGRADATIONS.register("identity")
class Identity(Degradation):
    """No change: lets a random choice leave some crops sharp."""

    name = "identity"

    def __call__(self, array: np.ndarray, rng: Optional[np.random.Generator] = None) -> np.ndarray:
        return array.copy()

    def spec(self) -> Spec:
        return {"type": self.name}


@DEGRADATIONS.register("compose")
class Compose(Degradation):
    """Apply ``steps`` (degradations or their specs) in order, sharing one Generator."""

    name = "compose"

    def __init__(self, steps: Sequence[Union[Degradation, Spec]]) -> None:
        if not isinstance(steps, (list, tuple)) or not steps:
            raise ConfigError(f"compose needs a non-empty list of steps, got {steps!r}")
        self.steps: List[Degradation] = [build_degradation(s) for s in steps]

    def __call__(self, array: np.ndarray, rng: Optional[np.random.Generator] = None) -> np.ndarray:
        for step in self.steps:
            array = step(array, rng)
        return array

    def apply(self, array: np.ndarray, rng: Optional[np.random.Generator] = None) -> Tuple[np.ndarray, Optional[np.ndarray]]:
        kernels = []
        sampled = False
        for step in self.steps:
            array, kernel = step.apply(array, rng)
            if kernel is not None:
                _blur_on_fine_grid(sampled)
                kernels.append(kernel)
            sampled = sampled or step.scale > 1
        return array, _chain(kernels)

    def spec(self) -> Spec:
        return {"type": self.name, "steps": [s.spec() for s in self.steps]}

    @property
    def scale(self) -> int:
        return int(np.prod([s.scale for s in self.steps]))

    @property
    def fixed(self) -> bool:
        return all(s.fixed for s in self.steps)

    def psf(self) -> Optional[np.ndarray]:
        """The blurs' kernels convolved together (noise and compression have none), on the HR grid."""
        kernels = []
        sampled = False
        for step in self.steps:
            kernel = step.psf()
            if kernel is not None:
                _blur_on_fine_grid(sampled)
                kernels.append(kernel)
            sampled = sampled or step.scale > 1
        return _chain(kernels)

    def scaled(self, factor: float) -> "Degradation":
        return Compose([s.scaled(factor) for s in self.steps])


@DEGRADATIONS.register("random-choice")
class RandomChoice(Degradation):
    """One of ``options`` per call, drawn with ``weights`` (default equal): e.g. a Gaussian or a
    defocus blur, so the model meets both kinds of optics."""

    name = "random-choice"

    def __init__(self, options: Sequence[Union[Degradation, Spec]], weights: Optional[Sequence[float]] = None) -> None:
        if not isinstance(options, (list, tuple)) or not options:
            raise ConfigError(f"random-choice needs a non-empty list of options, got {options!r}")
        self.options = [build_degradation(o) for o in options]
        w = np.ones(len(self.options)) if weights is None else np.asarray(weights, dtype=np.float64)
        if w.shape != (len(self.options),) or (w < 0).any() or w.sum() <= 0:
            raise ConfigError(f"random-choice weights must be {len(self.options)} non-negative numbers, got {weights!r}")
        self.weights = w / w.sum()
        if len({o.scale for o in self.options}) > 1:
            raise ConfigError(f"random-choice options must share one scale (the LR shape), got {[o.scale for o in self.options]}")

    @property
    def scale(self) -> int:
        return self.options[0].scale

    def __call__(self, array: np.ndarray, rng: Optional[np.random.Generator] = None) -> np.ndarray:
        return self.apply(array, rng)[0]

    def apply(self, array: np.ndarray, rng: Optional[np.random.Generator] = None) -> Tuple[np.ndarray, Optional[np.ndarray]]:
        if rng is None:
            raise ConfigError("random-choice needs a numpy Generator so results are reproducible")
        return self.options[int(rng.choice(len(self.options), p=self.weights))].apply(array, rng)

    def spec(self) -> Spec:
        return {"type": self.name, "options": [o.spec() for o in self.options], "weights": self.weights.tolist()}

    @property
    def fixed(self) -> bool:
        return False

    def psf(self) -> Optional[np.ndarray]:
        raise ConfigError("a random-choice degradation has no single PSF")


@DEGRADATIONS.register("maybe")
class Maybe(Degradation):
    """``step`` with probability ``p``, else nothing (e.g. JPEG on 30 % of the crops)."""

    name = "maybe"

    def __init__(self, step: Union[Degradation, Spec], p: float = 0.5) -> None:
        if not 0.0 <= float(p) <= 1.0:
            raise ConfigError(f"maybe: p must lie in [0, 1], got {p!r}")
        self.step, self.p = build_degradation(step), float(p)
        if self.step.scale != 1 and self.p != 1.0:
            raise ConfigError("maybe: a sampling step cannot be applied at random (the LR shape would vary)")

    @property
    def scale(self) -> int:
        return self.step.scale

    def __call__(self, array: np.ndarray, rng: Optional[np.random.Generator] = None) -> np.ndarray:
        return self.apply(array, rng)[0]

    def apply(self, array: np.ndarray, rng: Optional[np.random.Generator] = None) -> Tuple[np.ndarray, Optional[np.ndarray]]:
        if rng is None:
            raise ConfigError("maybe needs a numpy Generator so results are reproducible")
        return self.step.apply(array, rng) if rng.random() < self.p else (array.copy(), None)

    def spec(self) -> Spec:
        return {"type": self.name, "step": self.step.spec(), "p": self.p}

    @property
    def fixed(self) -> bool:
        return self.p in (0.0, 1.0) and self.step.fixed

    def psf(self) -> Optional[np.ndarray]:
        if self.p == 1.0:
            return self.step.psf()
        if self.p == 0.0 or self.step.psf() is None:
            return None
        raise ConfigError("a blur applied at random has no single PSF")


def build_degradation(spec: Union[Degradation, Spec]) -> Degradation:
    """A degradation from its spec dict (``{"type": "gaussian-blur", "sigma": 2.6}``) or as is."""
    if isinstance(spec, Degradation):
        return spec
    return DEGRADATIONS.build(spec)


def _blur_on_fine_grid(sampled: bool) -> None:
    """A blur after the sampling would act on the coarse grid, where no PSF of the HR image lives."""
    if sampled:
        raise ConfigError("a blur step must come before the sampling (down:S): the PSF acts on the finer grid")


def _chain(kernels: Sequence[np.ndarray]) -> Optional[np.ndarray]:
    """Kernels applied one after another, as one normalized kernel (None for none)."""
    if not kernels:
        return None
    from scipy.signal import convolve2d

    out = kernels[0]
    for k in kernels[1:]:
        out = convolve2d(out, k)
    return out / out.sum()
