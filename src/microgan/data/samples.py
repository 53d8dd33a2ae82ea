"""Real blood smears in the package, for trying the tools before preparing data of one's own.

The package ships 16 BCCD fields (``microgan/data/fields/``, 640x480 JPEG, about 0.33 MB in all,
MIT licence with BCCD's notice beside them), all from BCCD's **test split**, which no bundled model
trained or was validated on, so a demo scored on them is scored on images the models never saw.
``fields.json`` lists each file's SHA-256 and role: ``score`` (the demo's test images) or ``tune``
(the images its baselines are tuned on, never scored). :func:`sample_fields` checks every file
against its checksum before it is used: a damaged install says so instead of scoring garbage.
``scripts/sample_fields.py`` rebuilds the folder from a BCCD copy.

napari's sample data is one of them (:data:`NAPARI_FIELD`) and its blurred copy, made here with the
paper's degradation (:func:`microgan.data.degrade.paper_degradation`); the bioimage.io export cuts
its test tensors from that blurred copy.
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import List

import numpy as np

from microgan.data.degrade import paper_degradation
from microgan.data.io import read_image
from microgan.errors import MicroGANError

FIELDS_DIR = Path(str(resources.files("microgan.data").joinpath("fields")))
ROLES = ("score", "tune")
#: Shown next to the samples wherever they are offered (the MIT licence asks for the notice).
BCCD_ATTRIBUTION = "BCCD (Shenggan/BCCD_Dataset, test split), MIT licence (c) 2017 shenggan"


@dataclass(frozen=True)
class SampleField:
    path: Path
    sha256: str
    role: str  # "score" or "tune"


def _manifest() -> dict:
    try:
        return json.loads((FIELDS_DIR / "fields.json").read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise MicroGANError(f"{FIELDS_DIR / 'fields.json'}: the package's sample fields are missing or damaged "
                            f"({exc}); reinstall microgan") from None


def sample_fields(role: str = "") -> List[SampleField]:
    """The bundled fields (those of ``role`` when given), each checked against its SHA-256."""
    fields = []
    for entry in _manifest()["fields"]:
        field = SampleField(FIELDS_DIR / entry["file"], entry["sha256"], entry["role"])
        if role and field.role != role:
            continue
        try:
            digest = hashlib.sha256(field.path.read_bytes()).hexdigest()
        except OSError as exc:
            raise MicroGANError(f"{field.path}: a bundled sample field cannot be read ({exc.strerror}); reinstall microgan") from None
        if digest != field.sha256:
            raise MicroGANError(f"{field.path}: a bundled sample field does not match its checksum in fields.json; "
                                "reinstall microgan")
        fields.append(field)
    return fields


#: The field napari offers (BCCD ``BloodImage_00011``, test split).
NAPARI_FIELD = "BloodImage_00011.jpg"


def bccd_field_path() -> Path:
    """The napari sample field's file, checked."""
    name = _manifest().get("napari_sample", NAPARI_FIELD)
    for field in sample_fields():
        if field.path.name == name:
            return field.path
    raise MicroGANError(f"{FIELDS_DIR}: fields.json does not list the sample field {name}; reinstall microgan")


def bccd_field() -> np.ndarray:
    """The napari sample field: (480, 640, 3) uint8 RGB."""
    return read_image(bccd_field_path()).array


def blurred_bccd_field() -> np.ndarray:
    """The sample field degraded as the paper's training pairs are (15x15 Gaussian, sigma 2.6)."""
    return paper_degradation()(bccd_field())
