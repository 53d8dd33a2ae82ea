"""One real field shipped inside the package, for trying the tools without data of one's own.

The napari plugin offers it (and its blurred copy) as sample data, and the bioimage.io export cuts
its test tensors and cover from it. It is a single BCCD test-split field (MIT licence, attribution
in ``sample_data/README.md``); the blurred copy is not shipped but made here with the paper's
degradation (:func:`microgan.data.degrade.paper_degradation`), the one the bundled model was
trained to undo, so it is exactly what the model expects.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from microgan.data.degrade import paper_degradation
from microgan.data.io import read_image

SAMPLE_DIR = Path(__file__).resolve().parent / "sample_data"
#: BCCD ``JPEGImages/BloodImage_00011.jpg`` (test split), unmodified.
BCCD_FIELD = SAMPLE_DIR / "bccd-BloodImage_00011.jpg"
#: Shown next to the sample wherever it is offered (the MIT licence asks for the notice).
BCCD_ATTRIBUTION = "BCCD BloodImage_00011 (test split), Shenggan/BCCD_Dataset, MIT licence (c) 2017 shenggan"


def bccd_field() -> np.ndarray:
    """The shipped BCCD field: (480, 640, 3) uint8 RGB."""
    return read_image(BCCD_FIELD).array


def blurred_bccd_field() -> np.ndarray:
    """The shipped field degraded as the paper's training pairs are (15x15 Gaussian, sigma 2.6)."""
    return paper_degradation()(bccd_field())
