"""Build the prepared folders of the domains beyond BCCD and Chula (docs/results.md, the grid).

    python scripts/domains.py natural  --out /work/data/prep-natural   # training: photos as tiles
    python scripts/domains.py skimage  --out /work/data/prep-skimage   # held out: cell + IHC tissue
    python scripts/domains.py histo    --out /work/data/prep-histo --wheel stardist-0.9.2-....whl   # held out: H&E

* ``natural``: scikit-image's bundled photographs and textures (astronaut, cat, coffee, rocket,
  brick, grass, gravel, ...; no microscopy), cut into square-ish tiles of 40-160 px, the size
  range of single-cell crops. A PSF-aware model trains on them beside the blood smears so that no
  stain or sample type is learnt as "the" image. The bottom 15 % of every photo gives the val tiles.
* ``skimage``: **held out** (no model trains or is tuned on it): scikit-image's ``cell`` and
  ``immunohistochemistry``, segmented as the demo does (:func:`microgan.demo.skimage_images`).
* ``histo``: **held out**: the H&E-stained tissue image (Cancer Imaging Archive) that StarDist
  ships in its wheel (``stardist/data/images/histo.jpg``, 500x300; get the wheel with
  ``pip download stardist --no-deps``), nuclei segmented the same way (dark objects), its row
  bands standing in for the splits as the demo's tissue image does.
"""
from __future__ import annotations

import argparse
import io
import sys
import zipfile
from pathlib import Path

import numpy as np

NATURAL = ("astronaut", "chelsea", "coffee", "rocket", "hubble_deep_field", "brick", "grass", "gravel", "camera",
           "coins", "moon", "page", "text", "retina")
VAL_BAND = 0.85


def natural(out: Path, tiles_per_megapixel: int = 1500, seed: int = 0) -> None:
    from skimage import data as skdata

    from microgan.data.degrade import paper_degradation
    from microgan.data.io import write_image
    from microgan.data.manifest import CropRecord, write_manifest

    rng = np.random.default_rng(seed)
    blur = paper_degradation()
    records = []
    for name in NATURAL:
        image = getattr(skdata, name)()
        image = image[..., :3] if image.ndim == 3 else image
        if image.dtype != np.uint8:
            image = (255 * (image.astype(np.float64) - image.min()) / max(np.ptp(image), 1e-9)).astype(np.uint8)
        h, w = image.shape[:2]
        cut = int(round(VAL_BAND * h))
        for split, (top, bottom) in (("train", (0, cut)), ("val", (cut, h))):
            count = max(4, int(tiles_per_megapixel * (bottom - top) * w / 1e6))
            for i in range(count):
                th, tw = (int(v) for v in rng.integers(40, 161, size=2))
                th, tw = min(th, bottom - top), min(tw, w)
                y = int(rng.integers(top, bottom - th + 1))
                x = int(rng.integers(0, w - tw + 1))
                crop = np.ascontiguousarray(image[y : y + th, x : x + tw])
                cid = f"{name}_{split}_{i:04d}"
                hr, lr = f"{split}/hr/{cid}.png", f"{split}/lr/{cid}.png"
                write_image(out / hr, crop)
                write_image(out / lr, blur(crop))
                records.append(CropRecord(cid, split, name, x, y, tw, th, "", '{"kernel_size":15,"sigma":2.6,"type":"gaussian-blur"}', hr, lr))
    write_manifest(out, records)
    print(f"{out}: {sum(r.split == 'train' for r in records)} train, {sum(r.split == 'val' for r in records)} val tiles")


def _prepare_segmented(source: Path, out: Path) -> None:
    from microgan.data.prepare import PrepareConfig, prepare
    from microgan.data.segment import SegmentationParams
    from microgan.demo import SKIMAGE_SEGMENTATION

    summary = prepare(PrepareConfig(out=out, source="folder", data=source, segmentation=SegmentationParams(**SKIMAGE_SEGMENTATION)))
    print("\n".join(summary.lines()))


def skimage(out: Path) -> None:
    from microgan.demo import skimage_images

    source = out.with_name(out.name + "-source")
    skimage_images(source)
    _prepare_segmented(source, out)


def histo(out: Path, wheel: Path) -> None:
    from PIL import Image

    from microgan.data.io import write_image
    from microgan.demo import SKIMAGE_BANDS

    with zipfile.ZipFile(wheel) as archive:
        image = np.asarray(Image.open(io.BytesIO(archive.read("stardist/data/images/histo.jpg"))).convert("RGB"))
    source = out.with_name(out.name + "-source")
    for split, (top, bottom) in SKIMAGE_BANDS.items():  # held out: val and test bands only
        rows = slice(round(top * image.shape[0]), round(bottom * image.shape[0]))
        write_image(source / split / f"histo-{split}.png", np.ascontiguousarray(image[rows]))
    _prepare_segmented(source, out)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("domain", choices=["natural", "skimage", "histo"])
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--wheel", type=Path, help="histo: the stardist wheel file (pip download stardist --no-deps)")
    args = parser.parse_args()
    if args.out.exists():
        sys.exit(f"{args.out}: already exists")
    if args.domain == "natural":
        natural(args.out)
    elif args.domain == "skimage":
        skimage(args.out)
    else:
        if not args.wheel:
            sys.exit("histo needs --wheel (pip download stardist --no-deps)")
        histo(args.out, args.wheel)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
