"""``microgan prepare``: raw multi-cell images -> paired single-cell HR/LR crops + manifest.csv."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any, Dict

#: The registered data set sources (tests check this against microgan.registry.SOURCES).
SOURCE_NAMES = ("bccd", "chula-rbc12", "folder")


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "prepare",
        help="make paired single-cell HR/LR crops from multi-cell images (BCCD or any folder)",
        description="Crop single cells from multi-cell images (VOC boxes or the paper's segmentation), "
        "degrade each crop into its low-quality partner (default: the paper's 15x15 Gaussian blur, "
        "sigma 2.6), split by source image and write OUT/{train,val,test}/{hr,lr}/<id>.png and "
        "OUT/manifest.csv. Crops keep their native size and bit depth; unreadable files are skipped "
        "and listed at the end.",
    )
    parser.add_argument("--source", choices=SOURCE_NAMES, default="bccd",
                        help="data set source (default bccd); chula-rbc12: red cells labelled by centre in 13 classes")
    parser.add_argument("--data", type=Path, help="input folder (default for bccd: $MICROGAN_BCCD, "
                        "../shared/data/bccd, ~/.cache/microgan/bccd; for chula-rbc12: $MICROGAN_CHULA, "
                        "../shared/data/chula-rbc12, ~/.cache/microgan/chula-rbc12)")
    parser.add_argument("--out", type=Path, required=True, help="output folder for the prepared crops")
    parser.add_argument("--crops", choices=("voc", "points", "segment"),
                        help="crop route: voc annotation boxes, points (one crop per labelled cell centre) or "
                        "the paper's segmentation (default: voc for bccd, points for chula-rbc12, segment for folder)")
    parser.add_argument("--seed", type=int, help="seed for the split and random degradations (default 0)")
    parser.add_argument("--split", metavar="TRAIN,VAL,TEST",
                        help="fractions for images without a split of their own (default 0.8,0.1,0.1; "
                        "chula-rbc12: 0.6,0.2,0.2, stratified by class)")
    parser.add_argument("--blur-kernel", type=int, help="Gaussian blur kernel side, odd (default 15)")
    parser.add_argument("--blur-sigma", type=float,
                        help="Gaussian blur sigma in pixels; 0 = OpenCV's value for the kernel (default 2.6)")
    parser.add_argument("--noise", type=float,
                        help="Gaussian noise sigma after the blur, as a fraction of full range (default 0)")
    parser.add_argument("--min-size", type=int, help="shortest crop side kept, px (default 12)")
    parser.add_argument("--margin", type=int, help="pixels added around each box, clipped (default 4)")
    seg = parser.add_argument_group("segmentation route (--crops segment)")
    seg.add_argument("--threshold-c", type=float,
                     help="adaptive threshold offset C, in 8-bit grey levels (default 3)")
    seg.add_argument("--block-size", type=int, help="adaptive threshold window, odd (paper: 11)")
    seg.add_argument("--polarity", choices=("dark", "bright"),
                     help="dark: cells darker than background, brightfield (default); bright: fluorescence")
    seg.add_argument("--min-area", type=int, help="smallest object area in pixels (default 1500)")
    seg.add_argument("--max-area", type=int, help="largest object area in pixels (default: no limit)")
    seg.add_argument("--drop-border", action="store_true", help="drop objects touching the image border")
    parser.add_argument("--limit", type=int, help="use only the first N images (sorted by id)")
    parser.add_argument("--download-sha256", metavar="HEX",
                        help="bccd, chula-rbc12: download the archive into --data (or ~/.cache/microgan/<source>) "
                        "if absent, verified against this SHA-256")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing prepared folder at --out")
    parser.add_argument("--quiet", action="store_true", help="no progress bar and no summary")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from dataclasses import replace

    from microgan.data.prepare import PrepareConfig, fractions_from_text, prepare
    from microgan.errors import MicroGANError
    from microgan.registry import SOURCES

    source = SOURCES.get(args.source)
    data = args.data
    if args.download_sha256:
        if source.cache is None:
            raise MicroGANError(f"--download-sha256: the {args.source} source has nothing to download")
        data = source.download(data or source.cache, args.download_sha256)
    # Options left out keep the source's defaults (Source.default_segmentation, PrepareConfig): one source of truth.
    segmentation = replace(source.default_segmentation, **_given(
        block_size=args.block_size, c=args.threshold_c, polarity=args.polarity, min_area=args.min_area,
        max_area=args.max_area, margin=args.margin, drop_border=args.drop_border or None,
    ))
    options = _given(
        seed=args.seed, blur_kernel=args.blur_kernel, noise=args.noise, min_size=args.min_size, limit=args.limit,
    )
    if args.blur_sigma is not None:
        options["blur_sigma"] = args.blur_sigma or None  # 0 asks OpenCV for its sigma
    if args.split:
        options["fractions"] = fractions_from_text(args.split)
    config = PrepareConfig(
        out=args.out,
        source=args.source,
        data=data,
        crops=args.crops,
        segmentation=segmentation,
        overwrite=args.overwrite,
        **options,
    )
    summary = prepare(config, progress=not args.quiet)
    if not args.quiet:
        print("\n".join(summary.lines()))
    elif summary.skipped:  # failures are shown even when quiet
        print("\n".join(summary.skipped_lines()), file=sys.stderr)
    return 1 if summary.skipped else 0  # some inputs failed: the batch is done, but not all of it


def _given(**values: Any) -> Dict[str, Any]:
    return {key: value for key, value in values.items() if value is not None}
