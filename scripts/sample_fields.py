"""Copy the BCCD fields the package ships (``src/microgan/data/fields/``) from a BCCD copy.

    python scripts/sample_fields.py --bccd ../shared/data/bccd

Sixteen fields of BCCD's **test split** (``ImageSets/Main/test.txt``), which no bundled model trained
or was validated on: the 16 spread evenly over the sorted list, BloodImage_00011 (the napari sample,
whose blurred copy the bioimage.io export cuts its test tensors from) in place of its neighbour.
Twelve are scored by the demo, four tune its baselines (every third from the second on), so the
baselines are never tuned on pixels that are scored. The JPEGs are copied byte for byte; their SHA-256 and
roles go to ``fields.json``, BCCD's MIT licence to ``LICENSE``.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import shutil
from pathlib import Path

import numpy as np

COUNT = 16
NAPARI = "BloodImage_00011"
DEST = Path(__file__).resolve().parents[1] / "src" / "microgan" / "data" / "fields"


def choose(test_names: list) -> list:
    names = sorted(test_names)
    picked = [names[i] for i in np.unique(np.linspace(0, len(names) - 1, COUNT).round().astype(int))]
    if NAPARI not in picked:
        nearest = min(picked, key=lambda n: abs(names.index(n) - names.index(NAPARI)))
        picked[picked.index(nearest)] = NAPARI
    return sorted(picked)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--bccd", type=Path, required=True, help="folder holding BCCD/ (or BCCD itself)")
    args = parser.parse_args()
    root = args.bccd / "BCCD" if (args.bccd / "BCCD").is_dir() else args.bccd
    test = (root / "ImageSets" / "Main" / "test.txt").read_text().split()
    fields = []
    DEST.mkdir(parents=True, exist_ok=True)
    for i, name in enumerate(choose(test)):
        source = root / "JPEGImages" / f"{name}.jpg"
        shutil.copyfile(source, DEST / source.name)
        fields.append({"file": source.name, "sha256": hashlib.sha256(source.read_bytes()).hexdigest(),
                       "bccd_split": "test", "role": "tune" if i % 3 == 1 and sum(f["role"] == "tune" for f in fields) < 4 else "score"})
    licence = (args.bccd / "LICENSE") if (args.bccd / "LICENSE").is_file() else root.parent / "LICENSE"
    shutil.copyfile(licence, DEST / "LICENSE")
    manifest = {
        "source": "BCCD (https://github.com/Shenggan/BCCD_Dataset), JPEGImages, test split (ImageSets/Main/test.txt)",
        "licence": "MIT, (c) 2017 shenggan: LICENSE beside this file",
        "napari_sample": f"{NAPARI}.jpg",
        "fields": fields,
    }
    (DEST / "fields.json").write_text(json.dumps(manifest, indent=1) + "\n")
    print(f"{len(fields)} fields, {sum((DEST / f['file']).stat().st_size for f in fields) / 1e6:.2f} MB -> {DEST}")


if __name__ == "__main__":
    main()
