"""``microgan export``: a generator as ONNX or TorchScript with dynamic height and width, or as a
BioImage Model Zoo package (``--format bioimageio``, :mod:`microgan.export.bioimageio`).

The exported file is checked against PyTorch on random sizes before the command succeeds, and the
largest error is printed, so a deployment never starts from an unverified graph; a bioimage.io
package is also run through ``bioimage.core``'s own test.
"""
from __future__ import annotations

import argparse

from microgan.commands.argtypes import bounded


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
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from microgan.errors import MicroGANError
    from microgan.core.portable import export_model, format_errors

    if args.opset > OPSET_MAX:
        raise MicroGANError(f"--opset {args.opset}: this exporter writes opsets {OPSET_MIN} to {OPSET_MAX}")
    path = Path(args.output)
    if path.exists() and not args.overwrite:
        raise MicroGANError(f"{path}: already exists (pass --overwrite to replace it)")
    if args.format == "bioimageio":
        return _run_bioimageio(args, path)
    given = [flag for flag, value in (("--card", args.card), ("--input-dtype", args.input_dtype)) if value is not None]
    if given:  # an ONNX or TorchScript file holds the network alone: nothing to put them in
        raise MicroGANError(f"{' and '.join(given)} describe a bioimage.io package; {args.format} exports hold the "
                            "network alone (drop them, or --format bioimageio)")
    errors = export_model(args.model, path, args.format, args.opset)
    print(f"wrote {path} ({args.format}); parity with PyTorch on random sizes:")
    print("\n".join(format_errors(errors)))
    print(f"max |error| {max(errors.values()):.2e} in [-1, 1] units")
    return 0


def _run_bioimageio(args: argparse.Namespace, path) -> int:
    from microgan.export import format_errors
    from microgan.export.bioimageio import export_bioimageio
    from microgan.infer import Enhancer

    # the package is the network alone: a bioimage.io runtime runs no data-consistency step
    enhancer = Enhancer.from_model(args.model, device="cpu", precision="fp32", tile=None, consistency=False,
                                    normalizer="range")  # what the package declares: training's mapping
    done = export_bioimageio(enhancer, path, card=args.card, dtype=args.input_dtype or "uint8", opset=args.opset)
    geo = done.geometry
    print(f"wrote {path} (bioimage.io model 0.5; bioimageio test: {done.status})")
    print(f"  input sizes {geo.min} + n * {geo.step}, halo {geo.halo if geo.halo is not None else 'none'}, "
          f"test tensor {'x'.join(map(str, done.test_shape))}")
    for fmt, errors in done.parity.items():
        print(f"  {fmt} parity with PyTorch:")
        print("\n".join("  " + line for line in format_errors(errors)))
    for note in done.warnings:
        print(f"  note: {note}")
    return 0
