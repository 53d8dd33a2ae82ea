"""``microgan export``: a generator as ONNX or TorchScript with dynamic height and width, or as a
BioImage Model Zoo package (``--format bioimageio``, :mod:`microgan.export.bioimageio`).

The exported file is checked against PyTorch on random sizes before the command succeeds, and the
largest error is printed, so a deployment never starts from an unverified graph; a bioimage.io
package is also run through ``bioimage.core``'s own test.
"""
from __future__ import annotations

import argparse

from microgan.commands.argtypes import add_psf_options, bounded, psf_argument


#: ONNX opsets the export passes its parity check with: 11 fails (Clip on int64 in the padding
#: gather), and torch 2.13's exporter stops at 23 (measured 2026-12-07: 12, 13, 14, 17, 20-23 pass).
OPSET_MIN, OPSET_MAX = 12, 23

def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "export",
        help="export a generator to ONNX, TorchScript (any input size) or a bioimage.io package",
        description="Export a trained generator with dynamic height and width; the graph takes and "
        "returns float32 (N, C, H, W) in [-1, 1]. Checked against PyTorch on random sizes. "
        "--format bioimageio writes a BioImage Model Zoo package (zip: ONNX + TorchScript weights, "
        "declared normalization, halo, test tensors, model card) and tests it as `bioimageio test` does.",
    )
    p.add_argument("--model", default=None, help="checkpoint file, training run folder or bundled model name "
                   "(default: the bundled model)")
    p.add_argument("--format", choices=("onnx", "torchscript", "bioimageio"), default="onnx", help="default: onnx")
    p.add_argument("-o", "--output", required=True, metavar="FILE", help="file to write (.onnx / .pt / .zip)")
    p.add_argument("--opset", type=bounded(int, OPSET_MIN, what="a whole number"), default=17, metavar="N",
                   help=f"ONNX opset version, {OPSET_MIN} to {OPSET_MAX} (default: 17)")
    p.add_argument("--overwrite", action="store_true", help="replace an existing FILE")
    p.add_argument("--card", default=None, metavar="CARD.yaml",
                   help="bioimageio: model card (name, authors, training data, validation...; default: "
                   "NAME.card.yaml beside the checkpoint, else what the checkpoint records)")
    p.add_argument("--input-dtype", choices=("uint8", "uint16"), default=None,
                   help="bioimageio: sample type the package's input declares (default: uint8)")
    add_psf_options(p)
    p.add_argument("--noise", type=bounded(float, 0, what="a number from 0 to 1"), default=None, metavar="SIGMA",
                   help="with a PSF: the camera noise built in with it, a share of the range (default 0.01, 1 %%)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from microgan.errors import MicroGANError
    from microgan.core.portable import export_generator, format_errors
    from microgan.export.baked_psf import load_for_export

    if args.opset > OPSET_MAX:
        raise MicroGANError(f"--opset {args.opset}: this exporter writes opsets {OPSET_MIN} to {OPSET_MAX}")
    path = Path(args.output)
    if path.exists() and not args.overwrite:
        raise MicroGANError(f"{path}: already exists (pass --overwrite to replace it)")
    generator, meta = load_for_export(args.model, psf_argument(args), args.noise)
    if args.format == "bioimageio":
        return _run_bioimageio(args, path, generator, meta)
    given = [flag for flag, value in (("--card", args.card), ("--input-dtype", args.input_dtype)) if value is not None]
    if given:  # an ONNX or TorchScript file holds the network alone: nothing to put them in
        raise MicroGANError(f"{' and '.join(given)} describe a bioimage.io package; {args.format} exports hold the "
                            "network alone (drop them, or --format bioimageio)")
    errors = export_generator(generator, path, args.format, args.opset, meta)
    print(f"wrote {path} ({args.format}{_baked(meta)}); parity with PyTorch on random sizes:")
    print("\n".join(format_errors(errors)))
    print(f"max |error| {max(errors.values()):.2e} in [-1, 1] units")
    return 0


def _baked(meta) -> str:
    """``", PSF built in: ..."`` for a generator with a PSF built in, else nothing."""
    baked = meta.get("baked_psf")
    return "" if not baked else f", PSF {baked['source']} and noise {baked['noise']:g} built in"


def _run_bioimageio(args: argparse.Namespace, path, generator, meta) -> int:
    from microgan.export import format_errors
    from microgan.export.bioimageio import export_bioimageio
    from microgan.infer import Enhancer

    # the package is the network alone: a bioimage.io runtime runs no data-consistency step
    enhancer = Enhancer(generator, meta, device="cpu", precision="fp32", tile=None, consistency=False,
                        normalizer="range")  # what the package declares: training's mapping
    done = export_bioimageio(enhancer, path, card=args.card, dtype=args.input_dtype or "uint8", opset=args.opset)
    geo = done.geometry
    print(f"wrote {path} (bioimage.io model 0.5{_baked(meta)}; bioimageio test: {done.status})")
    print(f"  input sizes {geo.min} + n * {geo.step}, halo {geo.halo if geo.halo is not None else 'none'}, "
          f"test tensor {'x'.join(map(str, done.test_shape))}")
    for fmt, errors in done.parity.items():
        print(f"  {fmt} parity with PyTorch:")
        print("\n".join("  " + line for line in format_errors(errors)))
    for note in done.warnings:
        print(f"  note: {note}")
    return 0
