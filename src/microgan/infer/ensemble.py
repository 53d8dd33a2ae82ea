"""The x8 self-ensemble: average the network's answers for the eight rotations and mirror images.

A microscope has no preferred direction (a cell rotated or mirrored is still a cell, and the
evaluation blurs are symmetric under the square's eight symmetries), but a trained network is only
approximately equivariant. Restoring the image turned and mirrored each of the eight ways (the
dihedral group of the square), turning each answer back and averaging cancels part of the
network's errors: measured +0.06 to +0.10 dB on BCCD test crops for ``microgan-blind``
(``docs/paper-notes.md``, inference table; per grid cell in ``docs/results.md``), for eight times
the compute. The averaging of transformed test inputs is the "self-ensemble" of Lim et al. (EDSR+,
2017). Images with a built-in direction (DIC shear, scan lines) are not symmetric under turns and
mirrors; there it may not help.

The symmetries act on the padded canvas, whose sides are multiples of the generator's stride, and
quarter turns and mirrors keep them so: the ensemble of a tile equals the ensemble of the whole
image on the tile's kept part, exactly as the plain pass does. (Restoring a turned image equals
turning the restored one where the padding splits evenly, e.g. sides that are multiples of the
stride; an odd padding pixel goes after the image, so it moves under a turn.)
"""
from __future__ import annotations

from typing import Callable, Tuple

import numpy as np

#: Added to a method's name for its self-ensembled variant (``evaluate --self-ensemble``, the grid).
ENSEMBLE_SUFFIX = "+x8"
#: (quarter turns, mirrored) for the eight symmetries of the square.
SYMMETRIES: Tuple[Tuple[int, bool], ...] = tuple((turns, mirrored) for turns in range(4) for mirrored in (False, True))


def _apply(x: np.ndarray, turns: int, mirrored: bool) -> np.ndarray:
    """Turn ``(N, C, H, W)`` by ``turns`` quarter turns, then mirror left-right."""
    y = np.rot90(x, turns, axes=(2, 3))
    return y[..., ::-1] if mirrored else y


def _undo(y: np.ndarray, turns: int, mirrored: bool) -> np.ndarray:
    """The inverse of :func:`_apply`: mirror back, then turn back."""
    y = y[..., ::-1] if mirrored else y
    return np.rot90(y, -turns, axes=(2, 3))


def dihedral_mean(run: Callable[[np.ndarray], np.ndarray], batch: np.ndarray) -> np.ndarray:
    """Mean of ``undo(run(apply(batch)))`` over :data:`SYMMETRIES` (``run``: one network pass on
    ``(N, C, H, W)`` float32, as a backend takes it). Passes run one after another, so peak memory
    is one pass plus the running sum."""
    total = np.zeros(batch.shape, dtype=np.float32)
    for turns, mirrored in SYMMETRIES:
        total += _undo(run(np.ascontiguousarray(_apply(batch, turns, mirrored))), turns, mirrored)
    total /= len(SYMMETRIES)
    return total
