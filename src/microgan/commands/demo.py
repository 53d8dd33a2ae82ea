"""``microgan demo``: segment, degrade, restore and score real cells in under a minute (see
:mod:`microgan.demo`); prints one line per section and where the HTML page is."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from microgan.commands.argtypes import positive_int, positive_minutes
from microgan.demo import DEFAULT_OUT, INPUT_NAME, DemoConfig


def register(subparsers: argparse._SubParsersAction) -> None:
    defaults = DemoConfig()
    p = subparsers.add_parser(
        "demo",
        help="see MicroGAN restore real blood smears against Richardson-Lucy: one HTML page, under a minute",
        description="Run the paper's pipeline end to end on real cells that ship with MicroGAN: 16 BCCD blood-smear "
        "fields (test split, which no bundled model trained on; --data to use a BCCD copy instead) and, as a sample "
        "type no model trained on, scikit-image's cell and tissue images. Segments single cells, blurs them (15x15 "
        "Gaussian), restores them with the bundled models (microgan-psf told each cell's PSF, as Richardson-Lucy "
        "is, and microgan-blind told nothing) or --model or one trained now with --train, and scores them against "
        "the blurred input and Richardson-Lucy (tuned on crops never scored): once with the clean blur, once with "
        "camera noise. Writes DIR/report.html (the answer first, then cells and tables) and DIR/details/*.json.",
    )
    p.add_argument("--out", type=Path, default=DEFAULT_OUT, metavar="DIR",
                   help=f"output folder (default: ./{DEFAULT_OUT})")
    p.add_argument("--data", type=Path, metavar="PATH",
                   help="a BCCD copy (folder holding BCCD/JPEGImages and BCCD/ImageSets) to take the blood smears from "
                   "instead of the fields shipped with MicroGAN")
    p.add_argument("--images", type=positive_int, default=defaults.images, metavar="N",
                   help=f"with --data: BCCD test images to segment (default: {defaults.images})")
    p.add_argument("--limit", type=positive_int, default=defaults.limit, metavar="N",
                   help=f"test crops scored, spread evenly over the images (default: {defaults.limit})")
    p.add_argument("--tune-limit", type=positive_int, default=defaults.tune_limit, metavar="N",
                   help=f"validation crops Richardson-Lucy is tuned on (default: {defaults.tune_limit})")
    p.add_argument("--no-held-out", dest="held_out", action="store_false",
                   help="skip the held-out section (scikit-image's cell and tissue images)")
    p.add_argument("--model", type=Path, metavar="MODEL",
                   help="checkpoint (.safetensors) or training run folder (default: the bundled microgan-psf and microgan-blind)")
    p.add_argument("--train", action="store_true",
                   help="train a fresh generator with --config's recipe first (on BCCD train images with --data, else on the "
                   "four bundled tuning fields) and evaluate it")
    p.add_argument("--max-minutes", type=positive_minutes, default=defaults.max_minutes, metavar="M",
                   help=f"training budget with --train, minutes (default: {defaults.max_minutes:g})")
    p.add_argument("--config", default=defaults.train_config,
                   help=f"with --train: bundled config name or YAML file (default: {defaults.train_config}, the "
                   "recipe of the pretrained model; microgan is the paper's)")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="with --train: override a training config key, e.g. --set train.precision=bf16 (repeatable)")
    p.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N (default: auto)")
    p.add_argument("--overwrite", action="store_true", help="replace a previous demo in DIR")
    p.add_argument("--quiet", action="store_true", help="no progress bars or step messages; only the results")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from microgan.demo import run_demo
    from microgan.errors import ConfigError

    if args.overrides and not args.train:
        raise ConfigError("--set changes the training config: it needs --train")
    config = DemoConfig(
        out=args.out, data=args.data, images=args.images, limit=args.limit, tune_limit=args.tune_limit,
        held_out=args.held_out, model=args.model, train=args.train, max_minutes=args.max_minutes,
        train_config=args.config, overrides=args.overrides, device=args.device, overwrite=args.overwrite,
        progress=not args.quiet,
    )
    log = (lambda line: None) if args.quiet else (lambda line: print(line, file=sys.stderr))
    result = run_demo(config, log)
    for section in result.sections:
        cases = "; ".join(f"{case.name}: {case.headline.summary()}" for case in section.cases)
        print(f"{section.title}: {cases}")
    print(f"report: {result.page} (took {result.seconds['total']:.0f} s; every crop's numbers in {result.out / 'details'})")
    first = result.cases[0].headline
    if result.train_steps is not None and (first.gain(INPUT_NAME) or 0.0) < 0:
        print(f"note: the model trained here for {result.train_steps} steps trails the blurred input; the paper trains "
              "200 epochs: give it more --max-minutes, a GPU, or evaluate the bundled models (no --train)")
    return 0
