"""``microgan models``: the paper's variants side by side (parameters and CPU forward speed).

Reproduces the ``#Param`` / time rows of the paper's Table 3 on this machine, from the bundled
configs, so a reader sees the size/speed trade-off of trimming before training anything.
"""
from __future__ import annotations

import argparse
import json
import time
from typing import Any, Dict, List

from microgan.core.contract import to_network
from microgan.commands.argtypes import bounded

VARIANTS = ("microgan", "microgan-fs", "microgan-nt", "deblurgan")
#: Largest timing input: the full U-Net (MicroGAN-NT) holds ~2 KB per pixel in a pass.
MAX_SIZE = 2048


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "models",
        help="list the model variants with parameter counts and forward speed",
        description="Build each bundled variant's generator and critic, count parameters and time "
        "the generator's forward pass on a SIZE x SIZE input (median of REPEATS, after one warm-up).",
    )
    parser.add_argument("--json", action="store_true", help="print {variant: {generator_params, critic_params, ms_per_megapixel}}")
    parser.add_argument("--size", type=bounded(int, 8, what="a whole number"), default=256,
                        help=f"side of the square timing input, 8 to {MAX_SIZE} (default 256)")
    parser.add_argument("--repeats", type=int, default=3, help="timed forward passes per variant (default 3)")
    parser.add_argument("--variants", nargs="+", choices=VARIANTS, default=list(VARIANTS), metavar="VARIANT",
                        help=f"subset of {', '.join(VARIANTS)} (default all)")
    parser.set_defaults(func=run)


def measure(variant: str, size: int, repeats: int) -> Dict[str, Any]:
    """Parameter counts and generator milliseconds per megapixel for one bundled variant."""
    import torch

    from microgan.archs import build_critic, build_generator, count_params
    from microgan.config import load_config

    config = load_config(variant)
    generator = build_generator(config["generator"]).eval()
    critic = build_critic(config["critic"])
    x = to_network(torch.rand(1, generator.in_channels, size, size))
    times: List[float] = []
    with torch.inference_mode():
        generator(x)
        for _ in range(repeats):
            start = time.perf_counter()
            generator(x)
            times.append(time.perf_counter() - start)
    median = sorted(times)[len(times) // 2]
    return {
        "generator_params": count_params(generator),
        "critic_params": count_params(critic),
        "ms_per_megapixel": round(median * 1000 / (size * size / 1e6), 1),
    }


def run(args: argparse.Namespace) -> int:
    import torch

    from microgan.errors import ConfigError

    if args.size > MAX_SIZE or args.repeats < 1:  # a 100000-px square asked for 120 GB
        raise ConfigError(f"--size must be at most {MAX_SIZE} and --repeats at least 1, got {args.size} and {args.repeats}")
    results = {variant: measure(variant, args.size, args.repeats) for variant in args.variants}
    if args.json:
        print(json.dumps(results, indent=2))
        return 0
    header = f"{'variant':<12} {'generator params':>16} {'critic params':>14} {'ms / megapixel':>15}"
    print(header)
    print("-" * len(header))
    for variant, row in results.items():
        print(
            f"{variant:<12} {row['generator_params']:>16,} {row['critic_params']:>14,} {row['ms_per_megapixel']:>15.1f}"
        )
    print(f"(generator forward on 1x{args.size}x{args.size}, median of {args.repeats}, torch.inference_mode, "
          f"{torch.get_num_threads()} threads)")
    return 0
