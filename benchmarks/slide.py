"""Whole slides: peak memory, speed and exactness of the streamed path against the in-memory one.

    python benchmarks/slide.py --work DIR [--side 30000] [--skip-slide]

In one run, one job at a time, each ``microgan enhance`` a process of its own under ``/usr/bin/time -v``
(peak RSS as the kernel counts it), all with the default options:

1. **in memory**: a 4096x3072 crop of the slide's level 0, written as a plain TIFF (``--stream off``);
2. **exactness**: a 2000x3000 crop written as a tiled TIFF and restored streamed (``--stream on``) and in
   memory: the two outputs compared pixel for pixel;
3. **the slide**: a ``--side`` px tiled pyramidal BigTIFF of BCCD fields (``benchmarks/make_slide.py``,
   made once in ``DIR``), streamed; its output opened with tifffile (levels) and as a napari multiscale
   layer (lazily, through zarr).

Prints a markdown table for docs/benchmarks.md.
"""
from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import tifffile

sys.path.insert(0, str(Path(__file__).resolve().parent))
from make_slide import make_slide  # noqa: E402

MICROGAN = [sys.executable, "-m", "microgan"]


def timed(args: list, log: Path) -> dict:
    """Run ``microgan ARGS`` under /usr/bin/time -v: wall seconds, peak RSS bytes, exit code."""
    start = time.perf_counter()
    with open(log, "w") as fh:
        rc = subprocess.call(["/usr/bin/time", "-v"] + MICROGAN + args, stdout=fh, stderr=subprocess.STDOUT)
    wall = time.perf_counter() - start
    text = log.read_text(errors="replace")
    rss = int(re.search(r"Maximum resident set size \(kbytes\): (\d+)", text).group(1)) * 1024
    return {"rc": rc, "wall": wall, "rss": rss}


def crop(slide: Path, rows: int, cols: int, out: Path, tiled: bool) -> np.ndarray:
    import zarr

    with tifffile.TiffFile(slide) as tif:
        region = np.asarray(zarr.open(tif.series[0].aszarr(level=0), mode="r")[:rows, :cols])
    tifffile.imwrite(out, region, photometric="rgb", **({"tile": (512, 512), "compression": "zlib"} if tiled else {}))
    return region


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--work", type=Path, required=True)
    parser.add_argument("--side", type=int, default=30000)
    parser.add_argument("--skip-slide", action="store_true", help="only the in-memory field and the exactness check")
    args = parser.parse_args()
    work = args.work
    work.mkdir(parents=True, exist_ok=True)
    slide = work / f"slide{args.side}.tif"
    if not slide.exists():
        t = time.perf_counter()
        make_slide(slide, args.side)
        print(f"made {slide} ({slide.stat().st_size / 1e9:.2f} GB) in {time.perf_counter() - t:.0f} s", flush=True)
    rows = []

    field = work / "field4096x3072.tif"
    crop(slide, 3072, 4096, field, tiled=False)
    out = work / "out-field"
    r = timed(["enhance", str(field), "-o", str(out), "--stream", "off", "--overwrite"], work / "field.log")
    rows.append(("4096x3072 field, in memory", 4096 * 3072, r))
    print(rows[-1], flush=True)

    piece = work / "crop3000x2000.tif"
    crop(slide, 2000, 3000, piece, tiled=True)
    res = {}
    for mode in ("on", "off"):
        r = timed(["enhance", str(piece), "-o", str(work / f"out-crop-{mode}"), "--stream", mode, "--overwrite"],
                  work / f"crop-{mode}.log")
        res[mode] = tifffile.imread(work / f"out-crop-{mode}" / piece.name)
        rows.append((f"3000x2000 crop, {'streamed' if mode == 'on' else 'in memory'}", 3000 * 2000, r))
        print(rows[-1], flush=True)
    diff = np.abs(res["on"].astype(np.int32) - res["off"].astype(np.int32))
    print(f"exactness: streamed vs in memory on the 3000x2000 crop: max difference {diff.max()}, "
          f"{int((diff > 0).sum())} samples differ of {diff.size}", flush=True)

    if not args.skip_slide:
        out = work / "out-slide"
        r = timed(["enhance", str(slide), "-o", str(out), "--overwrite"], work / "slide.log")
        rows.append((f"{args.side}x{args.side} slide, streamed", args.side**2, r))
        print(rows[-1], flush=True)
        result = out / slide.name
        with tifffile.TiffFile(result) as tif:
            levels = [lvl.shape for lvl in tif.series[0].levels]
            print(f"tifffile: {result.name}: {len(levels)} levels {levels[0]} ... {levels[-1]}, "
                  f"{result.stat().st_size / 1e9:.2f} GB", flush=True)
        os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
        import zarr
        from napari.components import ViewerModel

        with tifffile.TiffFile(result) as tif:
            data = [zarr.open(tif.series[0].aszarr(level=k), mode="r") for k in range(len(levels))]
            viewer = ViewerModel()
            layer = viewer.add_image(data, multiscale=True, rgb=True)
            print(f"napari: a multiscale layer of {len(layer.data)} levels, level 0 {layer.data[0].shape}", flush=True)

    print("\n| image | pixels | wall (s) | MP/s | peak RSS (GB) | exit |\n|---|---|---|---|---|---|")
    for name, pixels, r in rows:
        print(f"| {name} | {pixels / 1e6:.1f} MP | {r['wall']:.1f} | {pixels / 1e6 / r['wall']:.3f} | "
              f"{r['rss'] / 1e9:.2f} | {r['rc']} |")


if __name__ == "__main__":
    main()
