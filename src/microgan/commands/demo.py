"""``microgan demo``: segment, degrade, restore and score real microscopy in a few minutes (see
:mod:`microgan.demo`); prints the headline numbers and where the HTML report is."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from microgan.commands.argtypes import positive_int, positive_minutes
from microgan.demo import DEFAULT_OUT, INPUT_NAME, RL_NAME, DemoConfig


def register(subparsers: argparse._SubParsersAction) -> None:
    defaults = DemoConfig()
    p = subparsers.add_parser(
        "demo",
        help="see a trained generator restore real microscopy: segment, blur, enhance, compare, HTML report",
        description="Run the paper's pipeline end to end on real microscopy that needs no download: BCCD test "
        "images where BCCD is found (--data, $MICROGAN_BCCD, ../shared/data/bccd, ~/.cache/microgan/bccd), "
        "otherwise scikit-image's bundled microscopy images. Segments single cells, blurs them (15x15 "
        "Gaussian), restores them with the bundled default model (next to the other bundled models) or one "
        "trained now with --train, and scores it against the blurred input and Richardson-Lucy (tuned on "
        "validation crops): once with the clean blur, once with camera noise added. Writes DIR/report.json, "
        "DIR/report.html and DIR/report-noisy.{json,html}.",
    )
    p.add_argument("--out", type=Path, default=DEFAULT_OUT, metavar="DIR",
                   help=f"output folder (default: ./{DEFAULT_OUT})")
    p.add_argument("--data", type=Path, metavar="PATH",
                   help="folder holding BCCD (BCCD/JPEGImages, BCCD/Annotations); if BCCD is not there, the demo "
                   "uses scikit-image's images")
    p.add_argument("--images", type=positive_int, default=defaults.images, metavar="N",
                   help=f"BCCD test images to segment (default: {defaults.images})")
    p.add_argument("--limit", type=positive_int, default=defaults.limit, metavar="N",
                   help=f"test crops scored, spread evenly over the images (default: {defaults.limit})")
    p.add_argument("--tune-limit", type=positive_int, default=defaults.tune_limit, metavar="N",
                   help=f"validation crops Richardson-Lucy is tuned on (default: {defaults.tune_limit})")
    p.add_argument("--model", type=Path, metavar="MODEL",
                   help="checkpoint (.safetensors) or training run folder (default: the bundled pretrained model)")
    p.add_argument("--train", action="store_true",
                   help="train a fresh generator with --config's recipe on BCCD train images (or the fallback images) "
                   "first and evaluate it")
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
    from microgan.evaluate.report import text_table

    if args.overrides and not args.train:
        raise ConfigError("--set changes the training config: it needs --train")
    config = DemoConfig(
        out=args.out, data=args.data, images=args.images, limit=args.limit, tune_limit=args.tune_limit,
        model=args.model, train=args.train, max_minutes=args.max_minutes, train_config=args.config,
        overrides=args.overrides,
        device=args.device, overwrite=args.overwrite, progress=not args.quiet,
    )
    log = (lambda line: None) if args.quiet else (lambda line: print(line, file=sys.stderr))
    result = run_demo(config, log)
    counts = ", ".join(f"{n} {split}" for split, n in result.images.counts.items())
    print(f"images: {result.images.origin} ({counts}); model: {result.model}")
    for case in result.cases:
        spelled = f" ({case.degradation})" if case.degradation else " (15x15 Gaussian, sigma 2.6, no noise)"
        print(f"\n{case.name}{spelled}:")
        print(text_table(case.report))
        print("\n".join(case.headline.lines(case.rl_iterations)))
        for other in case.told:
            print("\n".join(other.lines(case.rl_iterations)))
    print()
    if result.train_steps is not None and (result.headline.gain(INPUT_NAME) or 0.0) < 0:
        print(f"note: the model trained here for {result.train_steps} steps trails the blurred input; the paper trains "
              "200 epochs: give it more --max-minutes, a GPU, or evaluate the pretrained model (no --train)")
    if not result.images.blood_smears and (result.headline.gain(RL_NAME) or 0.0) < 0:
        print("note: scikit-image's cell and tissue images are unlike the BCCD blood smears the bundled model learnt "
              "from, and Richardson-Lucy is given the exact blur kernel; point --data at BCCD, or fine-tune on your "
              "own images (microgan prepare, then microgan train --config microgan-bccd)")
    reports = ", ".join(str(case.report_html) for case in result.cases)
    print(f"reports: {reports} (numbers: the .json beside each); took {result.seconds['total']:.0f} s")
    return 0
