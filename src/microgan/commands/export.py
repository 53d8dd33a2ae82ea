"""``microgan export``: a generator as ONNX or TorchScript with dynamic height and width.

The exported file is checked against PyTorch on random sizes before the command succeeds, and the
largest error is printed, so a deployment never starts from an unverified graph.
"""
from __future__ import annotations

import argparse


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "export",
        help="export a generator to ONNX or TorchScript (any input size)",
        description="Export a trained generator with dynamic height and width; the graph takes and "
        "returns float32 (N, C, H, W) in [-1, 1]. Checked against PyTorch on random sizes.",
    )
    p.add_argument("--model", default=None, help="checkpoint file, training run folder or bundled model name "
                   "(default: the bundled model)")
    p.add_argument("--format", choices=("onnx", "torchscript"), default="onnx", help="default: onnx")
    p.add_argument("-o", "--output", required=True, metavar="FILE", help="file to write (.onnx / .pt)")
    p.add_argument("--opset", type=int, default=17, help="ONNX opset version (default: 17)")
    p.add_argument("--overwrite", action="store_true", help="replace an existing FILE")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from microgan.errors import MicroGANError
    from microgan.core.portable import export_model, format_errors

    path = Path(args.output)
    if path.exists() and not args.overwrite:
        raise MicroGANError(f"{path}: already exists (pass --overwrite to replace it)")
    errors = export_model(args.model, path, args.format, args.opset)
    print(f"wrote {path} ({args.format}); parity with PyTorch on random sizes:")
    print("\n".join(format_errors(errors)))
    print(f"max |error| {max(errors.values()):.2e} in [-1, 1] units")
    return 0
