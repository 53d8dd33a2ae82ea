"""Sample data contributions: the BCCD field shipped in the package, sharp and blurred.

A new user opens *File > Open Sample > MicroGAN > BCCD blood smear, blurred* and restores it with
the bundled model, no data of their own needed; the sharp field is the reference to compare with.
"""
from __future__ import annotations

from typing import Any, Dict, List, Tuple

import numpy as np

from microgan.data import samples

LayerData = List[Tuple[np.ndarray, Dict[str, Any], str]]


def _layer(array: np.ndarray, name: str, how: str) -> LayerData:
    meta = {"source": samples.BCCD_ATTRIBUTION, "made": how}
    return [(array, {"name": name, "rgb": True, "metadata": meta}, "image")]


def bccd_field() -> LayerData:
    """The shipped BCCD field as it was recorded (640x480 RGB, uint8)."""
    return _layer(samples.bccd_field(), "BCCD field", "as recorded")


def blurred_bccd_field() -> LayerData:
    """The same field blurred with the paper's 15x15 Gaussian, what the bundled model restores."""
    return _layer(samples.blurred_bccd_field(), "BCCD field (blurred)", "15x15 Gaussian blur, sigma 2.6")
