"""Labelled crops for ``microgan classify``: from a prepared folder's manifest or a folder per class.

Two layouts are accepted:

* a prepared folder (``manifest.csv``, the output of ``microgan prepare``): every crop with a
  non-empty ``label`` takes part, its HR and LR files are the ``hr`` and ``lr`` inputs, and its
  ``source`` (the micrograph it was cut from) is the group that folds keep together;
* ``DATA/<class>/*.png|jpg|tif`` for a user's own labelled images: the images as given are the
  ``lr`` input (the ones a restoration model would be applied to); there is no ``hr``. Each file is
  its own group, since nothing says which files come from one micrograph.

The prepare split (train/val/test) is ignored: classification runs its own cross-validation over
all labelled crops, as the paper does.
"""
from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Union

from microgan.core.files import IMAGE_SUFFIXES
from microgan.errors import MicroGANError

PathLike = Union[str, Path]


@dataclass(frozen=True)
class LabelledCrop:
    """One labelled image; ``hr`` is None where the layout has no high-resolution counterpart."""

    id: str
    group: str
    label: str
    lr: Path
    hr: Optional[Path]
    split: str = ""  # the prepare split (train/val/test); '' for the folder-per-class layout
    degradation: str = ""  # the manifest's degradation spec (JSON) that made ``lr``


@dataclass
class LabelledData:
    root: Path
    layout: str  # "prepared" or "folders"
    crops: List[LabelledCrop]
    classes: List[str]
    skipped_unlabelled: int
    #: the data set the crops were cut from (``prepare.json``'s ``source``; {} when unknown)
    source: Dict[str, object] = field(default_factory=dict)

    def subset(self, keep: Sequence[int]) -> "LabelledData":
        """The same data restricted to the crops at ``keep`` (classes kept, so tables stay aligned)."""
        return replace(self, crops=[self.crops[i] for i in keep])

    @property
    def labels(self) -> List[int]:
        index = {c: i for i, c in enumerate(self.classes)}
        return [index[c.label] for c in self.crops]

    @property
    def groups(self) -> List[str]:
        return [c.group for c in self.crops]

    def class_counts(self) -> Dict[str, int]:
        counts = Counter(c.label for c in self.crops)
        return {name: counts[name] for name in self.classes}


def _from_manifest(root: Path) -> LabelledData:
    from microgan.data.manifest import read_manifest

    crops, skipped = [], 0
    for rec in read_manifest(root):
        if not rec.label:
            skipped += 1
            continue
        crops.append(LabelledCrop(rec.id, rec.source, rec.label, root / rec.lr_path, root / rec.hr_path, rec.split, rec.degradation))
    return LabelledData(root, "prepared", crops, sorted({c.label for c in crops}), skipped, _prepared_source(root))


def _prepared_source(root: Path) -> Dict[str, object]:
    """``prepare.json``'s source entry (type, data, crop route), or {} if it cannot be read."""
    try:
        source = json.loads((root / "prepare.json").read_text(encoding="utf-8")).get("source")
    except (OSError, ValueError, AttributeError):
        return {}
    return dict(source) if isinstance(source, dict) else {}


def _from_folders(root: Path) -> LabelledData:
    crops = []
    for class_dir in sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")):
        for path in sorted(class_dir.iterdir()):
            if path.suffix.lower() in IMAGE_SUFFIXES and path.is_file():
                rel = path.relative_to(root).as_posix()
                crops.append(LabelledCrop(rel, rel, class_dir.name, path, None))
    return LabelledData(root, "folders", crops, sorted({c.label for c in crops}), 0)


def load_labelled(data: PathLike) -> LabelledData:
    """Read the labelled crops of ``data`` (prepared folder or folder per class); at least two classes."""
    root = Path(data)
    if not root.is_dir():
        raise MicroGANError(f"{root}: no such folder (expected a prepared folder or one sub-folder per class)")
    labelled = _from_manifest(root) if (root / "manifest.csv").is_file() else _from_folders(root)
    if not labelled.crops:
        what = "no labelled crops in manifest.csv" if labelled.layout == "prepared" else (
            "no manifest.csv and no <class>/ sub-folders holding .png/.jpg/.tif images"
        )
        raise MicroGANError(f"{root}: {what}")
    if len(labelled.classes) < 2:
        raise MicroGANError(f"{root}: classification needs at least two classes, found {labelled.classes}")
    return labelled
