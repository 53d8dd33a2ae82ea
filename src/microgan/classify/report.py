"""Summaries of a classification run: the per-input JSON block, text tables and confusion heat maps."""
from __future__ import annotations

from pathlib import Path
from typing import Dict, List, Sequence

import numpy as np


def normalize_rows(counts: np.ndarray) -> np.ndarray:
    """Each true-class row divided by its total (rows of absent classes stay 0)."""
    counts = np.asarray(counts, dtype=np.float64)
    totals = counts.sum(1, keepdims=True)
    return np.divide(counts, totals, out=np.zeros_like(counts), where=totals > 0)


def summarize_input(per_fold: List[Dict[str, object]], num_classes: int) -> Dict[str, object]:
    """Means and spreads over folds; the confusion matrix pools every fold's test predictions
    (each crop is tested exactly once) before normalizing rows."""
    def stats(key: str) -> Dict[str, float]:
        vals = np.array([f[key] for f in per_fold if key in f], dtype=np.float64)
        if not len(vals):
            return {}
        return {key: float(vals.mean()), f"{key}_std": float(vals.std(ddof=1)) if len(vals) > 1 else 0.0}

    pooled = np.zeros((num_classes, num_classes), dtype=np.int64)
    for f in per_fold:
        pooled += np.asarray(f["confusion_counts"], dtype=np.int64)
    out: Dict[str, object] = {}
    for key in ("accuracy", "balanced_accuracy", "macro_f1", "train_accuracy", "val_accuracy"):
        out.update(stats(key))
    out["per_fold"] = per_fold
    out["confusion"] = np.round(normalize_rows(pooled), 4).tolist()
    out["confusion_counts"] = pooled.tolist()
    return out


def _pct(x: float) -> str:
    return f"{100 * x:.2f}"


#: The per-fold measures that paired differences are taken of (the first is the headline).
PAIRED_METRICS = ("macro_f1", "balanced_accuracy", "accuracy")


def summary_table(inputs: Dict[str, Dict[str, object]]) -> str:
    """A Markdown table: one row per input kind, mean +- std over folds."""
    lines = [
        "| input | test accuracy % | balanced accuracy % | macro F1 | train accuracy % | val accuracy % |",
        "|---|---|---|---|---|---|",
    ]
    for kind, r in inputs.items():
        val = f"{_pct(r['val_accuracy'])} ± {_pct(r['val_accuracy_std'])}" if "val_accuracy" in r else "-"
        lines.append(
            f"| {kind} | {_pct(r['accuracy'])} ± {_pct(r['accuracy_std'])} | "
            f"{_pct(r['balanced_accuracy'])} ± {_pct(r['balanced_accuracy_std'])} | "
            f"{r['macro_f1']:.3f} ± {r['macro_f1_std']:.3f} | "
            f"{_pct(r['train_accuracy'])} ± {_pct(r['train_accuracy_std'])} | {val} |"
        )
    return "\n".join(lines)


def paired_differences(inputs: Dict[str, Dict[str, object]], reference: str = "lr") -> Dict[str, Dict[str, object]]:
    """``{"KIND-lr": {"metric", "mean", "std", "per_fold", METRIC: {...}}}``: each input kind's per-fold
    score minus the reference's on the same fold (same crops, same classifier budget), so fold-to-fold
    variation cancels; ``mean``/``std``/``per_fold`` are the headline metric's (macro F1). Also, where
    ``hr`` was run, ``recovered``: the share of the HR-LR gap a kind closes (mean difference ratio)."""
    if reference not in inputs:
        return {}
    ref = inputs[reference]["per_fold"]
    gap = None
    out: Dict[str, Dict[str, object]] = {}
    for kind, r in inputs.items():
        if kind == reference:
            continue
        entry: Dict[str, object] = {"metric": PAIRED_METRICS[0]}
        for metric in PAIRED_METRICS:
            diffs = np.array([f[metric] - g[metric] for f, g in zip(r["per_fold"], ref)], dtype=np.float64)
            entry[metric] = {"mean": float(diffs.mean()), "std": float(diffs.std(ddof=1)) if len(diffs) > 1 else 0.0,
                             "per_fold": [round(float(d), 6) for d in diffs]}
        entry.update(entry[PAIRED_METRICS[0]])
        out[f"{kind}-{reference}"] = entry
    if f"hr-{reference}" in out:
        gap = out[f"hr-{reference}"]["mean"]
        for key, entry in out.items():
            entry["recovered"] = float(entry["mean"] / gap) if gap and abs(gap) > 1e-12 else None
    return out


def paired_table(paired: Dict[str, Dict[str, object]]) -> str:
    """A Markdown table of the paired per-fold differences (in points of macro F1 and balanced accuracy)."""
    lines = ["| difference | macro F1 (mean ± std over folds) | balanced accuracy % | per-fold macro F1 | share of HR-LR gap |",
             "|---|---|---|---|---|"]
    for key, e in paired.items():
        ba = e["balanced_accuracy"]
        share = "-" if e.get("recovered") is None else f"{100 * e['recovered']:.0f} %"
        folds = ", ".join(f"{d:+.3f}" for d in e["per_fold"])
        lines.append(f"| {key} | {e['mean']:+.3f} ± {e['std']:.3f} | {100 * ba['mean']:+.2f} ± {100 * ba['std']:.2f} | {folds} | {share} |")
    return "\n".join(lines)


def confusion_table(classes: Sequence[str], confusion: Sequence[Sequence[float]]) -> str:
    """Normalized confusion as a Markdown table (rows: true class, columns: predicted class)."""
    lines = ["| true \\ predicted | " + " | ".join(classes) + " |", "|---" * (len(classes) + 1) + "|"]
    for name, row in zip(classes, confusion):
        lines.append(f"| {name} | " + " | ".join(f"{v:.3f}" for v in row) + " |")
    return "\n".join(lines)


def write_heatmap(path: Path, classes: Sequence[str], confusion: Sequence[Sequence[float]], title: str) -> Path:
    """PNG heat map of a row-normalized confusion matrix, values printed in the cells (as the paper's Fig. 5)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    m = np.asarray(confusion, dtype=np.float64)
    size = 1.2 + 0.9 * len(classes)
    fig, ax = plt.subplots(figsize=(size + 1.2, size))
    im = ax.imshow(m, cmap="Blues", vmin=0.0, vmax=1.0)
    ax.set_xticks(range(len(classes)), labels=classes, rotation=45, ha="right")
    ax.set_yticks(range(len(classes)), labels=classes)
    ax.set_xlabel("predicted class")
    ax.set_ylabel("true class")
    ax.set_title(title, fontsize=9)
    for i in range(m.shape[0]):
        for j in range(m.shape[1]):
            ax.text(j, i, f"{m[i, j]:.2f}", ha="center", va="center", color="white" if m[i, j] > 0.5 else "black")
    fig.colorbar(im, ax=ax, fraction=0.046, pad=0.04)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path
