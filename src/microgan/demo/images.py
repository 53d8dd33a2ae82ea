"""The demo's images: which raw fields it segments, copied to ``OUT/source/<section>/<split>/``.

Two sections, so a newcomer sees both what the models were made for and what they were not:

* **blood smears**: the 16 BCCD test-split fields the package ships (:mod:`microgan.data.samples`;
  twelve scored, four to tune the baselines on), or, with ``--data``, a spread of a BCCD copy's own
  test and validation images. No bundled model trained or was validated on BCCD's test split.
* **held out**: scikit-image's two microscopy images (a gray single cell, an RGB tissue section),
  inside its wheel, a sample type no bundled model trained or was tuned on.
"""
from __future__ import annotations

import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence

from microgan.errors import MicroGANError

#: scikit-image's images are a gray single cell and a dense RGB tissue section, not blood smears:
#: the BCCD-tuned segmentation merges the tissue into one object. Without dilation and with a
#: smaller minimum area it cuts nuclei and gland fragments of 14..90 px (measured in demo-notes).
#: :class:`~microgan.data.segment.SegmentationParams` keyword arguments.
SKIMAGE_SEGMENTATION = {"dilate_iterations": 0, "min_area": 150}
#: Row bands of the tissue image that stand in for the missing splits (fractions of its height):
#: the middle band tunes the baselines, the bottom is scored (the top half is never used).
SKIMAGE_BANDS = {"val": (0.5, 0.6875), "test": (0.6875, 1.0)}


@dataclass
class DemoImages:
    """The raw images the demo copied to ``dest/<split>/`` and how to segment them."""

    origin: str  # a phrase for the console and the page
    counts: Dict[str, int]  # images per split
    segmentation: Dict[str, Any] = field(default_factory=dict)  # SegmentationParams changes from the defaults
    blood_smears: bool = True  # False for the held-out section, unlike the bundled models' training data


def spread(items: Sequence[Any], n: int) -> List[Any]:
    """``n`` items evenly spaced over ``items`` (all of them when there are fewer): a quick demo
    still sees smears from across the data set rather than its first few files."""
    import numpy as np

    if n >= len(items):
        return list(items)
    return [items[i] for i in np.unique(np.linspace(0, len(items) - 1, n).round().astype(int))]


def bundled_images(dest: Path, train: bool) -> DemoImages:
    """The package's BCCD fields: ``score`` ones to test, ``tune`` ones to val (and, with ``train``,
    to train as well: the scored fields are never trained on)."""
    from microgan.data.samples import sample_fields

    counts: Dict[str, int] = {}
    splits = {"test": "score", "val": "tune", **({"train": "tune"} if train else {})}
    for split, role in splits.items():
        (dest / split).mkdir(parents=True, exist_ok=True)
        for f in sample_fields(role):
            shutil.copyfile(f.path, dest / split / f.path.name)
        counts[split] = len(sample_fields(role))
    return DemoImages(origin="BCCD blood smears shipped with MicroGAN (test split, MIT)", counts=counts)


def bccd_images(root: Path, dest: Path, images: int, val_images: int, train_images: Optional[int]) -> DemoImages:
    """Copy a spread of BCCD's own test and val (and train) images to ``dest/<split>/`` unchanged."""
    from microgan.data.sources import BCCDSource

    entries = BCCDSource(root, crops="segment").images()  # segment: no annotation parsing needed
    wanted = {"test": images, "val": val_images, **({"train": train_images} if train_images else {})}
    counts: Dict[str, int] = {}
    for split, n in wanted.items():
        chosen = spread([e for e in entries if e.split_hint == split], n)
        if not chosen:
            raise MicroGANError(f"{root}: BCCD lists no {split} images (ImageSets/Main/{split}.txt)")
        (dest / split).mkdir(parents=True, exist_ok=True)
        for entry in chosen:
            shutil.copyfile(entry.path, dest / split / entry.path.name)
        counts[split] = len(chosen)
    return DemoImages(origin=f"BCCD blood smears from {root}", counts=counts)


def skimage_images(dest: Path) -> DemoImages:
    """scikit-image's bundled microscopy, written as PNG: ``cell`` (a gray single cell, 660x550) is
    scored whole; ``immunohistochemistry`` (RGB tissue, 512x512) is cut into row bands that stand in
    for the splits (:data:`SKIMAGE_BANDS`), so the baselines are tuned on pixels that are never scored."""
    import numpy as np
    from skimage import data as skdata

    from microgan.data.io import write_image

    counts: Dict[str, int] = {}

    def put(split: str, name: str, array: "np.ndarray") -> None:
        write_image(dest / split / f"{name}.png", array)
        counts[split] = counts.get(split, 0) + 1

    put("test", "cell", skdata.cell())
    tissue = skdata.immunohistochemistry()
    for split, (top, bottom) in SKIMAGE_BANDS.items():
        rows = slice(round(top * tissue.shape[0]), round(bottom * tissue.shape[0]))
        put(split, f"immunohistochemistry-{split}", np.ascontiguousarray(tissue[rows]))
    origin = "scikit-image's cell and tissue images (a sample type no bundled model trained on)"
    return DemoImages(origin=origin, counts=counts, segmentation=dict(SKIMAGE_SEGMENTATION), blood_smears=False)
