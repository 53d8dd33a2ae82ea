"""Training and scoring one cross-validation fold of a :class:`~microgan.classify.networks.SplitClassifier`.

The frozen part of the classifier runs once per image (:func:`extract_features`); a fold then trains
only the tail and head on the cached features, with a class-weighted cross-entropy so that a
majority class (RBC is ~85% of BCCD's cells) cannot win the loss alone, and keeps the epoch with the
lowest class-weighted validation loss.
"""
from __future__ import annotations

import contextlib
import copy
from dataclasses import asdict, dataclass
from typing import Callable, Dict, Iterable, Iterator, Optional, Tuple

import numpy as np
import torch
from torch import nn

from microgan.classify.networks import SplitClassifier


@dataclass(frozen=True)
class Recipe:
    """A training budget; the same one is used for every input kind of a run."""

    epochs: int
    lr: float
    betas: Tuple[float, float] = (0.9, 0.999)
    weight_decay: float = 0.0
    batch_size: int = 64
    #: stop a fold after this many epochs without a lower validation loss (None: run every epoch).
    #: The best epoch is kept either way; this only skips epochs that could no longer be chosen
    #: unless the loss came back down, which buys hours when part of the backbone trains on a CPU.
    patience: Optional[int] = None

    def as_dict(self) -> Dict[str, object]:
        return {**asdict(self), "betas": list(self.betas)}


#: Defaults per classifier. vgg16 is the paper's (lr 1e-5, Adam beta 0.8, 20 epochs); the
#: frozen-feature head trains fast on 1280 numbers per crop, so it gets a larger rate.
RECIPES: Dict[str, Recipe] = {
    "efficientnet-lite0": Recipe(epochs=40, lr=1e-3, weight_decay=1e-4),
    "efficientnet-lite0+finetune": Recipe(epochs=15, lr=1e-4, weight_decay=1e-4, patience=3),
    "vgg16": Recipe(epochs=20, lr=1e-5, betas=(0.8, 0.999)),
    "tiny": Recipe(epochs=60, lr=1e-2),
}


def extract_features(
    model: SplitClassifier, images: Iterable[np.ndarray], count: int, batch_size: int = 16,
    device: str = "cpu", progress: Optional[Callable[[int], None]] = None,
) -> torch.Tensor:
    """Cached frozen features of ``count`` pre-processed images ``(3, S, S)`` float32 in [0, 1].
    Batches of 16 in channels-last order are the fastest on a CPU for EfficientNet."""
    model.frozen.to(device=device, memory_format=torch.channels_last)
    out: Optional[torch.Tensor] = None
    batch, done = [], 0

    def flush() -> None:
        nonlocal out, done
        x = torch.from_numpy(np.stack(batch)).to(device).contiguous(memory_format=torch.channels_last)
        feats = model.features(x).cpu()
        if out is None:
            out = torch.empty((count, *feats.shape[1:]), dtype=feats.dtype)
        out[done:done + len(batch)] = feats
        done += len(batch)
        batch.clear()
        if progress:
            progress(done)

    for img in images:
        batch.append(img)
        if len(batch) == batch_size:
            flush()
    if batch:
        flush()
    if out is None or done != count:
        raise ValueError(f"expected {count} images, got {done}")
    return out


def class_weights(labels: np.ndarray, num_classes: int) -> torch.Tensor:
    """``n / (C * n_c)`` for the classes present (0 for absent ones): every class weighs the same in total."""
    counts = np.bincount(labels, minlength=num_classes).astype(np.float64)
    present = counts > 0
    w = np.zeros(num_classes)
    w[present] = len(labels) / (present.sum() * counts[present])
    return torch.tensor(w, dtype=torch.float32)


def confusion_counts(y_true: np.ndarray, y_pred: np.ndarray, num_classes: int) -> np.ndarray:
    """Rows: true class, columns: predicted class."""
    m = np.zeros((num_classes, num_classes), dtype=np.int64)
    np.add.at(m, (y_true, y_pred), 1)
    return m


def balanced_accuracy(conf: np.ndarray) -> float:
    """Mean recall over the classes present in the truth: accuracy as if every class were equally
    common, so a rare class (schistocytes, teardrops) counts as much as the normal cells."""
    support = conf.sum(1)
    present = support > 0
    recall = np.diag(conf)[present] / support[present]
    return float(recall.mean()) if present.any() else 0.0


def macro_f1(conf: np.ndarray) -> float:
    """Mean F1 over the classes that occur in the truth or the predictions."""
    tp = np.diag(conf).astype(np.float64)
    support, predicted = conf.sum(1), conf.sum(0)
    seen = (support + predicted) > 0
    f1 = np.where(seen, 2 * tp / np.maximum(support + predicted, 1), 0.0)
    return float(f1[seen].mean()) if seen.any() else 0.0


@torch.no_grad()
def predict(model: SplitClassifier, feats: torch.Tensor, device: str, batch_size: int = 256) -> np.ndarray:
    model.eval()
    preds = [model.logits(feats[i:i + batch_size].to(device)).argmax(1).cpu() for i in range(0, len(feats), batch_size)]
    return torch.cat(preds).numpy() if preds else np.empty(0, dtype=np.int64)


@torch.no_grad()
def _weighted_loss(model: SplitClassifier, feats: torch.Tensor, labels: torch.Tensor, loss_fn: nn.Module, device: str) -> float:
    model.eval()
    total, weight = 0.0, 0.0
    for i in range(0, len(feats), 256):
        y = labels[i:i + 256].to(device)
        w = loss_fn.weight[y].sum().item()
        total += loss_fn(model.logits(feats[i:i + 256].to(device)), y).item() * w
        weight += w
    return total / max(weight, 1e-12)


@torch.no_grad()
def _fit_standardization(model: SplitClassifier, feats: torch.Tensor, device: str) -> None:
    model.eval()
    pooled = torch.cat([model.pooled(feats[i:i + 256].to(device)).cpu() for i in range(0, len(feats), 256)])
    model.head.fit_standardization(pooled.to(device))


@contextlib.contextmanager
def _head_threads(model: SplitClassifier, device: str) -> Iterator[None]:
    """One CPU thread while only the head trains: its matrices are so small that thread
    synchronization costs more than it saves (measured 10x slower with 2 threads on shared cores)."""
    if device != "cpu" or model.fine_tunes:
        yield
        return
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def train_fold(
    model: SplitClassifier, feats: torch.Tensor, labels: np.ndarray, train: np.ndarray, val: np.ndarray,
    recipe: Recipe, seed: int, device: str = "cpu",
) -> Dict[str, object]:
    """Train ``model``'s tail and head from a fresh start on ``train``; with a validation part, leave
    the best epoch's weights in ``model``. Returns the fold's training record."""
    with _head_threads(model, device):
        return _train_fold(model, feats, labels, train, val, recipe, seed, device)


def _train_fold(
    model: SplitClassifier, feats: torch.Tensor, labels: np.ndarray, train: np.ndarray, val: np.ndarray,
    recipe: Recipe, seed: int, device: str,
) -> Dict[str, object]:
    num_classes = model.head.mlp[-1].out_features
    model.reset_trainable(seed)
    # channels-last: the fine-tuned tail's convolutions train 1.2x faster on a CPU (measured, batch 64)
    model.to(device, memory_format=torch.channels_last)
    _fit_standardization(model, feats[train], device)
    loss_fn = nn.CrossEntropyLoss(weight=class_weights(labels[train], num_classes).to(device))
    params = [p for p in list(model.tail.parameters()) + list(model.head.parameters()) if p.requires_grad]
    opt = torch.optim.Adam(params, lr=recipe.lr, betas=recipe.betas, weight_decay=recipe.weight_decay)
    gen = torch.Generator().manual_seed(seed)
    y_all = torch.from_numpy(labels).long()
    best = (float("inf"), -1, None)
    epochs_run = 0
    for epoch in range(recipe.epochs):
        if recipe.patience is not None and best[2] is not None and epoch - best[1] > recipe.patience:
            break
        epochs_run += 1
        model.train()
        order = torch.from_numpy(train)[torch.randperm(len(train), generator=gen)]
        for i in range(0, len(order), recipe.batch_size):
            idx = order[i:i + recipe.batch_size]
            loss = loss_fn(model.logits(feats[idx].to(device)), y_all[idx].to(device))
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
        if len(val):
            val_loss = _weighted_loss(model, feats[val], y_all[val], loss_fn, device)
            if val_loss < best[0]:
                trainable = {"tail": model.tail.state_dict(), "head": model.head.state_dict()}
                best = (val_loss, epoch, copy.deepcopy(trainable))
    if best[2] is not None:
        model.tail.load_state_dict(best[2]["tail"])
        model.head.load_state_dict(best[2]["head"])
    record: Dict[str, object] = {
        "best_epoch": (best[1] if best[2] is not None else recipe.epochs - 1) + 1,
        "epochs_run": epochs_run,
        "train_accuracy": float((predict(model, feats[train], device) == labels[train]).mean()),
    }
    if len(val):
        record["val_accuracy"] = float((predict(model, feats[val], device) == labels[val]).mean())
        record["val_loss"] = best[0]
    return record


def score(model: SplitClassifier, feats: torch.Tensor, labels: np.ndarray, test: np.ndarray, device: str) -> Dict[str, object]:
    """Test accuracy, balanced accuracy, macro F1 and confusion counts of one fold."""
    num_classes = model.head.mlp[-1].out_features
    pred = predict(model, feats[test], device)
    conf = confusion_counts(labels[test], pred, num_classes)
    return {
        "accuracy": float((pred == labels[test]).mean()) if len(test) else 0.0,
        "balanced_accuracy": balanced_accuracy(conf),
        "macro_f1": macro_f1(conf),
        "confusion_counts": conf.tolist(),
    }
