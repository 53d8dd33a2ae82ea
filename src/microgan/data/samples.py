"""One real field, for trying the tools without preparing data of one's own.

The napari plugin offers it (and its blurred copy) as sample data, and the bioimage.io export cuts
its test tensors and cover from it. It is a single BCCD test-split field (MIT licence), read from
the BCCD data set where :func:`microgan.data.sources.find_bccd` finds it (``$MICROGAN_BCCD``,
``../shared/data/bccd``, ``~/.cache/microgan/bccd``): the package does not carry data. The blurred
copy is made here with the paper's degradation (:func:`microgan.data.degrade.paper_degradation`),
the one the paper's models were trained to undo.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from microgan.data.degrade import paper_degradation
from microgan.data.io import read_image
from microgan.data.sources import find_bccd

#: BCCD ``JPEGImages/BloodImage_00011.jpg`` (test split), unmodified.
BCCD_FIELD_NAME = "BloodImage_00011.jpg"
#: Shown next to the sample wherever it is offered (the MIT licence asks for the notice).
BCCD_ATTRIBUTION = "BCCD BloodImage_00011 (test split), Shenggan/BCCD_Dataset, MIT licence (c) 2017 shenggan"


def bccd_field_path() -> Path:
    """Where the sample field is; a :class:`~microgan.errors.MicroGANError` saying where BCCD was
    looked for when it is not there."""
    return find_bccd() / "JPEGImages" / BCCD_FIELD_NAME


def bccd_field() -> np.ndarray:
    """The BCCD sample field: (480, 640, 3) uint8 RGB."""
    return read_image(bccd_field_path()).array


def blurred_bccd_field() -> np.ndarray:
    """The sample field degraded as the paper's training pairs are (15x15 Gaussian, sigma 2.6)."""
    return paper_degradation()(bccd_field())
