"""The robustness grid: models against classical deconvolution on every degradation of the grid, per domain.

    python benchmarks/robustness_grid.py --data bccd=PREP_BCCD --data chula=PREP_CHULA \
        --model blind=microgan-blind --model bccd=microgan-bccd --limit 150 --out runs/grid [--self-ensemble]

For each domain (a prepared folder) and each cell of :data:`microgan.data.degrade.presets.GRID`, the
LR crops are made from the HR crops with that degradation (seeded per crop, the same for every
method), the classical baselines are tuned on the domain's validation crops twice, once with the
true PSF (an oracle, in their favour) and once with a PSF 30 % too wide (what a user who guesses
their optics gets), and everything is scored on the test crops (``--self-ensemble`` adds each model
averaged over the crops' eight rotations and mirror images, as ``NAME+x8``). ``--psf-model NAME=MODEL``
adds a model told the PSF twice: ``NAME+psf`` told each cell's true PSF (as the oracle baselines are)
and ``NAME`` estimating it per crop (blind). ``--scale S`` is the grid of upscaling: each cell sampled
by S after its blur (``gauss:1.5+down:2+noise:0.01``; the HR crops cut to multiples of S), the
baselines enlarging the LR crop (bicubic or Lanczos, tuned) before deconvolving, plus the exact data
term (``tikhonov``). Writes OUT/<domain>/<cell>.json (the evaluate command's report) and OUT/grid.md,
the table docs/results.md quotes.

    python benchmarks/robustness_grid.py --data bccd=PREP_BCCD --scale 2 --limit 60 --out runs/grid-x2
"""
from __future__ import annotations

import argparse
import json
import platform
import re
import sys
import time
from pathlib import Path
from typing import Dict, List, Tuple

BASELINES = ["identity", "wiener", "richardson-lucy", "unsharp"]
#: Upscaling adds the exact data term with the sampling (microgan.infer.classical's ``tikhonov``): beside
#: interpolation followed by deconvolution it would otherwise be a straw man.
UPSCALING_BASELINES = BASELINES + ["tikhonov"]


def _pairs(values: List[str], what: str) -> List[Tuple[str, str]]:
    out = []
    for value in values:
        name, sep, ref = value.partition("=")
        if not sep or not name or not ref:
            sys.exit(f"--{what} {value!r}: expected NAME=VALUE")
        out.append((name, ref))
    return out


def run_cell(data: Path, cell: str, models: List[Tuple[str, str, bool, object]], limit: int, tune_limit: int, scale: float,
             baselines: List[str]) -> Dict:
    """One cell's report; ``models``: (name, model, self-ensembled, psf: None or TRUE_PSF)."""
    from microgan.data.degrade.presets import parse_degradation_text
    from microgan.data.manifest import read_manifest
    from microgan.evaluate.pipeline import evaluate_and_report, tuned_baselines
    from microgan.evaluate.runner import CropSource, model_method, select

    records = read_manifest(data)
    source = CropSource(data, parse_degradation_text(cell), seed=0)
    methods = [model_method(name, ref, self_ensemble=ensembled, psf=psf) for name, ref, ensembled, psf in models]
    tuned, tuning = tuned_baselines(source, select(records, "val", tune_limit), baselines, "val", psf_scale=scale)
    _, report = evaluate_and_report(source, select(records, "test", limit), methods + tuned, "test", tuning=tuning, sharpness=False)
    return report


def verdict_row(domain: str, cell: str, report: Dict, models: List[str]) -> str:
    methods = report["methods"]
    classical = {n: m for n, m in methods.items() if m["kind"] == "baseline" and n != "identity"}
    oracle = max((n for n in classical if "@psf" not in n), key=lambda n: classical[n]["psnr"])
    guessed = max((n for n in classical if "@psf" in n or n == "unsharp"), key=lambda n: classical[n]["psnr"])
    cells = [domain, f"`{cell}`", f"{methods['identity']['psnr']:.2f} / {methods['identity']['ssim']:.4f}"]
    cells.append(f"{classical[oracle]['psnr']:.2f} / {classical[oracle]['ssim']:.4f} ({oracle})")
    cells.append(f"{classical[guessed]['psnr']:.2f} / {classical[guessed]['ssim']:.4f} ({guessed})")
    for name in models:
        m = methods[name]
        beats_guess = m["psnr"] > classical[guessed]["psnr"] and m["ssim"] > classical[guessed]["ssim"]
        beats_oracle = m["psnr"] > classical[oracle]["psnr"] and m["ssim"] > classical[oracle]["ssim"]
        mark = "beats both" if beats_oracle else ("beats guessed PSF" if beats_guess else "trails")
        cells.append(f"**{m['psnr']:.2f}** / {m['ssim']:.4f} ({mark})")
    return "| " + " | ".join(cells) + " |"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", action="append", required=True, metavar="DOMAIN=PREPARED")
    parser.add_argument("--model", action="append", default=[], metavar="NAME=MODEL")
    parser.add_argument("--psf-model", action="append", default=[], metavar="NAME=MODEL",
                        help="a model told the PSF: NAME+psf told each cell's true PSF, NAME estimating it")
    parser.add_argument("--told-only", action="store_true",
                        help="--psf-model only told the true PSF (NAME+psf), not also estimating it")
    parser.add_argument("--cells", nargs="+", default=None, help="grid cells (default: the whole GRID)")
    parser.add_argument("--limit", type=int, default=150, help="test crops per domain, spread evenly (default 150)")
    parser.add_argument("--tune-limit", type=int, default=24, help="val crops the baselines are tuned on (default 24)")
    parser.add_argument("--psf-scale", type=float, default=1.3, help="mis-specified PSF width factor (default 1.3)")
    parser.add_argument("--self-ensemble", action="store_true", help="also each model self-ensembled (x8), as NAME+x8")
    parser.add_argument("--scale", type=int, default=1,
                        help="upscaling: every cell sampled by this factor after its blur (down:S), the tikhonov baseline added")
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()

    from microgan.data.degrade.presets import GRID
    from microgan.evaluate.runner import TRUE_PSF
    from microgan.infer.ensemble import ENSEMBLE_SUFFIX

    domains = _pairs(args.data, "data")
    models = [(name, ref, False, None) for name, ref in _pairs(args.model, "model")]
    for name, ref in _pairs(args.psf_model, "psf-model"):
        models += [(f"{name}+psf", ref, False, TRUE_PSF)] + ([] if args.told_only else [(name, ref, False, None)])
    if not models and args.scale == 1:
        sys.exit("give at least one --model or --psf-model")
    models += [(f"{name}{ENSEMBLE_SUFFIX}", ref, True, psf) for name, ref, _, psf in models if args.self_ensemble]
    from microgan.data.degrade.presets import with_sampling

    cells = [with_sampling(cell, args.scale) for cell in (args.cells or list(GRID))]
    baselines = UPSCALING_BASELINES if args.scale > 1 else BASELINES
    header = ["domain", "degradation", "blurred input", "best classical, true PSF", f"best classical, PSF x{args.psf_scale:g}"]
    header += [f"{name} (PSNR dB / SSIM)" for name, _, _, _ in models]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    started = time.time()
    for domain, data in domains:
        for cell in cells:
            t0 = time.time()
            report = run_cell(Path(data), cell, models, args.limit, args.tune_limit, args.psf_scale, baselines)
            path = args.out / domain / (re.sub(r"[^A-Za-z0-9.]+", "_", cell) + ".json")
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(json.dumps(report, indent=1) + "\n")
            lines.append(verdict_row(domain, cell, report, [n for n, _, _, _ in models]))
            print(lines[-1], f"({time.time() - t0:.0f} s)", flush=True)
    stamp = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    footer = (
        f"\n{args.limit} test crops per domain (evenly spread), baselines tuned on {args.tune_limit} val crops; "
        f"{stamp}, {platform.processor() or platform.machine()}, {time.time() - started:.0f} s in all.\n"
    )
    (args.out / "grid.md").write_text("\n".join(lines) + "\n" + footer)
    print(footer)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
