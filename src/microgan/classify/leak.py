"""No leak: a restoring model must not have seen the sharp originals of the crops it restores.

A model trained on a crop's HR image can reproduce it from the LR crop far better than it could
restore an unseen cell, so an ``sr:`` row would measure memory, not restoration. Checkpoints record
the source images of their training crops (``meta["training_data"]``, written by ``microgan
train``; the bundled models carry it too); here the classified crops are matched against them by
data set (``prepare.json``'s source type, and for a plain folder its path) and source image id, and
every crop from an image some ``sr:`` model trained on is left out of *every* input kind, so the
rows stay comparable. A checkpoint without the record cannot be checked: that is said, not hidden.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Dict, List, Mapping, Set, Tuple

from microgan.classify.data import LabelledData
from microgan.errors import MicroGANError


def _same_dataset(trained: Mapping[str, Any], ours: Mapping[str, Any]) -> bool:
    if not trained or not ours or trained.get("type") != ours.get("type"):
        return False
    if trained.get("type") == "folder":  # a user's folder: ids are only comparable within it
        return Path(str(trained.get("data", ""))).resolve() == Path(str(ours.get("data", ""))).resolve()
    return True  # a public data set (bccd, chula-rbc12): its image ids name the same images anywhere


def trained_images(meta: Mapping[str, Any], source: Mapping[str, Any]) -> Set[str]:
    """Source image ids of the checkpoint's training crops that come from the data set ``source``."""
    found: Set[str] = set()
    for folder in (meta.get("training_data") or {}).get("folders", []):
        if isinstance(folder, Mapping) and _same_dataset(folder.get("source") or {}, source):
            found.update(str(i) for i in folder.get("images", []))
    return found


def unseen(labelled: LabelledData, models: Dict[str, Mapping[str, Any]]) -> Tuple[LabelledData, List[str], Dict[str, Any]]:
    """``labelled`` without the crops of images any of ``models`` (``{input spec: checkpoint
    meta}``) trained on; notes for the log; the record for ``classify.json``."""
    notes: List[str] = []
    excluded: Set[str] = set()
    record: Dict[str, Any] = {}
    for spec, meta in models.items():
        if not (meta.get("training_data") or {}).get("folders"):
            notes.append(f"{spec}: its checkpoint records no training data, so a leak cannot be ruled out")
            record[spec] = {"checked": False}
            continue
        if not labelled.source:
            notes.append(f"{spec}: {labelled.root} records no data set (no prepare.json), so a leak cannot be ruled out")
            record[spec] = {"checked": False}
            continue
        seen = trained_images(meta, labelled.source) & set(labelled.groups)
        record[spec] = {"checked": True, "trained_on_images": len(seen)}
        if seen:
            excluded |= seen
            notes.append(f"{spec}: its model trained on {len(seen)} of these source images")
    if not excluded:
        return labelled, notes, {"models": record, "excluded_images": 0, "excluded_crops": 0}
    keep = [i for i, c in enumerate(labelled.crops) if c.group not in excluded]
    if not keep:
        raise MicroGANError(
            f"{labelled.root}: every labelled crop comes from a source image an sr: model trained on "
            f"({'; '.join(notes)}); nothing is left to classify without a leak"
        )
    dropped = len(labelled.crops) - len(keep)
    notes.append(
        f"no leak: classifying only the {len(keep)} crops of the {len(set(labelled.groups)) - len(excluded)} "
        f"source images no sr: model trained on ({dropped} crops of {len(excluded)} images left out of every input)"
    )
    return labelled.subset(keep), notes, {"models": record, "excluded_images": len(excluded), "excluded_crops": dropped}
