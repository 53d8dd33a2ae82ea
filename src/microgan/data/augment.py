"""Augmentations of a training pair, applied to the sharp crop before it is degraded.

Flips change nothing a cell's class or optics depend on and show the network each crop in four
orientations. The colour jitter (brightness, contrast, per-channel gain) imitates another lab's
stain and lamp: it is applied to the HR crop, and the LR crop is made from the jittered HR, so the
target keeps the input's colours. Jittering the LR crop alone would instead ask the network to undo
an unknown colour shift, which no restorer can know (docs/paper-notes.md).
"""
from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Dict

import numpy as np

from microgan.errors import ConfigError


@dataclass(frozen=True)
class Augment:
    """The config's ``data.augment`` section; amplitudes are fractions of the full range."""

    flips: bool = True
    brightness: float = 0.0  # added offset drawn from [-b, b]
    contrast: float = 0.0  # gain around the crop's mean drawn from [1 - c, 1 + c]
    colour: float = 0.0  # per-channel gain drawn from [1 - g, 1 + g] (stain and lamp colour)

    def __post_init__(self) -> None:
        for name in ("brightness", "contrast", "colour"):
            value = getattr(self, name)
            if not isinstance(value, (int, float)) or not 0.0 <= value < 1.0:
                raise ConfigError(f"data.augment.{name} must lie in [0, 1), got {value!r}")

    def spec(self) -> Dict[str, Any]:
        return asdict(self)

    def __call__(self, x01: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """A float (H, W) or (H, W, C) image in [0, 1], augmented with draws from ``rng``."""
        if self.flips:
            if rng.random() < 0.5:
                x01 = x01[:, ::-1]
            if rng.random() < 0.5:
                x01 = x01[::-1]
        if self.brightness or self.contrast or self.colour:
            channels = x01.shape[2] if x01.ndim == 3 else 1
            gain = 1.0 + rng.uniform(-self.contrast, self.contrast)
            mean = float(x01.mean())
            x01 = (x01 - mean) * gain + mean + rng.uniform(-self.brightness, self.brightness)
            if channels > 1:
                x01 = x01 * (1.0 + rng.uniform(-self.colour, self.colour, size=channels)).astype(np.float32)
            x01 = np.clip(x01, 0.0, 1.0)
        return np.ascontiguousarray(x01, dtype=np.float32)


def build_augment(section: Any) -> Augment:
    """``data.augment`` (a mapping, or null/false for none) as an :class:`Augment`."""
    if not section:
        return Augment(flips=False)
    if not isinstance(section, dict):
        raise ConfigError(f"data.augment must be a mapping of {', '.join(Augment.__dataclass_fields__)}, got {section!r}")
    unknown = sorted(set(section) - set(Augment.__dataclass_fields__))
    if unknown:
        raise ConfigError(f"unknown data.augment setting(s): {', '.join(unknown)}")
    return Augment(**section)
