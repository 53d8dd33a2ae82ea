"""Turn a training run into the bundled pretrained model: generator weights only, stored as fp16.

    python scripts/bundle_pretrained.py RUN [--out src/microgan/weights/microgan-bccd.safetensors]
        [--data PREPARED --split val --limit 64]

RUN may be a recipe run (``microgan train --recipe NAME --out RUN``): its last stage's best checkpoint
is bundled, and the recipe's name is recorded beside the lineage its stages' ``init_from`` chain gives.

The run's best checkpoint is stripped of the critic, optimizer and RNG states (keeping its config, step,
scores and training record: L1 alone or GAN) and its floating
weights are stored as float16 (half the size). The accuracy cost of fp16 storage is measured, not
assumed: both versions restore the same crops and the largest difference (in 8-bit levels) and the
PSNR of each are printed and stored in the file's metadata under ``bundle``.
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import torch

from microgan.core.sampling import crop_to_scale
from microgan.data.degrade import Compose, Downsample, build_degradation
from microgan.data.io import read_image
from microgan.data.manifest import read_manifest
from microgan.core.metrics import psnr
from microgan.infer import Enhancer
from microgan.infer.classical import degradation_psf, parse_degradation
from microgan.core.checkpoint import Checkpoint, load_checkpoint, load_generator, resolve_model_path, save_checkpoint
from microgan.core.provenance import training_of
from microgan.train.recipe import STATE_NAME, output_checkpoint

DEFAULT_OUT = Path(__file__).resolve().parents[1] / "src/microgan/weights/microgan-bccd.safetensors"


def lineage(meta: dict) -> list:
    """Every training stage that made the weights, oldest first: a fine-tuned run (``--init-from``)
    started from another checkpoint, whose local path means nothing to a user, so each stage's
    recipe (config name, steps, degradation, data) is copied in while the files still exist. A stage
    that started from a bundled model takes that model's own recorded lineage."""
    stages = []
    while meta:
        if meta.get("lineage"):  # a bundled model (``--init-from microgan-blind``): its stages are on record
            stages.extend(reversed(meta["lineage"]))
            break
        config = meta.get("config") or {}
        data = meta.get("training_data") or {}
        stages.append({
            "config": config.get("name"),
            "training": training_of(meta),
            "degradation": (config.get("data") or {}).get("degradation"),
            "repeat": (config.get("data") or {}).get("repeat"),  # per-folder visits per epoch (None: once)
            "data": [((f.get("source") or {}).get("type"), f.get("crops")) for f in data.get("folders", [])]
                    or None,
            "crops": data.get("crops"),
        })
        start = meta.get("init_from") or {}
        path = start.get("path")
        meta = load_checkpoint(path, generator_only=True).meta if path and Path(path).is_file() else {}
        if meta and start.get("step") is not None and meta.get("step") != start["step"]:
            meta = {}  # the file was replaced since (e.g. a bundled model re-bundled): not the start
        if start and not meta:
            stages.append({"config": start.get("name"), "step": start.get("step"), "note": "recorded by name only"})
    return stages[::-1]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("run", help="training run folder or checkpoint")
    ap.add_argument("--out", type=Path, default=DEFAULT_OUT)
    ap.add_argument("--data", type=Path, help="prepared folder used to measure the fp16 storage loss")
    ap.add_argument("--split", default="val")
    ap.add_argument("--limit", type=int, default=64)
    args = ap.parse_args()

    recipe_state = Path(args.run) / STATE_NAME
    source = output_checkpoint(Path(args.run)) if recipe_state.is_file() else resolve_model_path(args.run)
    ckpt = load_checkpoint(source, generator_only=True)
    # training_data: the leak check; io: the value contract (and an upscaling model's scale)
    keep = ("config", "step", "epoch", "metrics", "best_psnr", "training_data", "init_from", "io")
    meta = {k: v for k, v in ckpt.meta.items() if k in keep}
    meta["training"] = training_of(ckpt.meta)  # how it was trained: L1 alone or GAN (core.provenance)
    meta["lineage"] = lineage(ckpt.meta)
    if recipe_state.is_file():
        meta["recipe"] = json.loads(recipe_state.read_text())["recipe"]
    if len(meta["lineage"]) > 1:  # "fine-tuned from" names every earlier stage, not a run's config name
        meta["training"]["started_from"] = " -> ".join(
            f"{stage['config']} ({(stage.get('training') or {}).get('steps', stage.get('step'))} steps)"
            for stage in meta["lineage"][:-1])
    if isinstance(meta.get("init_from"), dict):  # a path on the machine that trained it means nothing elsewhere
        meta["init_from"] = {k: v for k, v in meta["init_from"].items() if k in ("name", "step")}
    meta["bundle"] = {"source": source.name, "weights_dtype": "float16"}
    decay = ((meta.get("config") or {}).get("train") or {}).get("ema_decay")
    if decay is not None:  # best holds the average as its generator, last beside the live weights: say so either way
        meta["bundle"]["weights"] = f"moving average (train.ema_decay {decay})"
    ckpt = Checkpoint(meta=meta, generator=ckpt.model_weights)
    save_checkpoint(args.out, ckpt, weights_dtype=torch.float16)

    if args.data:
        records = [r for r in read_manifest(args.data) if r.split == args.split]
        step = max(1, len(records) // args.limit)
        records = records[::step][: args.limit]
        # the storage loss of the network itself: without the consistency step (its PSF choice is discrete)
        full = Enhancer(*load_generator(source), device="cpu", precision="fp32", consistency=False)
        half = Enhancer(*load_generator(args.out), device="cpu", precision="fp32", consistency=False)
        diffs, p_full, p_half = [], [], []
        for r in records:
            lr, hr = read_image(r.lr(args.data)).array, read_image(r.hr(args.data)).array
            if full.scale > 1:  # an upscaling model: the stored blur, then its camera's sampling, from the HR crop
                hr = np.ascontiguousarray(crop_to_scale(hr, full.scale))
                lr = Compose([build_degradation(parse_degradation(r.degradation)), Downsample(full.scale)])(hr)
            if full.takes_psf:  # told the PSF that made the stored pair, as its users tell theirs
                psf = degradation_psf(parse_degradation(r.degradation))
                full.set_psf(psf)
                half.set_psf(psf)
            a, b = full.enhance(lr), half.enhance(lr)
            diffs.append(int(np.abs(a.astype(int) - b.astype(int)).max()))
            p_full.append(psnr(a, hr))
            p_half.append(psnr(b, hr))
        loss = {"crops": len(records), "split": args.split, "max_abs_diff_8bit": max(diffs),
                "psnr_fp32_weights": float(np.mean(p_full)), "psnr_fp16_weights": float(np.mean(p_half))}
        meta["bundle"]["fp16_storage_loss"] = loss
        save_checkpoint(args.out, ckpt, weights_dtype=torch.float16)
        print(json.dumps(loss, indent=2))
    print(f"wrote {args.out} ({args.out.stat().st_size / 1e6:.1f} MB) from {source}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
