"""``microgan evaluate``: score trained models and classical baselines on a prepared split.

Answers "is it better than what I have?" with the paper's measures (Table 3: PSNR, SSIM, parameters,
time per image) on held-out crops at native size, next to the classical deconvolutions a
microscopist can already run. Baselines are tuned on the validation split (``--tune-split``) and
frozen before the evaluated split is touched; every method is timed in this same run.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple

from microgan.commands.argtypes import CONSISTENCY, add_consistency_option, add_psf_options, positive_int, psf_argument
from microgan.errors import ConfigError, MicroGANError

#: Image names the HTML grid uses for the input and the reference: not usable as method names.
RESERVED = {"LR", "HR"}


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "evaluate",
        help="PSNR/SSIM/params/time of models and classical baselines on a prepared split",
        description="Evaluate trained models and classical baselines on every crop of a prepared split at "
        "native size; write report.json (machine-readable) and report.html (tables, examples, plots).",
    )
    p.add_argument("--data", required=True, type=Path, metavar="PREPARED", help="folder written by `microgan prepare`")
    p.add_argument("--split", default="test", help="split to evaluate (default: test)")
    p.add_argument("--model", action="extend", nargs="+", default=[], metavar="NAME=CHECKPOINT",
                   help="a model to evaluate: checkpoint file or run folder, optionally named (NAME=PATH); repeatable")
    p.add_argument("--baselines", nargs="*", default=None, metavar="NAME",
                   help="classical baselines to include; no names: all (identity, richardson-lucy, wiener, "
                   "unsupervised-wiener, unsharp)")
    p.add_argument("--degradation", metavar="NAME|SPEC",
                   help="make the LR crops from the HR crops with this fixed degradation instead of reading the "
                   "prepared LR crops: 'paper', 'gauss:1.5+noise:0.01', 'defocus:4', 'jpeg:70', ... or a JSON spec "
                   "(seeded per crop; one prepared folder serves every degradation)")
    p.add_argument("--degradation-seed", type=int, default=0, metavar="N", help="seed of --degradation's noise (default 0)")
    p.add_argument("--psf-scale", type=float, default=None, metavar="F",
                   help="also run each PSF baseline with the blur's width scaled by F (e.g. 1.3: a PSF guessed 30%% too "
                   "wide), named NAME@psfF; the plain baselines keep the true PSF (an oracle)")
    p.add_argument("--self-ensemble", action="store_true",
                   help="also run each model averaged over each crop's 8 rotations and mirror images "
                   "(enhance --self-ensemble), reported as NAME+x8")
    add_consistency_option(p)
    add_psf_options(p, evaluation=True)
    p.add_argument("--limit", type=positive_int, default=None, metavar="N",
                   help="evaluate N crops spread evenly over the split (default: all)")
    p.add_argument("--tune-split", default="val", help="split the baselines are tuned on (default: val)")
    p.add_argument("--tune-limit", type=positive_int, default=48, metavar="N",
                   help="crops of the tuning split used for the grid search (default: 48)")
    p.add_argument("--json", type=Path, default=None, metavar="PATH", help="write the report.json here")
    p.add_argument("--html", type=Path, default=None, metavar="PATH", help="write the report.html here")
    p.add_argument("--per-crop", type=Path, default=None, metavar="PATH",
                   help="write every crop's scores here, one CSV row per crop and method (id, label, size, psnr, "
                   "ssim, ...), for breakdowns by size or class, or paired tests between methods")
    p.add_argument("--overwrite", action="store_true", help="replace existing --json, --html and --per-crop files")
    p.add_argument("--device", default="auto", help="models: auto, cpu, cuda or cuda:N (default: auto)")
    p.add_argument("--precision", choices=("auto", "fp32", "bf16", "fp16"), default="fp32",
                   help="models' inference precision (default: fp32, the quality reference)")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.set_defaults(func=run)


def parse_models(values: List[str]) -> List[Tuple[str, Path]]:
    """``NAME=PATH`` pairs; a bare PATH is named after its run folder or file stem."""
    models: List[Tuple[str, Path]] = []
    for value in values:
        name, sep, path = value.partition("=")
        if not sep:
            path = value
            name = Path(value).name if Path(value).is_dir() else Path(value).stem
        if not name or not path:
            raise ConfigError(f"--model '{value}': expected NAME=CHECKPOINT")
        models.append((name, Path(path)))
    return models


def _baseline_names(requested: Optional[List[str]]) -> List[str]:
    from microgan.registry import BASELINES

    if requested is None:
        return []
    names = requested or ["identity", "richardson-lucy", "wiener", "unsupervised-wiener", "unsharp"]
    unknown = [n for n in names if n not in BASELINES]
    if unknown:
        raise ConfigError(f"unknown baseline(s) {', '.join(unknown)}; known: {', '.join(BASELINES)}")
    return list(dict.fromkeys(names))


def _check_names(names: List[str]) -> None:
    seen = set()
    for name in names:
        if name in RESERVED:
            raise ConfigError(f"method name '{name}' is reserved for the input/reference images; pick another")
        if name in seen:
            raise ConfigError(f"two methods are named '{name}'; name models with NAME=CHECKPOINT")
        seen.add(name)


def run(args: argparse.Namespace) -> int:
    from microgan.core.files import check_writable
    from microgan.data.manifest import read_manifest
    from microgan.evaluate import report as rep
    from microgan.evaluate.per_crop import write_per_crop
    from microgan.evaluate.pipeline import crop_progress, evaluate_and_report, tuned_baselines
    from microgan.evaluate.runner import model_and_ensemble_methods, model_method, select

    from microgan.data.degrade.presets import parse_degradation_text
    from microgan.evaluate.runner import CropSource
    from microgan.infer.ensemble import ENSEMBLE_SUFFIX
    from microgan.registry import BASELINES

    outputs = [p for p in (args.json, args.html, args.per_crop) if p is not None]
    if len({p.resolve() for p in outputs}) < len(outputs):
        raise ConfigError("--json, --html and --per-crop must be different files")
    for path in outputs:  # before any work: a long evaluation must not end in a refusal
        if path.exists() and not args.overwrite:
            raise MicroGANError(f"{path}: already exists (pass --overwrite to replace it)")
        check_writable(path, "the output file")
    models = parse_models(args.model)
    baselines = _baseline_names(args.baselines)
    if args.psf_scale is not None and args.psf_scale <= 0:
        raise ConfigError(f"--psf-scale must be > 0, got {args.psf_scale}")
    scaled = [f"{b}@psf{args.psf_scale:g}" for b in baselines if args.psf_scale is not None and BASELINES.get(b).needs_psf]
    if args.self_ensemble and not models:
        raise ConfigError("--self-ensemble averages a model's passes: it needs --model")
    ensembled = [f"{n}{ENSEMBLE_SUFFIX}" for n, _ in models if args.self_ensemble]
    _check_names([n for n, _ in models] + ensembled + baselines + scaled)
    degradation = parse_degradation_text(args.degradation) if args.degradation else None
    if degradation is not None and not degradation.fixed:
        raise ConfigError(f"--degradation {args.degradation}: evaluation needs a fixed degradation (no [low, high] ranges)")
    source = CropSource(args.data, degradation, args.degradation_seed)
    if not models and not baselines:
        raise ConfigError("nothing to evaluate: give --model NAME=CHECKPOINT and/or --baselines")

    records = read_manifest(args.data)
    chosen = select(records, args.split, args.limit)
    if not chosen:
        splits = sorted({r.split for r in records})
        raise MicroGANError(f"{args.data}: no crops in split '{args.split}' (splits present: {', '.join(splits) or 'none'})")

    consistency = CONSISTENCY[args.consistency]
    psf = psf_argument(args)
    if args.self_ensemble:  # each model loaded once for both columns; plain columns first, as without
        pairs = [model_and_ensemble_methods(name, path, args.device, args.precision, consistency, psf) for name, path in models]
        methods = [plain for plain, _ in pairs] + [ensembled for _, ensembled in pairs]
    else:
        methods = [model_method(name, path, args.device, args.precision, consistency=consistency, psf=psf) for name, path in models]
    tuning: Optional[Dict[str, Any]] = None
    if baselines:
        tune_records = select(records, args.tune_split, args.tune_limit)
        if not tune_records:
            raise MicroGANError(f"{args.data}: no crops in split '{args.tune_split}' to tune the baselines on")
        log = None if args.quiet else (lambda line: print(line, file=sys.stderr))
        tuned, tuning = tuned_baselines(source, tune_records, baselines, args.tune_split, log, grid=True, psf_scale=args.psf_scale)
        methods += tuned

    evaluation, report = evaluate_and_report(
        source, chosen, methods, args.split, tuning=tuning, json_path=args.json, html_path=args.html,
        progress=crop_progress(not args.quiet, f"evaluate {args.split}"),
    )
    if args.per_crop is not None:
        write_per_crop(args.per_crop, evaluation)
    print(rep.text_table(report))
    for line in rep.verdicts(report):
        print(line)
    for path in outputs:
        print(f"wrote {path}")
    return 0
