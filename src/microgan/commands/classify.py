"""``microgan classify``: cross-validated cell classification on HR, LR and restored crops (paper, Table 4)."""
from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any, Dict, Optional

from microgan.commands.argtypes import bounded, positive_int
from microgan.errors import MicroGANError


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "classify",
        help="does restoration help recognise cells? cross-validated classification per input kind",
        description=(
            "Train the same classifier with the same budget on the same folds (stratified by class, "
            "grouped by source image) for each input kind, and report per-fold and mean accuracy, macro "
            "F1 and a normalized confusion matrix. Data: a prepared folder (labels from manifest.csv) or "
            "DATA/<class>/*.png (the images as given are the 'lr' input)."
        ),
    )
    p.add_argument("--data", required=True, help="prepared folder (manifest.csv) or a folder with one sub-folder per class")
    p.add_argument("--inputs", nargs="+", required=True, metavar="KIND",
                   help="input kinds: hr, lr, sr:MODEL (LR crops restored by that model: checkpoint, run folder or "
                   "bundled name; repeatable), classical:METHOD (restored by wiener, richardson-lucy, ... with the "
                   "exact PSF, tuned on val crops). An sr: model never restores crops of images it trained on: those "
                   "crops are left out of every input, with a note")
    p.add_argument("--degradation", metavar="NAME|SPEC", default=None,
                   help="make the LR crops from the HR crops with this fixed degradation (e.g. gauss:3.5+noise:0.01) "
                   "instead of the prepared ones; seeded per crop, the same for every input")
    p.add_argument("--degradation-seed", type=int, default=0, help="seed of --degradation's noise [default: 0]")
    p.add_argument("--folds", type=bounded(int, 2, what="a whole number"), default=5, help="cross-validation folds [default: 5]")
    p.add_argument("--json", dest="json_path", default="classify.json", help="result file [default: classify.json]")
    p.add_argument("--out", default=None, help="folder for confusion heat maps (PNG), CSV tables and summary.md")
    p.add_argument("--overwrite", action="store_true", help="replace an existing --json file and --out summary")
    p.add_argument("--resume", action="store_true",
                   help="continue the run whose --json file is there: input kinds it finished are taken over (the "
                   "file is rewritten after every input kind, so a killed run loses at most the one in progress); "
                   "refused if that run used other settings")
    p.add_argument("--classifier", default="efficientnet-lite0",
                   help="efficientnet-lite0: ImageNet features, CPU-friendly (default); vgg16: the paper's recipe, "
                        "needs --vgg-weights and a GPU; tiny: random-feature smoke test")
    p.add_argument("--finetune", action="store_true",
                   help="efficientnet-lite0: also train the last MBConv block and head convolution (slower)")
    p.add_argument("--vgg-weights", default=None, help="torchvision-format ImageNet VGG16 weights for --classifier vgg16")
    p.add_argument("--epochs", type=positive_int, default=None, help="training epochs per fold [default: the classifier's recipe]")
    p.add_argument("--lr", type=bounded(float, 0, strict=True, what="a learning rate"), default=None, help="learning rate [default: the classifier's recipe]")
    p.add_argument("--batch-size", type=positive_int, default=None, help="training batch size [default: 64]")
    p.add_argument("--resize", choices=("stretch", "pad"), default="stretch",
                   help="to the classifier's square input: stretch (the paper) or pad (keep aspect ratio) [default: stretch]")
    p.add_argument("--val-fraction", type=_fraction, default=0.1,
                   help="share of all crops held out of each fold's training part for model selection [default: 0.1]")
    p.add_argument("--seed", type=int, default=0, help="folds, head initialization and batch order [default: 0]")
    p.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N (default: auto)")
    p.add_argument("--cache-dir", default=None,
                   help="where restored sr: crops are kept between runs [default: ~/.cache/microgan/classify]")
    p.set_defaults(func=run)


def _fraction(value: str) -> float:
    """``--val-fraction``: 0 (no validation part) up to, not including, 1."""
    number = bounded(float, 0, what="a fraction")(value)
    if number >= 1:
        raise argparse.ArgumentTypeError(f"must be below 1, got {value}")
    return number


def run(args: argparse.Namespace) -> int:
    from microgan.core.atomic import atomic_write_json
    from microgan.core.files import check_writable
    from microgan.classify.run import ClassifySettings, ResumeMismatch, run_classification

    # before any work: hours of cross-validation must not end in "No such file"
    check_writable(args.json_path, "--json")
    if args.out:
        check_writable(args.out, "--out", folder=True)
    if args.cache_dir:
        check_writable(args.cache_dir, "--cache-dir", folder=True)

    if args.folds < 2:
        raise MicroGANError(f"--folds must be at least 2, got {args.folds}")
    if not 0 <= args.val_fraction < 1 - 1 / args.folds:
        raise MicroGANError(f"--val-fraction must be in [0, {1 - 1 / args.folds:.2f}), got {args.val_fraction}")
    settings = ClassifySettings(
        folds=args.folds, classifier=args.classifier, finetune=args.finetune, epochs=args.epochs, lr=args.lr,
        batch_size=args.batch_size, seed=args.seed, resize=args.resize, val_fraction=args.val_fraction,
        vgg_weights=args.vgg_weights, device=args.device, cache_dir=args.cache_dir,
        degradation=args.degradation, degradation_seed=args.degradation_seed,
    )
    previous = _previous_run(args)
    log = lambda m: print(m, flush=True)  # noqa: E731
    try:
        doc = run_classification(
            args.data, args.inputs, settings, out_dir=args.out, log=log, previous=previous,
            on_progress=lambda partial: atomic_write_json(args.json_path, partial),
        )
    except ResumeMismatch as exc:
        raise MicroGANError(f"{args.json_path}: {exc}") from None
    path = atomic_write_json(args.json_path, doc)
    print(f"wrote {path}" + (f" and heat maps in {args.out}" if args.out else ""))
    return 0


def _previous_run(args: argparse.Namespace) -> Optional[Dict[str, Any]]:
    """The document ``--resume`` continues (None: start afresh). Checked before any work: earlier
    results are never replaced unless told to, and the outputs can be written."""
    json_path = Path(args.json_path)
    if args.resume and args.overwrite:
        raise MicroGANError("--resume and --overwrite exclude each other")
    if json_path.is_dir():
        raise MicroGANError(f"{json_path}: is a folder; --json takes the result file's path")
    if args.out and Path(args.out).exists() and not Path(args.out).is_dir():
        raise MicroGANError(f"{args.out}: exists and is not a folder (--out takes a folder)")
    if not args.overwrite:
        if json_path.exists() and not args.resume:
            raise MicroGANError(f"{json_path}: exists; pass --overwrite to replace it or --resume to continue that run")
        summary = Path(args.out) / "summary.md" if args.out else None
        if summary is not None and summary.exists() and not json_path.exists():
            raise MicroGANError(f"{summary}: exists from another run; pass --overwrite to replace it")
    if not args.resume:
        return None
    if not json_path.is_file():
        print(f"note: {json_path} does not exist yet: nothing to resume, starting afresh", flush=True)
        return None
    try:
        doc = json.loads(json_path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise MicroGANError(f"{json_path}: not a classify result to resume ({exc})") from None
    rows = doc.get("inputs") if isinstance(doc, dict) else None
    if not isinstance(rows, dict) or not all(isinstance(r, dict) for r in rows.values()) \
            or not isinstance(doc.get("settings"), dict):
        raise MicroGANError(f"{json_path}: not a classify result to resume (no inputs or settings)")
    return doc
