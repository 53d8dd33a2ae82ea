"""Inference benchmark: megapixels/s per variant and precision, the CPU's compute limit beside it,
and peak memory of a large image restored whole vs tiled.

    .venv/bin/python benchmarks/inference.py                       # reduced default, < ~10 min here
    .venv/bin/python benchmarks/inference.py --size 4096x3072      # the issue's full field

Generators are built from the bundled configs with random weights, identity start off (speed and
memory do not depend on the weights; the bf16/fp16 error does somewhat: it is measured on random
weights, as a guide).
Every peak-memory case runs in a fresh subprocess and reads its own ``ru_maxrss``, because the
allocator never returns memory to the OS and torch's allocations are invisible to tracemalloc.
The compute limit is the measured fp32 matmul GFLOP/s divided by the model's FLOPs per pixel
(convolution multiply-adds x 2, counted with forward hooks): no convolution can beat it.
"""
from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Dict, List, Optional

import numpy as np
import torch
from torch import nn

from microgan.archs import build_generator
from microgan.config import load_config
from microgan.core.device import cpu_has_native_bf16, resolve_device
from microgan.infer import Enhancer
from microgan.infer.memory import activation_bytes_per_pixel

VARIANTS = ("microgan", "microgan-fs", "microgan-nt", "deblurgan")
REPO = Path(__file__).resolve().parents[1]


def _size(text: str) -> tuple[int, int]:
    width, _, height = text.lower().partition("x")
    return int(width), int(height)


def _generator(variant: str) -> nn.Module:
    """Random weights everywhere: the configs' identity start (a zeroed last layer) would make the
    generator an exact identity, hiding precision errors and tile seams."""
    torch.manual_seed(0)
    return build_generator({**load_config(variant)["generator"], "identity_init": False}).eval()


def flops_per_pixel(net: nn.Module, side: int = 128) -> float:
    """2 x convolution multiply-adds per input pixel, counted with forward hooks."""
    macs = [0]

    def conv(module: nn.Conv2d, inputs: Any, out: torch.Tensor) -> None:
        macs[0] += out.numel() * (module.in_channels // module.groups) * module.kernel_size[0] * module.kernel_size[1]

    def deconv(module: nn.ConvTranspose2d, inputs: Any, out: torch.Tensor) -> None:
        k = module.kernel_size[0] * module.kernel_size[1]
        macs[0] += inputs[0].numel() * (module.out_channels // module.groups) * k

    hooks = [
        m.register_forward_hook(deconv if isinstance(m, nn.ConvTranspose2d) else conv)
        for m in net.modules()
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d))
    ]
    with torch.inference_mode():
        net(torch.zeros(1, 3, side, side))
    for h in hooks:
        h.remove()
    return 2.0 * macs[0] / (side * side)


def matmul_gflops(dtype: torch.dtype, n: int = 1024, reps: int = 5) -> float:
    """Best-of-``reps`` square matmul throughput: the practical peak of this CPU for ``dtype``."""
    a, b = torch.rand(n, n).to(dtype), torch.rand(n, n).to(dtype)
    a @ b
    best = float("inf")
    for _ in range(reps):
        t = time.perf_counter()
        a @ b
        best = min(best, time.perf_counter() - t)
    return 2 * n**3 / best / 1e9


def _image(width: int, height: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (height, width, 3), dtype=np.uint8)


def throughput(variant: str, precision: str, width: int, height: int, reps: int) -> Dict[str, Any]:
    """Best-of-``reps`` whole-image megapixels/s (after a warm-up) and the error vs fp32."""
    net = _generator(variant)
    image = _image(width, height)
    enh = Enhancer(net, {}, device="auto", precision=precision, tile=None)
    enh.enhance(image[:16, :16])
    best = float("inf")
    for _ in range(reps):
        t = time.perf_counter()
        out = enh.enhance(image)
        best = min(best, time.perf_counter() - t)
    row = {"variant": variant, "precision": precision, "size": f"{width}x{height}", "seconds": best,
           "mp_per_s": width * height / best / 1e6}
    if precision != "fp32":
        ref = Enhancer(net, {}, device="auto", precision="fp32", tile=None).enhance(image).astype(int)
        diff = np.abs(out.astype(int) - ref)
        row.update(max_err_levels=int(diff.max()), mean_err_levels=float(diff.mean()))
    return row


def memory_case(variant: str, width: int, height: int, tile: Optional[int], save: str) -> Dict[str, Any]:
    """Child-process body: restore one image, report seconds and peak RSS (this process only);
    the result goes to ``save`` (.npy) so the parent can compare tiled with whole."""
    net = _generator(variant)
    enh = Enhancer(net, {}, device="cpu", precision="fp32", tile=tile)
    overlap = enh.overlap if tile else 0  # measure the receptive field before the clock starts
    image = _image(width, height, seed=1)
    base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    t = time.perf_counter()
    np.save(save, enh.enhance(image))
    seconds = time.perf_counter() - t
    return {"variant": variant, "size": f"{width}x{height}", "tile": tile or "whole",
            "overlap": overlap, "seconds": seconds, "mp_per_s": width * height / seconds / 1e6,
            "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
            "before_mb": base / 1024}


def _geometry(variant: str) -> Dict[str, Any]:
    """What the tiler decides from: stride multiple, measured receptive radius, auto overlap and
    the activation estimate the auto tile size is based on."""
    enh = Enhancer(_generator(variant), {}, device="cpu", precision="fp32", tile="auto")
    return {"variant": variant, "multiple": enh.multiple, "radius": enh.receptive_radius,
            "overlap": enh.overlap, "bytes_per_px": activation_bytes_per_pixel(enh.generator, enh.channels, enh.device)}


def _child(case: Dict[str, Any]) -> Dict[str, Any]:
    cmd = [sys.executable, __file__, "--child", json.dumps(case)]
    out = subprocess.run(cmd, capture_output=True, text=True, cwd=REPO)
    if out.returncode != 0:
        return {**case, "error": (out.stderr.strip().splitlines() or ["?"])[-1]}
    return json.loads(out.stdout.strip().splitlines()[-1])


def _machine() -> str:
    name = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                name = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "no GPU"
    bf16 = "native bf16" if cpu_has_native_bf16() else "no native bf16"
    return f"{os.cpu_count()}-core {platform.machine()} CPU ({name}, {bf16}), {gpu}"


def report(limits: Dict[str, Any], speed: List[Dict[str, Any]], memory: List[Dict[str, Any]],
           geometry: List[Dict[str, Any]], load: tuple, seconds: float) -> str:
    lines = [
        "# Inference benchmarks",
        "",
        f"- Date: {dt.datetime.now().strftime('%Y-%m-%d %H:%M')}",
        f"- Machine: {_machine()}; torch {torch.__version__}, {torch.get_num_threads()} threads",
        f"- Command: `{' '.join(['.venv/bin/python', 'benchmarks/inference.py', *sys.argv[1:]])}`",
        f"- Load average at start / end: {load[0]:.1f} / {os.getloadavg()[0]:.1f} (shared machine: "
        "other jobs were running, so absolute speeds are pessimistic); run took "
        f"{seconds / 60:.1f} min",
        f"- Matmul peak: fp32 {limits['fp32_gflops']:.0f} GFLOP/s, bf16 {limits['bf16_gflops']:.1f} GFLOP/s",
        "",
        "## Speed per variant and precision (whole image, random weights)",
        "",
        "Limit = fp32 matmul GFLOP/s / model FLOPs per pixel. Error = |precision - fp32| on the same "
        "8-bit image, in 8-bit levels.",
        "",
        "| variant | precision | image | MP/s | s/image | MFLOP/px | limit MP/s | % of limit | max err | mean err |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for row in speed:
        fpp = limits["flops_per_px"][row["variant"]]
        peak = limits["fp32_gflops"] * 1e9 / fpp / 1e6
        err = (f"{row['max_err_levels']} | {row['mean_err_levels']:.3f}" if "max_err_levels" in row else "- | -")
        lines.append(
            f"| {row['variant']} | {row['precision']} | {row['size']} | {row['mp_per_s']:.4f} | "
            f"{row['seconds']:.2f} | {fpp / 1e6:.3f} | {peak:.3f} | {100 * row['mp_per_s'] / peak:.0f}% | {err} |"
        )
    lines += [
        "",
        "## Peak memory: whole vs tiled (fresh process per case, fp32)",
        "",
        "Peak RSS of the whole process (torch, model and image included); `before` is the RSS before "
        "the restoration started.",
        "",
        "| variant | image | mode | overlap | s | MP/s | peak RSS MB | before MB | max diff vs whole |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for row in memory:
        if "error" in row:
            lines.append(f"| {row['variant']} | {row['size']} | {row['tile']} | | failed: {row['error']} | | | | |")
            continue
        lines.append(
            f"| {row['variant']} | {row['size']} | {row['tile']} | {row['overlap']} | {row['seconds']:.1f} | "
            f"{row['mp_per_s']:.4f} | {row['peak_rss_mb']:.0f} | {row['before_mb']:.0f} | "
            f"{row.get('max_diff_levels', '-')} |"
        )
    full = 4096 * 3072
    for row in memory:
        w, h = _size(row["size"])
        if row.get("tile") == "whole" and "error" not in row and w * h < full:
            grown = row["before_mb"] + (row["peak_rss_mb"] - row["before_mb"]) * full / (w * h)
            lines.append(
                f"| {row['variant']} | 4096x3072 | whole, extrapolated | 0 | {row['seconds'] * full / (w * h):.0f} | "
                f"{row['mp_per_s']:.4f} | {grown:.0f} | {row['before_mb']:.0f} | - |"
            )
    lines += [
        "",
        "Max diff: tiled output vs whole-image output of the same 8-bit image, in 8-bit levels. "
        "Extrapolated rows scale the measured growth (peak - before) and time linearly with the pixel "
        "count: whole-image activations are proportional to it.",
        "",
        "## Tiling geometry",
        "",
        "Receptive radius measured from the gradient support of one output pixel of a structural "
        "copy of the generator (averaging convolutions, average pools; none: instance norm, every "
        "pixel sees the whole image); auto overlap = 2 x radius + 32-pixel ramp; the "
        "estimate is the upper bound the auto tile size is computed from (all leaf outputs alive), "
        "to compare with the measured growth per pixel above.",
        "",
        "| variant | size multiple | receptive radius | auto overlap | estimated activation bytes/px |",
        "|---|---|---|---|---|",
    ]
    for g in geometry:
        lines.append(f"| {g['variant']} | {g['multiple']} | {g['radius']} | {g['overlap']} | {g['bytes_per_px']:.0f} |")
    for row in memory:
        w, h = _size(row["size"])
        if row.get("tile") == "whole" and "error" not in row:
            grown = (row["peak_rss_mb"] - row["before_mb"]) * 2**20 / (w * h)
            lines.append(f"\nMeasured growth of the whole-image case ({row['variant']}): {grown:.0f} bytes/px.")
    return "\n".join(lines) + "\n"


MARKERS = ("<!-- results:start -->", "<!-- results:end -->")


def write_results(path: Path, text: str) -> None:
    """Replace the results between the markers, keeping the hand-written analysis around them."""
    block = f"{MARKERS[0]}\n{text}{MARKERS[1]}\n"
    old = path.read_text() if path.is_file() else ""
    if MARKERS[0] in old and MARKERS[1] in old:
        head, rest = old.split(MARKERS[0], 1)
        block = head + block + rest.split(MARKERS[1], 1)[1].lstrip("\n")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(block)


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=VARIANTS)
    parser.add_argument("--precisions", nargs="+", default=None,
                        help="default: fp32 and bf16 (+ fp16 on CUDA)")
    parser.add_argument("--crop", type=_size, default=(256, 192), help="fp32/fp16 speed image WxH")
    parser.add_argument("--bf16-crop", type=_size, default=(64, 48),
                        help="bf16 speed image WxH (bf16 is emulated, ~60x slower, on CPUs without native bf16)")
    parser.add_argument("--reps", type=int, default=2)
    parser.add_argument("--size", type=_size, default=(1024, 768), help="whole-vs-tiled image WxH")
    parser.add_argument("--tile", type=int, default=512, help="tile side for the tiled case")
    parser.add_argument("--modes", nargs="+", default=["whole", "tiled"], choices=("whole", "tiled"),
                        help="memory cases to run (tiled alone makes the full 4096x3072 field affordable)")
    parser.add_argument("--memory-variants", nargs="+", default=["microgan"], choices=VARIANTS)
    parser.add_argument("--out", type=Path, default=REPO / "docs" / "benchmarks.md")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        print(json.dumps(memory_case(**json.loads(args.child))))
        return 0

    started, load = time.perf_counter(), os.getloadavg()
    cuda = resolve_device("auto").type == "cuda"
    precisions = args.precisions or (["fp32", "bf16"] + (["fp16"] if cuda else []))
    limits: Dict[str, Any] = {
        "fp32_gflops": matmul_gflops(torch.float32),
        "bf16_gflops": matmul_gflops(torch.bfloat16, n=512, reps=2),
        "flops_per_px": {v: flops_per_pixel(_generator(v)) for v in args.variants},
    }
    speed = []
    for variant in args.variants:
        for precision in precisions:
            emulated = precision == "bf16" and not cuda and not cpu_has_native_bf16()
            w, h = args.bf16_crop if emulated else args.crop
            speed.append(throughput(variant, precision, w, h, 1 if emulated else args.reps))
            print(json.dumps(speed[-1]), flush=True)
    memory = []
    width, height = args.size
    with tempfile.TemporaryDirectory() as tmp:
        for variant in args.memory_variants:
            saved = [f"{tmp}/{variant}-whole.npy", f"{tmp}/{variant}-tiled.npy"]
            for tile, save in zip((None, args.tile), saved):
                if ("whole" if tile is None else "tiled") not in args.modes:
                    continue
                case = {"variant": variant, "width": width, "height": height, "tile": tile, "save": save}
                memory.append(_child(case))
                print(json.dumps(memory[-1]), flush=True)
            if all(Path(p).is_file() for p in saved):
                whole, tiled = (np.load(p).astype(int) for p in saved)
                memory[-1]["max_diff_levels"] = int(np.abs(whole - tiled).max())
    geometry = [_geometry(v) for v in args.variants]
    text = report(limits, speed, memory, geometry, load, time.perf_counter() - started)
    write_results(args.out, text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
