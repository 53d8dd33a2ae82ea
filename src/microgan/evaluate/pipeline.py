"""Tune the baselines, evaluate, write the reports: the one composition every evaluation runs.

``microgan evaluate`` and ``microgan demo`` both answer "how much better than the blurred input and
the classical deconvolutions?", so both must tune the baselines the same way (on crops that are never
scored, frozen before the scored crops are touched) and write the same two files. This module is
that sequence, built only from the public pieces of :mod:`~microgan.infer.classical`,
:mod:`~microgan.evaluate.runner` and :mod:`~microgan.evaluate.report`.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Callable, Dict, Iterable, List, Optional, Sequence, Tuple

from microgan.core.atomic import atomic_write_json
from microgan.evaluate import report as rep
from microgan.infer.classical import tune
from microgan.data.degrade import build_degradation
from microgan.evaluate.runner import Data, Evaluation, Method, as_source, baseline_method, evaluate, load_pair, restore_examples
from microgan.registry import BASELINES

Progress = Callable[[Iterable[Any]], Iterable[Any]]


def crop_progress(enabled: bool, desc: str) -> Optional[Progress]:
    """A tqdm bar over crops on stderr (stdout keeps the table), or None when quiet."""
    if not enabled:
        return None
    import sys

    from tqdm import tqdm

    return lambda items: tqdm(items, desc=desc, unit="crop", file=sys.stderr, dynamic_ncols=True)


def tuning_line(tuned: Any, split: str, grid: bool = False) -> str:
    """What tuning chose; with ``grid``, every grid point's score too, so a choice at the grid's edge
    is visible."""

    def show(params: Dict[str, Any]) -> str:
        return ", ".join(f"{k}={v}" for k, v in params.items()) or "no parameters"

    line = f"tuned {tuned.name} on {tuned.n_images} {split} crops: {show(tuned.params)} ({split} PSNR {tuned.val_psnr:.2f} dB)"
    if grid and len(tuned.scores) > 1:
        line += "; grid: " + "; ".join(f"{show(p)}: {score:.2f}" for p, score in tuned.scores)
    return line


def tuned_baselines(
    prepared: Data,
    records: Sequence[Any],
    names: Sequence[str],
    split: str,
    log: Optional[Callable[[str], None]] = None,
    grid: bool = False,
    psf_scale: Optional[float] = None,
) -> Tuple[List[Method], Dict[str, Any]]:
    """Each named baseline tuned on ``records`` (crops of ``split`` that will not be scored) and
    frozen as a :class:`Method`; also the report's ``tuning`` entry. ``log`` receives one line per
    baseline with the chosen parameters (and, with ``grid``, the whole grid's scores).

    With ``psf_scale``, each baseline that needs a PSF is also run with the blur's width scaled by
    that factor (``NAME@psfSCALE``), tuned with that same wrong PSF: what a user who guesses their
    optics gets, where the plain baseline is the oracle that knows the exact PSF."""
    pairs = [load_pair(prepared, r) for r in records]
    methods: List[Method] = []
    for name in names:
        variants = [(name, None)]
        if psf_scale is not None and BASELINES.get(name).needs_psf:
            variants.append((f"{name}@psf{psf_scale:g}", psf_scale))
        for shown, scale in variants:
            tuned = tune(name, [(lr, hr, _scaled(deg, scale)) for lr, hr, deg in pairs] if scale else pairs)
            if log is not None:
                log(tuning_line(tuned, split, grid).replace(f"tuned {name} ", f"tuned {shown} ", 1))
            methods.append(baseline_method(tuned, shown, psf_scale=scale))
    return methods, {"split": split, "n_images": len(pairs)}


def _scaled(spec: Dict[str, Any], factor: Optional[float]) -> Dict[str, Any]:
    return build_degradation(spec).scaled(factor).spec() if factor else spec


def evaluate_and_report(
    prepared: Data,
    records: Sequence[Any],
    methods: Sequence[Method],
    split: str,
    *,
    tuning: Optional[Dict[str, Any]] = None,
    json_path: Optional[Path] = None,
    html_path: Optional[Path] = None,
    progress: Optional[Progress] = None,
    sharpness: bool = True,
) -> Tuple[Evaluation, Dict[str, Any]]:
    """Score ``methods`` on ``records`` and write ``report.json`` / ``report.html`` where asked.

    The HTML page's pictures are restored again for the few crops it shows only (see
    :func:`~microgan.evaluate.runner.restore_examples`), so memory stays flat however many crops."""
    evaluation = evaluate(prepared, records, methods, split, progress, sharpness)
    report = rep.build_report(evaluation, data=str(prepared), tuning=tuning)
    source = as_source(prepared)
    if source.degradation is not None:
        report["degradation"] = {"spec": source.degradation.spec(), "seed": source.seed, "made_from": "hr"}
    if json_path is not None:
        atomic_write_json(json_path, report)
    if html_path is not None:
        wanted = set(rep.example_ids(evaluation))
        images = restore_examples(prepared, [r for r in records if r.id in wanted], methods)
        rep.write_html(html_path, rep.render_html(evaluation, images, data=str(prepared), tuning=tuning))
    return evaluation, report
