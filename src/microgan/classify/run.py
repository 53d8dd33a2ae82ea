"""Downstream classification (the paper's Table 4): does restoration help recognise cells?

For every input kind (``hr``, ``lr``, ``sr:CHECKPOINT``...) the same classifier is trained with the
same budget on the same folds, so the only difference between the rows of the result is the
pre-processing of the images. Folds are stratified by class and grouped by source image
(:mod:`~microgan.classify.folds`); each fold's training part holds out a validation part
for model selection, as the paper's 80/10/10 split does.
"""
from __future__ import annotations

import hashlib
import os
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Callable, Dict, List, Optional, Sequence, Union

import numpy as np
import torch

from microgan.classify.data import LabelledData, load_labelled
from microgan.classify.fit import RECIPES, Recipe, extract_features, score, train_fold
from microgan.classify.folds import FoldSplit, cross_validation_splits
from microgan.classify.inputs import InputKind, LowRes, check_input, iter_images, kinds_from_specs, to_classifier_input
from microgan.classify.leak import unseen
from microgan.classify.networks import SplitClassifier
from microgan.classify.report import confusion_table, paired_differences, paired_table, summarize_input, summary_table, write_heatmap
from microgan.core.checkpoint import read_meta, resolve_model_path
from microgan.core.device import resolve_device
from microgan.core.files import file_digest
from microgan.data.degrade.presets import parse_degradation_text
from microgan.errors import MicroGANError
from microgan.registry import CLASSIFIERS

PathLike = Union[str, Path]


def default_cache_dir() -> Path:
    """Where restored crops are kept between runs: ``$XDG_CACHE_HOME/microgan/classify`` (or ``~/.cache``)."""
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "microgan" / "classify"


@dataclass
class ClassifySettings:
    folds: int = 5
    classifier: str = "efficientnet-lite0"
    finetune: bool = False
    #: None: the classifier's recipe (see ``classify.fit.RECIPES``)
    epochs: Optional[int] = None
    lr: Optional[float] = None
    batch_size: Optional[int] = None
    seed: int = 0
    resize: str = "stretch"
    val_fraction: float = 0.1
    vgg_weights: Optional[str] = None
    device: str = "auto"
    cache_dir: Optional[str] = None
    #: make the LR crops from the HR crops with this degradation (compact text or JSON; None: as prepared)
    degradation: Optional[str] = None
    degradation_seed: int = 0


def _build_classifier(settings: ClassifySettings, num_classes: int) -> SplitClassifier:
    spec: Dict[str, object] = {"type": settings.classifier, "num_classes": num_classes}
    if settings.classifier == "efficientnet-lite0":
        spec["finetune_blocks"] = 1 if settings.finetune else 0
    elif settings.finetune:
        raise MicroGANError(f"--finetune applies to efficientnet-lite0 only ({settings.classifier} has a fixed recipe)")
    if settings.classifier == "vgg16":
        spec["weights"] = settings.vgg_weights
    elif settings.classifier == "tiny":
        spec["seed"] = settings.seed
    return CLASSIFIERS.build(spec)


def _recipe(settings: ClassifySettings) -> Recipe:
    name = settings.classifier + ("+finetune" if settings.finetune else "")
    recipe = RECIPES[name]
    overrides = {k: v for k, v in (("epochs", settings.epochs), ("lr", settings.lr), ("batch_size", settings.batch_size)) if v is not None}
    return replace(recipe, **overrides)


#: settings a resumed run may differ in: the device (recorded per row, as restoring on another device
#: can change an ``sr:`` row's precision), the notes (worded per run) and the leak check (per ``sr:``
#: spec; the crops it leaves are compared through ``crops_sha1``)
_RESUMABLE_DIFFERENCES = ("device", "notes", "leak_check")


class ResumeMismatch(MicroGANError):
    """The earlier run that ``--resume`` would continue used other settings or crops."""


def _crops_digest(labelled: LabelledData) -> str:
    """Identity of the classified crops: ids, labels, source images (the folds' groups), prepare
    splits (classical baselines tune on val) and the degradation that made each LR crop."""
    text = "\n".join(f"{c.id}\t{c.label}\t{c.group}\t{c.split}\t{c.degradation}" for c in labelled.crops)
    return hashlib.sha1(text.encode()).hexdigest()


def _restorer_identity(kind: InputKind) -> Optional[str]:
    """The sha256 of an ``sr`` kind's weights: a finished row is reused only for the same model."""
    return file_digest(resolve_model_path(kind.checkpoint), "sha256") if kind.kind == "sr" else None


def _short(value: object, width: int = 60) -> str:
    text = str(value)
    return text if len(text) <= width else text[:width - 3] + "..."


def _reusable(previous: Optional[Dict[str, object]], settings_doc: Dict[str, object], kinds: Sequence[InputKind],
              identities: Dict[str, Optional[str]], log: Callable[[str], None]) -> Dict[str, Dict[str, object]]:
    """The finished rows of ``previous`` (an earlier, possibly interrupted run's document) that this
    run would compute again identically; raises :class:`ResumeMismatch` if ``previous`` was made
    with other settings or crops."""
    if not previous:
        return {}
    before = {k: v for k, v in dict(previous.get("settings", {})).items() if k not in _RESUMABLE_DIFFERENCES}
    now = {k: v for k, v in settings_doc.items() if k not in _RESUMABLE_DIFFERENCES}
    changed = sorted(k for k in set(before) | set(now) if before.get(k) != now.get(k))
    if changed:
        shown = "; ".join(f"{k}: {_short(before.get(k))} -> {_short(now.get(k))}" for k in changed)
        raise ResumeMismatch(f"cannot resume, the earlier run differs ({shown}): run with its settings, or --overwrite")
    reuse: Dict[str, Dict[str, object]] = {}
    rows = previous.get("inputs", {})
    for kind in kinds:
        row = rows.get(kind.spec) if isinstance(rows, dict) else None
        if isinstance(row, dict) and row.get("model_sha256") == identities[kind.spec]:
            reuse[kind.spec] = row
            log(f"  [{kind.spec}] finished in the earlier run: reused")
        elif isinstance(row, dict):
            log(f"  [{kind.spec}] the earlier run's row came from other model weights: computed again")
    return reuse


def run_classification(
    data: PathLike, inputs: Sequence[str], settings: ClassifySettings, out_dir: Optional[PathLike] = None,
    log: Callable[[str], None] = print, previous: Optional[Dict[str, object]] = None,
    on_progress: Optional[Callable[[Dict[str, object]], None]] = None,
) -> Dict[str, object]:
    """Cross-validate the classifier on every input kind; return the ``classify.json`` document.

    With ``out_dir``: one confusion heat map PNG and CSV per input kind and a ``summary.md``.
    ``previous``: the document of an interrupted run with the same settings, whose finished input
    kinds are taken over instead of computed again. ``on_progress`` receives the document after
    every input kind this call computes (``"complete"`` true once every kind is in), before the
    heat maps are drawn, so that a run of several hours loses at most the kind in progress.
    """
    labelled = load_labelled(data)
    kinds = kinds_from_specs(list(inputs))
    lowres = LowRes(parse_degradation_text(settings.degradation) if settings.degradation else None, settings.degradation_seed)
    if lowres.degradation is not None and not lowres.degradation.fixed:
        raise MicroGANError(f"degradation {settings.degradation}: classification needs a fixed degradation (no ranges)")
    for kind in kinds:  # every input must be servable before hours of work start
        check_input(kind, labelled, lowres)
    models = {k.spec: read_meta(resolve_model_path(k.checkpoint)) for k in kinds if k.kind == "sr"}
    labelled, notes, leak = unseen(labelled, models)
    for note in notes:
        log(f"note: {note}")
    device = str(resolve_device(settings.device))
    model = _build_classifier(settings, len(labelled.classes))  # first: an unknown name fails here
    recipe = _recipe(settings)
    labels = np.asarray(labelled.labels)
    splits = cross_validation_splits(labels, labelled.groups, settings.folds, settings.seed, settings.val_fraction)
    cache_dir = Path(settings.cache_dir) if settings.cache_dir else default_cache_dir()
    settings_doc: Dict[str, object] = {
        "data": str(Path(labelled.root).resolve()), "layout": labelled.layout, "crops": len(labelled.crops),
        "crops_sha1": _crops_digest(labelled),
        "source_images": len(set(labelled.groups)), "skipped_unlabelled": labelled.skipped_unlabelled,
        "folds": settings.folds, "val_fraction": settings.val_fraction, "seed": settings.seed,
        "classifier": settings.classifier, "finetune": settings.finetune, "input_size": model.input_size,
        "resize": settings.resize, "recipe": recipe.as_dict(), "device": device,
        "imbalance": "class-weighted cross-entropy, weights n/(C*n_c) from each fold's training part; "
                     "model selection on class-weighted validation loss",
        "degradation": lowres.degradation.spec() if lowres.degradation else "as prepared",
        "degradation_seed": settings.degradation_seed if lowres.degradation else None,
        "vgg_weights": str(Path(settings.vgg_weights).resolve()) if settings.classifier == "vgg16" and settings.vgg_weights else None,
        "leak_check": leak,
        "notes": notes,
    }
    log(
        f"{len(labelled.crops)} labelled crops from {len(set(labelled.groups))} source images, classes "
        + ", ".join(f"{k}={v}" for k, v in labelled.class_counts().items())
        + f"; {settings.folds} folds, classifier {settings.classifier}{' (fine-tuned)' if settings.finetune else ''}"
        f" on {device}"
    )
    identities = {k.spec: _restorer_identity(k) for k in kinds}  # each sr: checkpoint hashed once
    reused = _reusable(previous, settings_doc, kinds, identities, log)

    results: Dict[str, Dict[str, object]] = dict(reused)

    def document() -> Dict[str, object]:
        rows = {k.spec: results[k.spec] for k in kinds if k.spec in results}  # in --inputs order
        return {
            "classes": labelled.classes,
            "class_counts": labelled.class_counts(),
            "complete": len(rows) == len(kinds),
            "settings": settings_doc,
            "inputs": rows,
            "paired": paired_differences(rows),
        }

    for kind in kinds:
        if kind.spec in reused:
            continue
        torch.manual_seed(settings.seed)  # per input: a resumed run draws what an uninterrupted one would
        row = _run_input(kind, labelled, model, labels, splits, recipe, settings, cache_dir, device, log, lowres)
        row["device"] = device
        if identities[kind.spec] is not None:
            row["model_sha256"] = identities[kind.spec]
        results[kind.spec] = row
        if on_progress is not None:
            on_progress(document())
    doc = document()
    results = doc["inputs"]
    paired = doc["paired"]
    log("\n" + summary_table(results))
    if paired:
        log("\npaired per-fold differences (same folds, same crops)\n" + paired_table(paired))
    for kind in kinds:
        log(f"\nnormalized confusion, {kind.spec} (rows: true class)\n"
            + confusion_table(labelled.classes, results[kind.spec]["confusion"]))
    if out_dir is not None:
        _write_outputs(Path(out_dir), doc, kinds)
    return doc


def _run_input(
    kind: InputKind, labelled: LabelledData, model: SplitClassifier, labels: np.ndarray, splits: Sequence[FoldSplit],
    recipe: Recipe, settings: ClassifySettings, cache_dir: Path, device: str, log: Callable[[str], None], lowres: LowRes,
) -> Dict[str, object]:
    """Features once for this input kind, then every fold on them."""
    start = time.time()
    n = len(labelled.crops)
    images = (to_classifier_input(a, model.input_size, settings.resize) for a in iter_images(kind, labelled, cache_dir, device, lowres))
    step = max(1, n // 10)

    def progress(done: int) -> None:
        if done % step < 16 or done == n:
            log(f"  [{kind.spec}] features {done}/{n} ({time.time() - start:.0f}s)")

    feats = extract_features(model, images, n, device=device, progress=progress)
    per_fold: List[Dict[str, object]] = []
    for k, split in enumerate(splits):
        record = train_fold(model, feats, labels, split.train, split.val, recipe, settings.seed + k, device)
        record.update(score(model, feats, labels, split.test, device))
        counts = np.bincount(labels[split.test], minlength=len(labelled.classes))
        record.update({"fold": k, "n_train": int(len(split.train)), "n_val": int(len(split.val)),
                       "n_test": int(len(split.test)), "test_class_counts": counts.tolist()})
        per_fold.append(record)
        log(f"  [{kind.spec}] fold {k + 1}/{len(splits)}: accuracy {100 * record['accuracy']:.2f}%, "
            f"balanced {100 * record['balanced_accuracy']:.2f}%, macro F1 {record['macro_f1']:.3f} (best epoch {record['best_epoch']})")
    summary = summarize_input(per_fold, len(labelled.classes))
    summary["seconds"] = round(time.time() - start, 1)
    return summary


def _write_outputs(out: Path, doc: Dict[str, object], kinds: Sequence[InputKind]) -> None:
    out.mkdir(parents=True, exist_ok=True)
    classes = doc["classes"]
    sections = ["# Classification summary", "", summary_table(doc["inputs"]), ""]
    if doc["paired"]:
        sections += ["## Paired per-fold differences", "", paired_table(doc["paired"]), ""]
    for kind in kinds:
        r = doc["inputs"][kind.spec]
        write_heatmap(out / f"confusion-{kind.slug}.png", classes, r["confusion"],
                      f"{kind.spec}: accuracy {100 * r['accuracy']:.2f}% ± {100 * r['accuracy_std']:.2f}")
        rows = [",".join(["true\\predicted", *classes])]
        rows += [",".join([name, *(f"{v:.4f}" for v in row)]) for name, row in zip(classes, r["confusion"])]
        (out / f"confusion-{kind.slug}.csv").write_text("\n".join(rows) + "\n")
        sections += [f"## {kind.spec}", "", confusion_table(classes, r["confusion"]), ""]
    (out / "summary.md").write_text("\n".join(sections))
