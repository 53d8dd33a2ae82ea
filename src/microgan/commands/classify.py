"""``microgan classify``: cross-validated cell classification on HR, LR and restored crops (paper, Table 4)."""
from __future__ import annotations

import argparse

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
    p.add_argument("--folds", type=int, default=5, help="cross-validation folds [default: 5]")
    p.add_argument("--json", dest="json_path", default="classify.json", help="result file [default: classify.json]")
    p.add_argument("--out", default=None, help="folder for confusion heat maps (PNG), CSV tables and summary.md")
    p.add_argument("--classifier", default="efficientnet-lite0",
                   help="efficientnet-lite0: ImageNet features, CPU-friendly (default); vgg16: the paper's recipe, "
                        "needs --vgg-weights and a GPU; tiny: random-feature smoke test")
    p.add_argument("--finetune", action="store_true",
                   help="efficientnet-lite0: also train the last MBConv block and head convolution (slower)")
    p.add_argument("--vgg-weights", default=None, help="torchvision-format ImageNet VGG16 weights for --classifier vgg16")
    p.add_argument("--epochs", type=int, default=None, help="training epochs per fold [default: the classifier's recipe]")
    p.add_argument("--lr", type=float, default=None, help="learning rate [default: the classifier's recipe]")
    p.add_argument("--batch-size", type=int, default=None, help="training batch size [default: 64]")
    p.add_argument("--resize", choices=("stretch", "pad"), default="stretch",
                   help="to the classifier's square input: stretch (the paper) or pad (keep aspect ratio) [default: stretch]")
    p.add_argument("--val-fraction", type=float, default=0.1,
                   help="share of all crops held out of each fold's training part for model selection [default: 0.1]")
    p.add_argument("--seed", type=int, default=0, help="folds, head initialization and batch order [default: 0]")
    p.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:1 ... [default: auto]")
    p.add_argument("--cache-dir", default=None,
                   help="where restored sr: crops are kept between runs [default: ~/.cache/microgan/classify]")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from microgan.core.atomic import atomic_write_json
    from microgan.classify.run import ClassifySettings, run_classification

    if args.folds < 2:
        raise MicroGANError(f"--folds must be at least 2, got {args.folds}")
    if not 0 <= args.val_fraction < 1 - 1 / args.folds:
        raise MicroGANError(f"--val-fraction must be in [0, {1 - 1 / args.folds:.2f}), got {args.val_fraction}")
    if args.epochs is not None and args.epochs < 1:
        raise MicroGANError(f"--epochs must be at least 1, got {args.epochs}")
    settings = ClassifySettings(
        folds=args.folds, classifier=args.classifier, finetune=args.finetune, epochs=args.epochs, lr=args.lr,
        batch_size=args.batch_size, seed=args.seed, resize=args.resize, val_fraction=args.val_fraction,
        vgg_weights=args.vgg_weights, device=args.device, cache_dir=args.cache_dir,
        degradation=args.degradation, degradation_seed=args.degradation_seed,
    )
    doc = run_classification(args.data, args.inputs, settings, out_dir=args.out, log=lambda m: print(m, flush=True))
    path = atomic_write_json(args.json_path, doc)
    print(f"wrote {path}" + (f" and heat maps in {args.out}" if args.out else ""))
    return 0
