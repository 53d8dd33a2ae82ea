"""Degradations by name: a compact command-line spelling and the robustness grid of evaluation.

``microgan evaluate --degradation TEXT`` makes the LR crops from the HR crops on the fly, so one
prepared folder serves every degradation. TEXT is one of

* a compact chain of steps joined by ``+``: ``paper`` (the paper's 15x15 Gaussian, sigma 2.6),
  ``gauss:S`` (Gaussian blur, sigma S px), ``defocus:R`` (disk of radius R px), ``noise:S``
  (Gaussian noise, S of the full range), ``poisson:PEAK``, ``jpeg:Q``, ``down:S`` (the camera's area
  sampling by S, after the blur and before the noise: ``gauss:1.5+down:2+noise:0.01``); e.g.
  ``gauss:1.5+noise:0.01``;
* a JSON spec (``{"type": "blur", "sigma": 2, "anisotropy": 1.5, "angle": 30}``).

:data:`GRID` is the fixed set every model and baseline is measured on (docs/results.md): the
paper's clean blur, a mild and a strong Gaussian each clean and with two camera-noise levels, and
a defocus. The compact text doubles as the cell's name in reports.
"""
from __future__ import annotations

import json
from typing import Callable, Dict, List

from microgan.data.degrade.base import Compose, Degradation, build_degradation
from microgan.data.degrade.blur import Blur, DefocusBlur, GaussianBlur
from microgan.data.degrade.noise import JPEG, GaussianNoise, PoissonNoise
from microgan.data.degrade.sample import Downsample
from microgan.errors import ConfigError

GRID = (
    "paper",
    "gauss:1.5",
    "gauss:1.5+noise:0.01",
    "gauss:1.5+noise:0.03",
    "gauss:3.5",
    "gauss:3.5+noise:0.01",
    "gauss:3.5+noise:0.03",
    "defocus:4",
)

_STEPS: Dict[str, Callable[[float], Degradation]] = {
    "gauss": lambda v: Blur(sigma=v),
    "defocus": lambda v: DefocusBlur(radius=v),
    "noise": lambda v: GaussianNoise(sigma=v),
    "poisson": lambda v: PoissonNoise(peak=v),
    "jpeg": lambda v: JPEG(quality=v),
    "down": lambda v: Downsample(factor=v),
}


def _step(token: str) -> Degradation:
    if token == "paper":
        return GaussianBlur()
    kind, sep, value = token.partition(":")
    if not sep or kind not in _STEPS:
        known = ", ".join(["paper"] + [f"{k}:VALUE" for k in _STEPS])
        raise ConfigError(f"degradation step '{token}' is not one of {known}")
    try:
        number = float(value)
    except ValueError:
        raise ConfigError(f"degradation step '{token}': '{value}' is not a number") from None
    return _STEPS[kind](number)


#: Steps that blur: the sampling of upscaling comes after the last of them (and before any noise).
_BLURS = ("paper", "gauss", "defocus")


def with_sampling(text: str, scale: int) -> str:
    """A compact grid cell with the camera's sampling by ``scale`` inserted after its last blur step:
    ``gauss:1.5+noise:0.01`` -> ``gauss:1.5+down:2+noise:0.01`` (the grid's cells at x2 and x4).
    ``scale`` 1 returns the cell as it is."""
    if scale == 1:
        return text
    tokens = [t.strip() for t in text.split("+") if t.strip()]
    blurs = [i for i, t in enumerate(tokens) if t.partition(":")[0] in _BLURS]
    if not blurs:
        raise ConfigError(f"degradation '{text}' has no blur step to sample after")
    tokens.insert(blurs[-1] + 1, f"down:{scale:d}")
    return "+".join(tokens)


def parse_degradation_text(text: str) -> Degradation:
    """A fixed or random degradation from its compact spelling or a JSON spec (module docstring)."""
    text = text.strip()
    if text.startswith("{"):
        try:
            spec = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ConfigError(f"degradation {text!r} is not valid JSON ({exc})") from None
        return build_degradation(spec)
    steps: List[Degradation] = [_step(token.strip()) for token in text.split("+") if token.strip()]
    if not steps:
        raise ConfigError("empty degradation")
    return steps[0] if len(steps) == 1 else Compose(steps)
