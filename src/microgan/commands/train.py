"""``microgan train``: train a MicroGAN variant on a prepared folder (see microgan.train.trainer)."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from microgan.commands.argtypes import positive_int, positive_minutes
from microgan.errors import ConfigError

HELP = "train a variant on prepared crops (resumable; torchrun for several GPUs)"


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "train",
        help=HELP,
        description=(
            "Train a generator/critic pair as configured on the crops of a prepared folder. RUN receives "
            "best.safetensors (highest validation PSNR), last.safetensors, metrics.csv, tensorboard/ and "
            "config.yaml. Several processes: torchrun --nproc_per_node=N -m microgan train ..."
        ),
    )
    p.add_argument("--config", help="bundled config (microgan, microgan-fs, microgan-nt, deblurgan) or a YAML file; "
                   "with --resume the run's saved config is used and this option is ignored")
    p.add_argument("--recipe", metavar="NAME",
                   help="train every stage of a recipe in order (bundled: microgan-bccd, microgan-bccd-gan, microgan-blind, "
                   "microgan-psf; or a YAML file) into RUN/NN-STAGE/; --data then names each folder: NAME=PREPARED; "
                   "--resume continues a killed recipe at its stage")
    p.add_argument("--data", required=True, type=Path, nargs="+", metavar="PREPARED",
                   help="prepared folder(s) (output of microgan prepare); several are trained on together; "
                   "with --recipe, NAME=PREPARED for each folder the recipe reads")
    p.add_argument("--init-from", metavar="MODEL",
                   help="start the generator from this model's weights (bundled name, checkpoint or run folder): "
                   "fine-tuning; the critic and optimizers start fresh")
    p.add_argument("--out", required=True, type=Path, help="run folder")
    p.add_argument("--epochs", type=positive_int, help="stop after this many epochs (sets train.epochs)")
    p.add_argument("--steps", type=positive_int, help="stop after this many generator steps in total (sets train.steps)")
    p.add_argument("--max-minutes", type=positive_minutes, help="stop after this many minutes of this invocation (sets train.max_minutes)")
    p.add_argument("--resume", action="store_true", help="continue RUN exactly from its last checkpoint (a RUN "
                   "stopped before its first checkpoint starts again, from its config.yaml or --config)")
    p.add_argument("--overwrite", action="store_true", help="discard RUN's checkpoints and logs and start again")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="override a config key, e.g. --set train.precision=bf16 (repeatable)")
    p.add_argument("--quiet", action="store_true", help="no progress bar or messages")
    p.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N; under torchrun cuda or auto, each process taking its local rank's GPU (default: auto)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from microgan.config import apply_overrides, load_config
    from microgan.core.checkpoint import LAST_NAME, read_meta
    from microgan.errors import CheckpointError
    from microgan.train.settings import RETIRED, drop_retired
    from microgan.train.trainer import CONFIG_NAME, run_training

    if args.resume and args.overwrite:
        raise ConfigError("--resume and --overwrite contradict each other")
    if args.recipe:
        return _run_recipe(args)
    if args.init_from and args.resume:
        raise ConfigError("--init-from starts a new run; --resume continues one (its start is in the checkpoint)")
    last, saved_config = args.out / LAST_NAME, args.out / CONFIG_NAME
    if args.resume and last.is_file():
        config = read_meta(last).get("config")
        if not config:
            raise CheckpointError(f"{last}: the checkpoint holds no training config to resume with")
        config, dropped = drop_retired(config)
        for key in dropped:  # a run saved before the key was retired
            print(f"note: ignoring {key} from the run's saved config: {RETIRED[key].split(';')[0]}", file=sys.stderr)
    elif args.resume:  # stopped before its first checkpoint: start it again
        source = args.config or (str(saved_config) if saved_config.is_file() else None)
        if source is None:
            raise ConfigError(f"{args.out}: nothing to resume ({LAST_NAME} not found) and no --config to start a new run with")
        print(f"note: {args.out} holds no checkpoint yet (stopped before its first one): starting it again "
              f"from {source}", file=sys.stderr)
        config = load_config(source)
    elif args.config:
        config = load_config(args.config)
    else:
        raise ConfigError("--config is required (unless --resume)")
    stops = {"epochs": args.epochs, "steps": args.steps, "max_minutes": args.max_minutes}
    overrides = [f"train.{k}={v}" for k, v in stops.items() if v is not None] + list(args.overrides)
    config = apply_overrides(config, overrides)
    data = args.data[0] if len(args.data) == 1 else args.data
    summary = run_training(config, data, args.out, resume=args.resume, overwrite=args.overwrite, quiet=args.quiet,
                           device=args.device, init_from=args.init_from)
    if not args.quiet and summary["val"]:
        val = summary["val"]
        print(f"{args.out}: {summary['reason']} (step {summary['step']}, epoch {summary['epoch']}); "
              f"val PSNR {val['psnr']:.2f} dB, SSIM {val['ssim']:.4f}; best PSNR {summary['best_psnr']:.2f} dB")
    return 0


def _run_recipe(args: argparse.Namespace) -> int:
    from microgan.train.recipe import load_recipe, run_recipe
    from microgan.train.trainer import run_training

    if args.config or args.init_from:
        raise ConfigError("--recipe names every stage's config and start: drop --config and --init-from")
    data = {}
    for item in args.data:
        name, sep, path = str(item).partition("=")
        if not sep or not name or not path:
            raise ConfigError(f"--data {item}: with --recipe, name each folder: NAME=PREPARED")
        data[name] = Path(path)
    recipe = load_recipe(args.recipe)
    stops = {"epochs": args.epochs, "steps": args.steps, "max_minutes": args.max_minutes}
    extra = [f"train.{k}={v}" for k, v in stops.items() if v is not None] + list(args.overrides)
    log = (lambda line: None) if args.quiet else (lambda line: print(line, file=sys.stderr))
    model = run_recipe(recipe, data, args.out, train=run_training, resume=args.resume, overwrite=args.overwrite,
                       extra=extra, log=log, quiet=args.quiet, device=args.device)
    if not args.quiet:
        print(f"{args.out}: recipe {recipe.name} finished, {len(recipe.stages)} stage(s); the model: {model}")
    return 0
