"""``microgan enhance``: restore image files and folders with a trained model.

A batch tool for a microscope's daily output, so one bad file must not cost the rest: every file
is read, restored and written on its own terms (unreadable or unsupported files are reported and
skipped), outputs that exist are left alone unless ``--overwrite``, inputs are only ever read, and
the exit code is 1 when anything failed. Outputs keep their input's format, bit depth and folder
structure (relative to the folder given on the command line).

Under ``torchrun --nproc_per_node N -m microgan enhance ...`` the files are shared among the
ranks (:mod:`microgan.infer.ranks`); outputs are written atomically and existing ones skipped, so
rerunning a killed run resumes it.

Whole slides (tiled TIFF/BigTIFF/OME-TIFF/SVS larger than an eighth of ``--max-memory``, OME-Zarr
folders; ``--stream on`` for any TIFF) are streamed tile by tile into a pyramidal tiled BigTIFF
(:mod:`microgan.infer.slide`; an OME-Zarr into an OME-Zarr), one slide at a time with every rank
sharing its tiles; a killed slide goes on with ``--resume``.
"""
from __future__ import annotations

import argparse
import contextlib
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Iterable, Iterator, List, Optional, Set, Tuple

from microgan.commands.argtypes import (CONSISTENCY, add_consistency_option, add_psf_options, add_scale_option, bounded,
                                       memory_size, model_for, psf_argument)
from microgan.core.files import IMAGE_SUFFIXES
from microgan.data.slides import is_zarr
from microgan.errors import MicroGANError

if TYPE_CHECKING:
    import torch


_tile = bounded(int, 1, words={"auto": "auto", "off": None}, what="a number of pixels")
_halo = bounded(int, 0, words={"auto": "auto"}, what="a number of pixels")


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
    p.add_argument("--max-memory", type=memory_size, default="1.5G", metavar="SIZE|off",
                   help="memory the whole process may use (the GPU's on CUDA); tiles are planned to "
                   "fit it (default: 1.5G = 1.5 x 10^9 bytes; 1.5Gi = 1.5 x 2^30; off: no limit)")
    p.add_argument("--tile", type=_tile, default="auto", metavar="N|auto|off",
                   help="largest tile side in pixels, halo included; auto tiles only what does not "
                   "fit --max-memory, with the fewest extra pixels (default)")
    p.add_argument("--halo", type=_halo, default="auto", metavar="N|auto",
                   help="context pixels each tile computes beyond the part it keeps; auto: the "
                   "measured reach of the model, so tiles equal the whole image (default)")
    p.add_argument("--backend", choices=("auto", "torch", "onnxruntime"), default="auto",
                   help="auto: the faster one measured for this model and machine (torch on CUDA); "
                   "onnxruntime needs pip install 'microgan[onnx]'")
    p.add_argument("--precision", choices=("auto", "fp32", "bf16", "fp16"), default="auto",
                   help="auto: fp16 on CUDA, bf16 on CPUs with native bf16, else fp32")
    p.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N; under torchrun cuda or auto, each process taking its local rank's GPU (default: auto)")
    p.add_argument("--self-ensemble", action="store_true",
                   help="average the model over each image's 8 rotations and mirror images: slightly "
                   "better (+0.06-0.10 dB measured), 8x slower")
    add_consistency_option(p)
    add_psf_options(p)
    p.add_argument("--normalize", choices=("auto", "range", "percentile"), default=None,
                   help="intensity normalization: auto (default) maps the range the data uses (a 12-bit camera's "
                   "values in a 16-bit file by 4095, a dim or out-of-[0,1] float image by its own range) and says "
                   "so; range: the sample type's full range; percentile: the image's 1st..99.8th percentiles")
    p.add_argument("--per-channel", action="store_true",
                   help="restore each channel of RGB images with a grayscale model")
    p.add_argument("--suffix", default="", help="added to output file names before the extension")
    p.add_argument("--batch", type=int, default=8, metavar="N",
                   help="files read and restored together (equal sizes share a forward pass)")
    p.add_argument("--overwrite", action="store_true", help="replace existing outputs (default: skip them)")
    p.add_argument("--stream", choices=("auto", "on", "off"), default="auto",
                   help="restore TIFF slides tile by tile into a pyramidal tiled BigTIFF, never holding the image: "
                   "auto (default) for TIFFs larger than an eighth of --max-memory decoded and OME-Zarr folders; "
                   "on: every TIFF input; off: never (images are decoded whole)")
    p.add_argument("--resume", action="store_true",
                   help="finish slides a killed run left half done (OUTPUT.parts/ beside the output), computing "
                   "only the tiles its manifest does not list as written and verified")
    add_scale_option(p)
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
        if path.is_file() and (pattern or path.suffix.lower() in IMAGE_SUFFIXES + SLIDE_ONLY):
            yield path


#: Slide formats read only as slides (streamed); their restorations are written as ``.tif`` (an
#: OME-Zarr's as an OME-Zarr).
SLIDE_ONLY = (".svs", ".btf")


def _output_suffix(suffix: str) -> str:
    return ".tif" if suffix.lower() in SLIDE_ONLY else suffix


def plan_jobs(
    inputs: List[str], outdir: Path, pattern: Optional[str] = None, recursive: bool = False, suffix: str = ""
) -> Plan:
    """Map inputs to outputs: a file to ``OUTDIR/name``, a folder's files to ``OUTDIR/relative``.

    Files under OUTDIR are never taken as inputs (an output folder inside an input folder would
    otherwise be restored again on the next run); when OUTDIR *is* an input folder, a suffix is
    required and files already carrying it are left out.
    """
    _check_name_part("--suffix", suffix)
    if pattern is not None:
        _check_pattern(pattern)
    out_root = outdir.resolve()
    plan = Plan()
    claimed: Set[Path] = set()
    sources: Set[Path] = set()

    def add(src: Path, rel: Path) -> None:
        dst = outdir / rel.parent / f"{rel.stem}{suffix}{_output_suffix(rel.suffix)}"
        target = dst.resolve()
        sources.add(src.resolve())
        if target == src.resolve():
            plan.failed.append((src, "output would overwrite the input (choose another -o or a --suffix)"))
        elif not _inside(target, out_root):
            plan.failed.append((src, f"output {dst} would land outside the output folder {outdir}"))
        elif target in claimed:
            plan.failed.append((src, f"another input already writes {dst}"))
        else:
            claimed.add(target)
            plan.jobs.append((src, dst))

    for item in inputs:
        path = Path(item)
        if path.is_file() or is_zarr(path):
            add(path, Path(path.name))
        elif path.is_dir():
            root = path.resolve()
            if root == out_root and not suffix:
                raise MicroGANError(f"{path}: output folder is the input folder: give a --suffix")
            output_inside = root != out_root and _inside(out_root, root)
            for file in _folder_files(path, pattern, recursive):
                resolved = file.resolve()
                if output_inside and _inside(resolved, out_root):
                    continue  # a previous run's outputs, in -o inside the input folder
                if root == out_root and file.stem.endswith(suffix) and \
                        file.with_name(file.stem[: -len(suffix)] + file.suffix).is_file():
                    continue  # an earlier output of a file beside it (NAME + suffix), not an input
                add(file, file.relative_to(path))
        else:
            plan.failed.append((path, "no such file or folder"))
    # no output may replace any input of the batch (a file given twice, or by name and by folder)
    for src, dst in list(plan.jobs):
        if dst.resolve() in sources:
            plan.jobs.remove((src, dst))
            plan.failed.append((src, f"output {dst} would overwrite an input of this batch (choose another -o or --suffix)"))
    return plan


def _check_name_part(option: str, text: str) -> None:
    """A piece of a file name (``--suffix``) must not reach into other folders."""
    bad = [c for c in ("/", "\\", "\0") if c in text]
    if bad or text in (".", ".."):
        raise MicroGANError(f"{option} {text!r}: must be part of a file name, without path separators or NUL")


def _check_pattern(pattern: str) -> None:
    """``--glob`` selects files inside the input folders: no absolute pattern, no ``..``."""
    parts = pattern.replace("\\", "/").split("/")
    if pattern.startswith(("/", "\\")) or ".." in parts or "\0" in pattern or not pattern.strip():
        raise MicroGANError(f"--glob {pattern!r}: must be a pattern inside the input folders (no leading /, no '..')")


def streamed(src: Path, mode: str, max_memory: Optional[int]) -> bool:
    """Whether ``src`` is restored as a slide (:mod:`microgan.infer.slide`) under ``--stream mode``:
    an OME-Zarr folder or an SVS/BigTIFF-only file always (they are only read as slides), a TIFF when
    ``on``, or when ``auto`` and its first image decodes to more than an eighth of ``max_memory`` and
    its layout streams (tiles or small strips, or uncompressed data in one piece)."""
    suffix = src.suffix.lower()
    if mode == "off":
        return False
    if is_zarr(src) or suffix in SLIDE_ONLY:
        return True
    if suffix not in (".tif", ".tiff"):
        return False
    if mode == "on":
        return True
    from microgan.data.io import probe
    from microgan.errors import ImageReadError

    try:
        info = probe(src)
    except (ImageReadError, OSError):
        return False  # reading it whole will say what is wrong with it
    decoded = info.width * info.height * min(info.channels, 3) * max(info.bit_depth // 8, 1)
    if decoded <= (max_memory or 8 * 10**9) // 8:
        return False
    from microgan.data.slides import open_slide

    try:  # a layout that cannot stream (compressed strips of the whole image) is read whole, as before
        open_slide(src).close()
    except (ImageReadError, OSError):
        return False
    return True


def run(args: argparse.Namespace) -> int:
    from microgan.infer.pipeline import make_job
    from microgan.core.device import rank_device
    from microgan.infer.ranks import join, leave, share

    if args.batch < 1:
        raise MicroGANError(f"--batch must be at least 1, got {args.batch}")
    outdir = Path(args.output)
    if outdir.exists() and not outdir.is_dir():
        raise MicroGANError(f"{outdir}: exists and is not a folder (-o names the output folder)")
    ranks = join()
    try:
        # every rank plans alike (a bad argument fails everywhere at once); rank 0 alone decides
        # what is left to do, before any rank writes, and shares it out by size
        device = rank_device(args.device, ranks.local_rank, ranks.world_size)
        plan = plan_jobs(args.inputs, outdir, args.glob, args.recursive, args.suffix)
        if not plan.jobs and not plan.failed:
            where = f"matching '{args.glob}'" if args.glob else f"with suffix {', '.join(IMAGE_SUFFIXES)}"
            raise MicroGANError(f"no input images {where} in {', '.join(args.inputs)}")
        decided = None
        if ranks.is_main:
            todo = [(s, d) for s, d in plan.jobs if args.overwrite or not d.exists()]
            slides = [(s, d) for s, d in todo if streamed(s, args.stream, args.max_memory)]
            jobs = [make_job(s, d) for s, d in todo if (s, d) not in slides]
            decided = (jobs, share([job.nbytes for job in jobs], ranks.world_size), slides)
        jobs, shares, slides = ranks.broadcast(decided)
        mine = [jobs[i] for i in shares[ranks.rank]]
        skipped = len(plan.jobs) - len(jobs) - len(slides)
        session = _Session(args, device, ranks)
        done, failed = session.files(mine, plan.failed if ranks.is_main else [])
        for src, dst in slides:
            ok = session.slide(src, dst)
            done, failed = done + (ok and ranks.is_main), failed + (not ok and ranks.is_main)
        totals = ranks.gather((done, failed))
    finally:
        leave(ranks)
    done, failed = sum(t[0] for t in totals), sum(t[1] for t in totals)
    if ranks.is_main and (not args.quiet or failed):
        where = f" ({ranks.world_size} ranks)" if ranks.distributed else ""
        print(f"enhanced {done}, skipped {skipped} (output exists; --overwrite to redo), failed {failed}"
              f" -> {outdir}{where}")
    return 1 if failed else 0


class _Session:
    """One rank's restorations: the Enhancer (built on first need), its files and its part of each slide."""

    def __init__(self, args: argparse.Namespace, device: "torch.device", ranks) -> None:
        self.args, self.device, self.ranks = args, device, ranks
        self._enhancer = None

    def enhancer(self, pixels: int = 0):
        from microgan.infer import Enhancer

        if self._enhancer is None:
            args = self.args
            psf = psf_argument(args)
            self._enhancer = Enhancer.from_model(
                model_for(args, psf), device=self.device, psf=psf, precision=args.precision,
                tile=args.tile, halo=args.halo, normalizer=args.normalize, per_channel=args.per_channel,
                backend=args.backend, max_memory=args.max_memory, self_ensemble=args.self_ensemble,
                consistency=CONSISTENCY[args.consistency],
            )
            if args.scale is not None:
                self._enhancer.require_scale(args.scale)
            self._enhancer.prepare(pixels)
        return self._enhancer

    def files(self, jobs: list, refused: list) -> Tuple[int, int]:
        """This rank's share of the files: (written, failed), each failure printed as it happens."""
        from tqdm import tqdm

        from microgan.core.atomic import stale_temporaries
        from microgan.infer.consistency import describe
        from microgan.infer.pipeline import restore_files

        args, ranks = self.args, self.ranks
        for src, reason in refused:
            print(f"failed: {src}: {reason}", file=sys.stderr)
        counts = {"done": 0, "failed": len(refused)}
        if not jobs:  # loading a model only to skip every file would be slow for nothing
            return counts["done"], counts["failed"]
        for job in jobs:  # a run killed mid-write left these; this rank alone writes these outputs
            for stale in stale_temporaries(job.dst):
                stale.unlink(missing_ok=True)
        with _notes_to(tqdm):
            enhancer = self.enhancer(max(job.pixels for job in jobs))
            with tqdm(total=len(jobs), unit="img", disable=args.quiet or not ranks.is_main, file=sys.stderr) as bar:

                def note(src: Path, text: str) -> None:
                    if not args.quiet:
                        bar.write(f"note: {src}: {text}", file=sys.stderr)

                def report(src: Path, reason: Optional[str]) -> None:
                    if reason is None:
                        counts["done"] += 1
                    else:
                        counts["failed"] += 1
                        bar.write(f"failed: {src}: {reason}", file=sys.stderr)
                    bar.update(1)

                fits: list = []
                restore_files(enhancer, jobs, report, batch=args.batch, overwrite=args.overwrite,
                              max_bytes=(args.max_memory or 2**32) // 16, note=note,
                              fitted=lambda _src, fit: fits.append(fit))
                if fits and not args.quiet:  # what the user's optics look like, as a by-product
                    bar.write(f"note: {describe(fits, told=enhancer.takes_psf)}", file=sys.stderr)
        return counts["done"], counts["failed"]

    def slide(self, src: Path, dst: Path) -> bool:
        """Restore one slide with every rank; False (and one line) when it failed. Under torchrun a
        failure part-way ends the run (the ranks must not drift apart): ``--resume`` goes on."""
        from tqdm import tqdm

        from microgan.core.atomic import stale_temporaries
        from microgan.data.slides import describe_source, open_slide
        from microgan.errors import ImageReadError
        from microgan.infer.consistency import describe
        from microgan.infer.slide import restore_slide

        args, ranks = self.args, self.ranks
        loud = ranks.is_main and not args.quiet
        source, reason = None, None
        try:
            source = open_slide(src)
        except (ImageReadError, MicroGANError, OSError) as exc:
            reason = str(exc).removeprefix(f"{src}: ")
        reasons = [r for r in ranks.gather(reason) if r is not None]  # every rank opened it, or none goes on
        if reasons:
            if source is not None:
                source.close()
            if ranks.is_main:
                print(f"failed: {src}: {reasons[0]}", file=sys.stderr)
            return False
        bars: dict = {}

        def progress(stage: str, done: int, total: int, megapixels: float) -> None:
            if not loud:
                return
            bar = bars.get(stage)
            if bar is None:
                for old in bars.values():
                    old.close()
                unit = {"network": "tile", "consistency": "block", "pyramid": "file"}[stage]
                bar = bars[stage] = tqdm(total=total, unit=unit, desc=f"{src.name}: {stage}", file=sys.stderr)
            bar.n = done
            elapsed = bar.format_dict["elapsed"]
            bar.set_postfix_str(f"{megapixels / max(elapsed, 1e-9):.2f} MP/s" if megapixels else "", refresh=False)
            bar.refresh()

        try:
            with source, _notes_to(tqdm):
                if loud:
                    print(f"slide: {src}: {describe_source(source)}", file=sys.stderr)
                    for text in source.notes:
                        print(f"note: {src}: {text}", file=sys.stderr)
                for stale in stale_temporaries(dst) if ranks.is_main else ():
                    stale.unlink(missing_ok=True)
                result = restore_slide(self.enhancer(), source, dst, ranks, resume=args.resume,
                                       overwrite=args.overwrite, progress=progress)
        except (ImageReadError, MicroGANError, OSError, ValueError) as exc:
            if ranks.distributed:  # the ranks must not drift apart: the run ends here (--resume goes on)
                raise MicroGANError(f"{src}: {str(exc).removeprefix(f'{src}: ')}") from None
            print(f"failed: {src}: {str(exc).removeprefix(f'{src}: ')}", file=sys.stderr)
            return False
        finally:
            for bar in bars.values():
                bar.close()
        everyone = ranks.gather(sum(result.computed.values()))  # every rank got here: the slide is done
        if loud:
            tiles = sum(everyone)
            reused = sum(result.reused.values())
            fit = f"; {describe([result.fit])}" if result.fit is not None else ""
            print(f"slide: {dst}: {tiles} tiles computed{f', {reused} reused from the partial run' if reused else ''}"
                  f" in {result.seconds:.0f} s{'' if reused else f' ({source.height * source.width / 1e6 / result.seconds:.2f} MP/s)'}{fit}",
                  file=sys.stderr)
        return True


@contextlib.contextmanager
def _notes_to(tqdm) -> Iterator[None]:
    """Warnings (the planner's and the normalizer's notes) printed as ``note:`` lines above any bar."""
    import warnings

    with warnings.catch_warnings():
        warnings.showwarning = lambda message, *_a, **_k: tqdm.write(f"note: {message}", file=sys.stderr)
        yield
