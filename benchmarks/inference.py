"""Inference benchmark: how close restoration runs to this machine's limit, in how much memory.

    .venv/bin/python benchmarks/inference.py                  # ~15-40 min on a shared 2-core CPU
    .venv/bin/python benchmarks/inference.py --quick          # smaller field and fewer rounds

Measured in one run and written to ``docs/benchmarks.md`` (between the results markers) with the
date, machine and load:

1. **The conv limit**: a 3x3 convolution 64 -> 64 channels on a 256x256 image, PyTorch's default
   layout and channels_last (GFLOP/s = 2 x multiply-adds / time).
2. **Each backend and layout** on the bundled model at 512x512 (and the other generators, random
   weights, at 256x256): PyTorch default layout, PyTorch channels_last, ONNX Runtime; model
   GFLOP/s = convolution FLOPs per pixel (counted with hooks) x pixels / time.
3. **The whole ``microgan enhance`` command** on a 4096x3072 RGB field (a mosaic of real BCCD
   fields when the data set is found), default options, in a fresh process: wall time, peak
   resident memory (``wait4``), the tile plan it chose, achieved model GFLOP/s, and the max
   difference from the same field restored whole (``--tile off --max-memory off``).
4. **The planner at other budgets**: a smaller field under several ``--max-memory`` values, each
   tiled output compared with the whole-image one.

The machine is shared (other agents' tests, a training run at higher priority), so absolute
times are noisy: every comparison is a ratio of measurements taken side by side. Items 1-2 run in
rounds (conv default, conv channels_last, each backend, ...) and each ratio is the median of the
per-round ratios; each command run is bracketed by conv-limit samples and compared with their
mean. Each timed sample lasts about a second or more, so short and long measurements see the same
average load.
"""
from __future__ import annotations

import argparse
import copy
import datetime as dt
import json
import os
import platform
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Tuple

import numpy as np
import torch
from torch import nn

from microgan.archs import build_generator
from microgan.config import load_config
from microgan.core.checkpoint import load_generator
from microgan.core.device import cpu_has_native_bf16
from microgan.core.geometry import receptive_field
from microgan.data.io import read_image, write_image
from microgan.infer import Enhancer
from microgan.infer.backends import OnnxRuntimeBackend, TorchBackend, onnx_graph, onnxruntime_available

REPO = Path(__file__).resolve().parents[1]
OTHER_VARIANTS = ("microgan-nt", "deblurgan")


def _size(text: str) -> Tuple[int, int]:
    width, _, height = text.lower().partition("x")
    return int(width), int(height)


# --------------------------------------------------------------------------------------- compute


def flops_per_pixel(net: nn.Module, channels: int = 3, side: int = 128) -> float:
    """2 x convolution multiply-adds per input pixel, counted with forward hooks."""
    macs = [0]

    def conv(module: nn.Conv2d, inputs: Any, out: torch.Tensor) -> None:
        macs[0] += out.numel() * (module.in_channels // module.groups) * module.kernel_size[0] * module.kernel_size[1]

    def deconv(module: nn.ConvTranspose2d, inputs: Any, out: torch.Tensor) -> None:
        macs[0] += inputs[0].numel() * (module.out_channels // module.groups) * module.kernel_size[0] * module.kernel_size[1]

    hooks = [m.register_forward_hook(deconv if isinstance(m, nn.ConvTranspose2d) else conv)
             for m in net.modules() if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d))]
    with torch.inference_mode():
        net(torch.zeros(1, channels, side, side))
    for h in hooks:
        h.remove()
    return 2.0 * macs[0] / (side * side)


def _sustained(run: Callable[[], Any], flops: float, seconds: float = 1.0) -> float:
    """GFLOP/s of ``run`` repeated for about ``seconds`` (after one untimed call)."""
    run()
    count, start = 0, time.perf_counter()
    while True:
        run()
        count += 1
        elapsed = time.perf_counter() - start
        if elapsed >= seconds:
            return flops * count / elapsed / 1e9


class ConvLimit:
    """A 3x3 conv 64 -> 64 at 256x256: what this CPU's convolutions can do, per layout."""

    FLOPS = 2 * 64 * 64 * 9 * 256 * 256

    def __init__(self) -> None:
        torch.manual_seed(0)
        self.conv = nn.Conv2d(64, 64, 3, padding=1).eval()
        self.x = torch.rand(1, 64, 256, 256)
        self.conv_cl = copy.deepcopy(self.conv).to(memory_format=torch.channels_last)
        self.x_cl = self.x.contiguous(memory_format=torch.channels_last)

    @torch.inference_mode()
    def sample(self, channels_last: bool) -> float:
        conv, x = (self.conv_cl, self.x_cl) if channels_last else (self.conv, self.x)
        return _sustained(lambda: conv(x), self.FLOPS)


def _backends(net: nn.Module, side: int) -> Dict[str, Callable[[np.ndarray], np.ndarray]]:
    """The ways to run one pass: PyTorch default layout, PyTorch channels_last, ONNX Runtime."""
    plain = copy.deepcopy(net).eval()

    @torch.inference_mode()
    def default(x: np.ndarray) -> np.ndarray:
        return plain(torch.from_numpy(x)).numpy()

    runs = {"torch (default layout)": default,
            "torch channels_last": TorchBackend(copy.deepcopy(net), torch.device("cpu"), "fp32")}
    if onnxruntime_available():
        runs["onnxruntime"] = OnnxRuntimeBackend(onnx_graph(copy.deepcopy(net)), torch.get_num_threads())
    return runs


def backend_rounds(nets: Dict[str, Tuple[nn.Module, int]], rounds: int, limit: ConvLimit) -> Dict[str, Any]:
    """Interleaved rounds: conv limits, then every backend of every model, ``rounds`` times."""
    prepared = {}
    for name, (net, side) in nets.items():
        x = np.random.default_rng(0).uniform(-1, 1, (1, 3, side, side)).astype(np.float32)
        prepared[name] = (flops_per_pixel(net) * side * side, x, _backends(net, side), side)
    samples: Dict[str, List[float]] = {"conv default": [], "conv channels_last": []}
    for r in range(rounds):
        samples["conv default"].append(limit.sample(False))
        samples["conv channels_last"].append(limit.sample(True))
        for name, (flops, x, runs, side) in prepared.items():
            for backend, run in runs.items():
                samples.setdefault(f"{name}|{backend}", []).append(_sustained(lambda: run(x), flops))
        print(f"round {r + 1}/{rounds}: " + ", ".join(f"{k} {v[-1]:.1f}" for k, v in samples.items()), flush=True)
    return {"samples": samples, "sides": {n: p[3] for n, p in prepared.items()},
            "flops_per_px": {n: p[0] / p[3] ** 2 for n, p in prepared.items()}}


# --------------------------------------------------------------------------------------- the command


def make_field(path: Path, width: int, height: int) -> str:
    """A width x height RGB field: a mosaic of real BCCD fields when found, else scikit-image's."""
    bccd = Path(os.environ.get("MICROGAN_BCCD", REPO.parent / "shared" / "data" / "bccd")) / "BCCD" / "JPEGImages"
    files = sorted(bccd.glob("*.jpg"))
    if files:
        tiles, source = [read_image(f).array for f in files[: 64]], f"mosaic of BCCD fields ({bccd})"
    else:
        from skimage import data

        tiles, source = [data.immunohistochemistry(), data.astronaut(), data.coffee()], "mosaic of scikit-image samples"
    field = np.zeros((height, width, 3), np.uint8)
    k, y = 0, 0
    while y < height:
        x, row = 0, 0
        while x < width:
            tile = tiles[k % len(tiles)]
            h, w = min(tile.shape[0], height - y), min(tile.shape[1], width - x)
            field[y : y + h, x : x + w] = tile[:h, :w]
            x, row, k = x + w, max(row, h), k + 1
        y += row
    write_image(path, field, overwrite=True)
    return source


def run_command(args: List[str], env: Dict[str, str]) -> Dict[str, Any]:
    """``python -m microgan enhance ARGS`` in a fresh process: wall seconds, peak RSS (MiB), notes.

    The peak comes from GNU time, whose own small process forks the command: the ``ru_maxrss`` a
    large parent reads for its children includes the pages a forked child shared with it."""
    with tempfile.TemporaryDirectory() as scratch:
        usage = Path(scratch) / "usage"
        cmd = ["/usr/bin/time", "-o", str(usage), "-f", "%M %U",
               sys.executable, "-m", "microgan", "enhance", *args]
        start = time.perf_counter()
        proc = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=REPO)
        wall = time.perf_counter() - start
        if proc.returncode != 0:
            raise RuntimeError(f"enhance {' '.join(args)} failed ({proc.returncode}): {proc.stderr.strip()[-500:]}")
        peak_kib, user = usage.read_text().split()[-2:]
    plan = re.search(r"in (\d+)x(\d+) tiles of up to (\d+)x(\d+) pixels \(\+([\d.]+) % computed\)", proc.stderr)
    return {"wall_s": wall, "peak_rss_mib": int(peak_kib) / 1024, "user_s": float(user),
            "plan": "whole" if plan is None else f"{plan[1]}x{plan[2]} tiles of {plan[3]}x{plan[4]}",
            "overhead_pct": 0.0 if plan is None else float(plan[5]), "stdout": proc.stdout.strip()}


def _levels(a: Path, b: Path) -> Tuple[int, float]:
    x, y = read_image(a).array.astype(np.int64), read_image(b).array.astype(np.int64)
    diff = np.abs(x - y)
    return int(diff.max()), float((diff > 0).mean())


def _meminfo_available() -> int:
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemAvailable:"):
            return int(line.split()[1]) * 1024
    return 0


def _measured_bpp(cache: Path) -> float:
    doc = json.loads((cache / "microgan" / "calibration.json").read_text())
    return max((v["bytes_per_pixel"] for k, v in doc.items() if k.startswith("memory|")), default=1500.0)


def _chosen_backend(cache: Path) -> str:
    doc = json.loads((cache / "microgan" / "calibration.json").read_text())
    return next((v["winner"] for k, v in doc.items() if k.startswith("speed|")), "torch-channels_last")


# --------------------------------------------------------------------------------------- report


def _machine() -> str:
    name = platform.processor() or platform.machine()
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            name = line.split(":", 1)[1].strip()
            break
    ort = ""
    if onnxruntime_available():
        import onnxruntime

        ort = f", onnxruntime {onnxruntime.__version__}"
    bf16 = "native bf16" if cpu_has_native_bf16() else "no native bf16"
    return (f"{os.cpu_count()}-core {platform.machine()} CPU ({name}, {bf16}), "
            f"{_meminfo_total() / 2**30:.0f} GiB; torch {torch.__version__}{ort}, {torch.get_num_threads()} threads")


def _meminfo_total() -> int:
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemTotal:"):
            return int(line.split()[1]) * 1024
    return 0


def _median_ratio(a: List[float], b: List[float]) -> float:
    return statistics.median(x / y for x, y in zip(a, b))


def report(info: Dict[str, Any]) -> str:
    s = info["backends"]["samples"]
    conv, conv_cl = statistics.median(s["conv default"]), statistics.median(s["conv channels_last"])
    lines = [
        "## Inference benchmarks",
        "",
        f"- Date: {info['date']}; run took {info['minutes']:.0f} min",
        f"- Machine: {info['machine']}",
        f"- Command: `{info['command']}`",
        f"- Load average at start / end: {info['load'][0]:.1f} / {info['load'][1]:.1f} (shared machine: other "
        "jobs ran meanwhile, so absolute speeds are pessimistic; read the ratios)",
        "",
        "### The conv limit and each backend (in-process, interleaved rounds)",
        "",
        f"Conv limit (3x3, 64 -> 64, 256x256, median of {len(s['conv default'])} rounds): default layout "
        f"**{conv:.1f} GFLOP/s**, channels_last **{conv_cl:.1f} GFLOP/s** (ratio {_median_ratio(s['conv channels_last'], s['conv default']):.2f}).",
        "",
        "| model | image | backend | GFLOP/s (median) | MP/s | vs channels_last conv limit | vs torch default layout |",
        "|---|---|---|---|---|---|---|",
    ]
    for name, side in info["backends"]["sides"].items():
        fpp = info["backends"]["flops_per_px"][name]
        base = s[f"{name}|torch (default layout)"]
        for key in [k for k in s if k.startswith(name + "|")]:
            g = statistics.median(s[key])
            lines.append(f"| {name} ({fpp / 1e6:.3f} MFLOP/px) | {side}x{side} | {key.split('|')[1]} | {g:.1f} | "
                         f"{g * 1e9 / fpp / 1e6:.3f} | {100 * _median_ratio(s[key], s['conv channels_last']):.0f} % | "
                         f"{_median_ratio(s[key], base):.2f}x |")
    f = info["field"]
    lines += [
        "",
        f"### `microgan enhance` on a {f['size']} RGB field, default options",
        "",
        f"Field: {f['source']}, PNG. Model: the bundled `microgan-bccd` ({f['fpp'] / 1e6:.3f} MFLOP/px). "
        f"Each run is a fresh process (`{f['command']}`); the user cache (exported graph, backend race, memory "
        "per pixel) was filled by a first run on a quarter field, timed separately.",
        "",
        "| run | backend | tile plan | extra pixels | wall s | peak RSS | model GFLOP/s | conv limit (channels_last, around the run) | ratio |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    c = f["cold"]
    lines.append(f"| first run, cold cache, {c['size']} | {f['candidate']} | {c['plan']} | {c['overhead_pct']:.1f} % | "
                 f"{c['wall_s']:.1f} | {c['peak_rss_mib']:.0f} MiB | - | - | - |")
    for k, run in enumerate(f["runs"], 1):
        lines.append(
            f"| {k} | {f['candidate']} | {run['plan']} | {run['overhead_pct']:.1f} % | {run['wall_s']:.1f} | "
            f"{run['peak_rss_mib']:.0f} MiB ({run['peak_rss_mib'] * 2**20 / 1e9:.2f} GB) | {run['gflops']:.1f} | "
            f"{run['limit']:.1f} GFLOP/s | **{100 * run['ratio']:.0f} %** |")
    m = f.get("more")
    if m:
        lines.append(f"| `--max-memory {m['budget']}` | {f['candidate']} | {m['plan']} | {m['overhead_pct']:.1f} % | "
                     f"{m['wall_s']:.1f} | {m['peak_rss_mib']:.0f} MiB ({m['peak_rss_mib'] * 2**20 / 1e9:.2f} GB) | "
                     f"{m['gflops']:.1f} | {m['limit']:.1f} GFLOP/s | {100 * m['ratio']:.0f} % |")
    w = f.get("whole")
    if w:
        lines.append(f"| whole (`--tile off --max-memory off --backend {f['backend']}`) | {f['backend']} | whole | 0 % | "
                     f"{w['wall_s']:.1f} | {w['peak_rss_mib']:.0f} MiB | {w['gflops']:.1f} | {w['limit']:.1f} GFLOP/s | "
                     f"{100 * w['ratio']:.0f} % |")
        lines += ["", f"Tiled (default) vs whole: max difference **{w['max_levels']} level(s)** of 255, "
                  f"{100 * w['differing']:.4f} % of samples differ."]
    else:
        lines += ["", f"Whole-image reference skipped: {f.get('whole_skipped', '')}"]
    sweep = info.get("sweep")
    if sweep:
        lines += [
            "",
            f"### The planner at other budgets ({sweep['size']} field, {sweep['backend']})",
            "",
            f"Whole (`--tile off --max-memory off`): peak RSS {sweep['whole_rss_mib']:.0f} MiB.",
            "",
            "| --max-memory | tile plan | extra pixels | peak RSS | max difference vs whole (levels) |",
            "|---|---|---|---|---|",
        ]
        for row in sweep["rows"]:
            lines.append(f"| {row['budget']} | {row['plan']} | {row['overhead_pct']:.1f} % | {row['peak_rss_mib']:.0f} MiB | "
                         f"{row['max_levels']} |")
    g = info["geometry"]
    lines += [
        "",
        "### Tiling geometry of the bundled model",
        "",
        f"Receptive radius {g['radius']} px (the farthest any output pixel sees, over every position in the "
        f"stride of {g['multiple']}), tile margin {g['margin']} px (how far from a tile edge on the stride grid "
        f"outputs are exact), halo {g['halo']} px. Memory per pixel of one pass: {g['upper_bpp']:.0f} B/px "
        f"upper bound (every layer output alive at once), measured {g['bpp']:.0f} B/px ({g['backend']}).",
    ]
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


# --------------------------------------------------------------------------------------- main


def _random_generator(variant: str) -> nn.Module:
    torch.manual_seed(0)
    return build_generator({**load_config(variant)["generator"], "identity_init": False}).eval()


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=5, help="interleaved rounds of conv limit and backends")
    parser.add_argument("--field", type=_size, default=(4096, 3072), help="field WxH for the enhance command")
    parser.add_argument("--command-runs", type=int, default=2, help="timed runs of the enhance command")
    parser.add_argument("--variants", nargs="*", default=list(OTHER_VARIANTS),
                        help="other generators (random weights) in the backend table")
    parser.add_argument("--sweep", nargs="*", default=["0.8G", "1.5G", "2.5G"],
                        help="--max-memory values of the planner sweep (on a field a quarter the size)")
    parser.add_argument("--more-memory", default="3G",
                        help="one more run of the field with this --max-memory (what a larger budget buys; '' to skip)")
    parser.add_argument("--whole-field", action="store_true",
                        help="also restore the full field whole (~15 GB for MicroGAN at 4096x3072) to compare")
    parser.add_argument("--quick", action="store_true", help="2048x1536 field, 3 rounds, 1 run, no other variants")
    parser.add_argument("--out", type=Path, default=REPO / "docs" / "benchmarks.md")
    args = parser.parse_args(argv)
    if args.quick:
        args.rounds, args.field, args.command_runs, args.variants = 3, (2048, 1536), 1, []
    started, load = time.perf_counter(), os.getloadavg()
    limit = ConvLimit()
    bundled, meta = load_generator(None, "cpu")
    nets = {"microgan-bccd": (bundled, 512), **{v: (_random_generator(v), 256) for v in args.variants}}
    info: Dict[str, Any] = {"machine": _machine(), "load": load,
                            "command": " ".join([".venv/bin/python", "benchmarks/inference.py", *sys.argv[1:]])}
    info["backends"] = backend_rounds(nets, args.rounds, limit)

    width, height = args.field
    fpp = info["backends"]["flops_per_px"]["microgan-bccd"]
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        env = {**os.environ, "XDG_CACHE_HOME": str(tmp / "cache")}
        source = make_field(tmp / "field.png", width, height)
        make_field(tmp / "quarter.png", width // 2, height // 2)
        field: Dict[str, Any] = {"size": f"{width}x{height}", "source": source, "fpp": fpp,
                                 "command": "python -m microgan enhance --model microgan-bccd field.png -o OUT --overwrite", "runs": []}
        cold = run_command(["--model", "microgan-bccd", str(tmp / "quarter.png"), "-o", str(tmp / "cold"), "--overwrite"], env)
        field["cold"] = {**cold, "size": f"{width // 2}x{height // 2}"}
        field["candidate"] = _chosen_backend(tmp / "cache")
        field["backend"] = field["candidate"].split("-")[0]  # the --backend that runs it
        print("cold", json.dumps({k: v for k, v in cold.items() if k != "stdout"}), flush=True)
        for k in range(args.command_runs):
            before = limit.sample(True)
            run = run_command(["--model", "microgan-bccd", str(tmp / "field.png"), "-o", str(tmp / "tiled"), "--overwrite"], env)
            after = limit.sample(True)
            run["limit"] = (before + after) / 2
            run["gflops"] = fpp * width * height / run["wall_s"] / 1e9
            run["ratio"] = run["gflops"] / run["limit"]
            field["runs"].append(run)
            print("run", k + 1, json.dumps({k2: v for k2, v in run.items() if k2 != "stdout"}), flush=True)
        if args.more_memory:
            before = limit.sample(True)
            run = run_command(["--model", "microgan-bccd", str(tmp / "field.png"), "-o", str(tmp / "more"), "--overwrite",
                               "--max-memory", args.more_memory], env)
            after = limit.sample(True)
            run.update(limit=(before + after) / 2, budget=args.more_memory)
            run["gflops"] = fpp * width * height / run["wall_s"] / 1e9
            run["ratio"] = run["gflops"] / run["limit"]
            field["more"] = run
            print("more", json.dumps({k: v for k, v in run.items() if k != "stdout"}), flush=True)
        # a whole-image pass needs the measured bytes per pixel for every pixel at once; other
        # people's jobs on a shared machine keep a margin of 6 GiB
        need = int(width * height * _measured_bpp(tmp / "cache") * 1.2) + 2**30
        if not args.whole_field:
            field["whole_skipped"] = "not asked for (--whole-field); the planner table below compares tiled with whole"
        elif _meminfo_available() > need + 6 * 2**30:
            before = limit.sample(True)
            whole = run_command([str(tmp / "field.png"), "-o", str(tmp / "whole"), "--overwrite", "--tile", "off",
                                 "--max-memory", "off", "--backend", field["backend"]], env)
            after = limit.sample(True)
            whole["limit"] = (before + after) / 2
            whole["gflops"] = fpp * width * height / whole["wall_s"] / 1e9
            whole["ratio"] = whole["gflops"] / whole["limit"]
            whole["max_levels"], whole["differing"] = _levels(tmp / "tiled" / "field.png", tmp / "whole" / "field.png")
            field["whole"] = whole
            print("whole", json.dumps({k: v for k, v in whole.items() if k != "stdout"}), flush=True)
        else:
            field["whole_skipped"] = f"less than {(need + 6 * 2**30) / 2**30:.0f} GiB available"
        info["field"] = field

        if args.sweep:
            rows = []
            ref = run_command([str(tmp / "quarter.png"), "-o", str(tmp / "sweep-whole"), "--overwrite", "--tile", "off",
                               "--max-memory", "off", "--backend", field["backend"]], env)
            for budget in args.sweep:
                run = run_command([str(tmp / "quarter.png"), "-o", str(tmp / f"sweep-{budget}"), "--overwrite",
                                   "--max-memory", budget, "--backend", field["backend"]], env)
                run["budget"] = budget
                run["max_levels"], _ = _levels(tmp / f"sweep-{budget}" / "quarter.png", tmp / "sweep-whole" / "quarter.png")
                rows.append(run)
                print("sweep", budget, run["plan"], run["max_levels"], flush=True)
            info["sweep"] = {"size": f"{width // 2}x{height // 2}", "backend": field["backend"], "rows": rows,
                             "whole_rss_mib": ref["peak_rss_mib"]}

        os.environ["XDG_CACHE_HOME"] = str(tmp / "cache")  # read the measurements the runs took
        enh = Enhancer(bundled, meta, device="cpu", backend=field["backend"], consistency=False)
        rf = receptive_field(bundled, 3, torch.device("cpu"))
        info["geometry"] = {"radius": rf.radius, "margin": rf.margin, "halo": enh.halo, "multiple": enh.multiple,
                            "upper_bpp": enh.bytes_per_pixel_bound(), "bpp": enh.bytes_per_pixel(),
                            "backend": enh.backend.candidate}
    info["date"] = dt.datetime.now().strftime("%Y-%m-%d %H:%M")
    info["load"] = (load[0], os.getloadavg()[0])
    info["minutes"] = (time.perf_counter() - started) / 60
    text = report(info)
    write_results(args.out, text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
