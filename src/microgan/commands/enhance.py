"""``microgan enhance``: restore image files and folders with a trained model.

A batch tool for a microscope's daily output, so one bad file must not cost the rest: every file
is read, restored and written on its own terms (unreadable or unsupported files are reported and
skipped), outputs that exist are left alone unless ``--overwrite``, inputs are only ever read, and
the exit code is 1 when anything failed. Outputs keep their input's format, bit depth and folder
structure (relative to the folder given on the command line).
"""
from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, List, Optional, Set, Tuple

from microgan.commands.argtypes import bounded
from microgan.core.files import IMAGE_SUFFIXES
from microgan.errors import MicroGANError


_tile = bounded(int, 1, words={"auto": "auto", "off": None}, what="a number of pixels")
_overlap = bounded(int, 0, words={"auto": "auto"}, what="a number of pixels")


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "enhance",
        help="restore images with a trained model (any size, tiled when large)",
        description="Restore image files and folders at their native size; outputs keep format, "
        "bit depth, channels and relative folder structure.",
    )
    p.add_argument("inputs", nargs="+", metavar="INPUT", help="image files and/or folders")
    p.add_argument("-o", "--output", required=True, metavar="OUTDIR", help="output folder")
    p.add_argument("--model", default=None, help="checkpoint file, training run folder or bundled model name "
                   "(default: the bundled model)")
    p.add_argument("--glob", default=None, metavar="PATTERN",
                   help=f"file pattern inside folders (default: {', '.join('*' + s for s in IMAGE_SUFFIXES)})")
    p.add_argument("--recursive", action="store_true", help="also look in sub-folders")
    p.add_argument("--tile", type=_tile, default="auto", metavar="N|auto|off",
                   help="tile side in pixels; auto tiles only what does not fit in memory (default)")
    p.add_argument("--overlap", type=_overlap, default="auto", metavar="N|auto",
                   help="tile overlap in pixels; auto covers the measured receptive field (default)")
    p.add_argument("--precision", choices=("auto", "fp32", "bf16", "fp16"), default="auto",
                   help="auto: fp16 on CUDA, bf16 on CPUs with native bf16, else fp32")
    p.add_argument("--device", default="auto", help="auto, cpu or cuda (default: auto)")
    p.add_argument("--normalize", choices=("range", "percentile"), default=None,
                   help="intensity normalization (default: the model's own, else range)")
    p.add_argument("--per-channel", action="store_true",
                   help="restore each channel of RGB images with a grayscale model")
    p.add_argument("--suffix", default="", help="added to output file names before the extension")
    p.add_argument("--batch", type=int, default=8, metavar="N",
                   help="files read and restored together (equal sizes share a forward pass)")
    p.add_argument("--overwrite", action="store_true", help="replace existing outputs (default: skip them)")
    p.add_argument("--quiet", action="store_true", help="no progress bar and no summary (failures still shown)")
    p.set_defaults(func=run)


@dataclass
class Plan:
    """What to do: (input, output) pairs, and inputs refused before any reading."""

    jobs: List[Tuple[Path, Path]] = field(default_factory=list)
    failed: List[Tuple[Path, str]] = field(default_factory=list)


def _inside(path: Path, folder: Path) -> bool:
    return path == folder or folder in path.parents


def _folder_files(folder: Path, pattern: Optional[str], recursive: bool) -> Iterable[Path]:
    found = folder.rglob(pattern or "*") if recursive else folder.glob(pattern or "*")
    for path in sorted(found):
        if path.is_file() and (pattern or path.suffix.lower() in IMAGE_SUFFIXES):
            yield path


def plan_jobs(
    inputs: List[str], outdir: Path, pattern: Optional[str] = None, recursive: bool = False, suffix: str = ""
) -> Plan:
    """Map inputs to outputs: a file to ``OUTDIR/name``, a folder's files to ``OUTDIR/relative``.

    Files under OUTDIR are never taken as inputs (an output folder inside an input folder would
    otherwise be restored again on the next run); when OUTDIR *is* an input folder, a suffix is
    required and files already carrying it are left out.
    """
    out_root = outdir.resolve()
    plan = Plan()
    claimed: Set[Path] = set()

    def add(src: Path, rel: Path) -> None:
        dst = outdir / rel.parent / f"{rel.stem}{suffix}{rel.suffix}"
        if dst.resolve() == src.resolve():
            plan.failed.append((src, "output would overwrite the input (choose another -o or a --suffix)"))
        elif dst.resolve() in claimed:
            plan.failed.append((src, f"another input already writes {dst}"))
        else:
            claimed.add(dst.resolve())
            plan.jobs.append((src, dst))

    for item in inputs:
        path = Path(item)
        if path.is_file():
            add(path, Path(path.name))
        elif path.is_dir():
            root = path.resolve()
            if root == out_root and not suffix:
                raise MicroGANError(f"{path}: output folder is the input folder: give a --suffix")
            for file in _folder_files(path, pattern, recursive):
                resolved = file.resolve()
                if root != out_root and _inside(resolved, out_root):
                    continue  # a previous run's outputs inside the input folder
                if root == out_root and file.stem.endswith(suffix):
                    continue
                add(file, file.relative_to(path))
        else:
            plan.failed.append((path, "no such file or folder"))
    return plan


def _reason(exc: Exception, src: Path) -> str:
    """One line for a failed file: our errors as they are, anything else with its type."""
    text = str(exc).removeprefix(f"{src}: ")
    return text if isinstance(exc, MicroGANError) else f"{type(exc).__name__}: {text}"


def run(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from microgan.data.io import read_image, write_image
    from microgan.infer import Enhancer

    if args.batch < 1:
        raise MicroGANError(f"--batch must be at least 1, got {args.batch}")
    outdir = Path(args.output)
    if outdir.exists() and not outdir.is_dir():
        raise MicroGANError(f"{outdir}: exists and is not a folder (-o names the output folder)")
    plan = plan_jobs(args.inputs, outdir, args.glob, args.recursive, args.suffix)
    if not plan.jobs and not plan.failed:
        where = f"matching '{args.glob}'" if args.glob else f"with suffix {', '.join(IMAGE_SUFFIXES)}"
        raise MicroGANError(f"no input images {where} in {', '.join(args.inputs)}")
    todo = [(s, d) for s, d in plan.jobs if args.overwrite or not d.exists()]
    skipped = len(plan.jobs) - len(todo)
    failed = list(plan.failed)
    done = 0

    enhancer = None
    if todo:  # loading a model only to skip every file would be slow for nothing
        enhancer = Enhancer.from_model(
            args.model, device=args.device, precision=args.precision, tile=args.tile,
            overlap=args.overlap, normalizer=args.normalize, per_channel=args.per_channel,
        )
    bar = tqdm(total=len(todo), unit="img", disable=args.quiet, file=sys.stderr)

    def fail(src: Path, reason: str) -> None:
        failed.append((src, reason))
        bar.write(f"failed: {src}: {reason}", file=sys.stderr)

    for src, reason in plan.failed:
        bar.write(f"failed: {src}: {reason}", file=sys.stderr)
    for first in range(0, len(todo), args.batch):
        ready = []
        for src, dst in todo[first : first + args.batch]:
            try:
                image = read_image(src)
                if image.dropped:  # a restored output would silently lack part of the file
                    raise MicroGANError(f"{'; '.join(image.dropped)}: split the file into single images")
                enhancer.check(image.array)
                for note in image.notes if not args.quiet else ():
                    bar.write(f"note: {src}: {note}", file=sys.stderr)
                ready.append((src, dst, image))
            except Exception as exc:  # one bad file must not cost the batch (MicroGANError: the usual)
                fail(src, _reason(exc, src))
                bar.update(1)
        try:
            outputs = enhancer.enhance_batch([image.array for _, _, image in ready])
        except (MicroGANError, RuntimeError, ValueError):
            outputs = [None] * len(ready)  # retried one by one below, to name the culprit
        for (src, dst, image), output in zip(ready, outputs):
            try:
                if output is None:
                    output = enhancer.enhance(image.array)
                write_image(dst, output, like=image, overwrite=args.overwrite)
                done += 1
            except Exception as exc:
                fail(src, _reason(exc, src))
            bar.update(1)
    bar.close()
    if not args.quiet or failed:
        print(f"enhanced {done}, skipped {skipped} (output exists; --overwrite to redo), failed {len(failed)}"
              f" -> {outdir}")
    return 1 if failed else 0
