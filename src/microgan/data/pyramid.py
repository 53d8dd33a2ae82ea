"""Images larger than memory, written region by region: a raw canvas on disk, then a pyramidal tiled BigTIFF.

A restored slide is produced in rectangles, in any order and by several processes at once, and it
may be larger than memory. It goes first into a :class:`RawCanvas`: a flat file of the image's
native samples, row after row, which any process writes any rectangle of (seek and write, unbuffered; no memory map, so the pages
a run writes never count as its resident memory).
When every rectangle is in, :func:`write_pyramid` turns the canvas into the file a user opens: a
tiled BigTIFF (deflate with a horizontal predictor, lossless) with a pyramid of 2x2-mean levels
in SubIFDs (what tifffile, napari, QuPath and OpenSlide-style viewers read as levels), the pixel
size kept on every level; each level is computed band by band from the one above it on disk, and
the file is written under a temporary name and renamed (an interrupted run leaves no half slide).
An output named ``*.zarr`` is an OME-Zarr (v0.4: zarr format 2, ``cyx`` or ``yx`` axes, one array per
level, chunks of a tile, zstd-compressed by Blosc), written into a temporary folder and renamed likewise.
"""
from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Any, Iterator, List, Optional, Tuple

import numpy as np

from microgan.core.atomic import atomic_write

#: Side of the output's tiles, and the smallest level side the pyramid goes down to.
TIFF_TILE = 256
#: Rows of a canvas read at a time when building levels and writing tiles (bounded memory).
BAND_ROWS = TIFF_TILE


class RawCanvas:
    """An (H, W[, C]) image of one sample type in a flat file, read and written a rectangle at a time."""

    def __init__(self, path: Path, shape: Tuple[int, ...], dtype: Any, create: bool = False, offset: int = 0,
                 readonly: bool = False) -> None:
        self.path = Path(path)
        self.shape = tuple(int(n) for n in shape)
        self.dtype = np.dtype(dtype)
        self.channels = 1 if len(self.shape) == 2 else self.shape[2]
        self.row_bytes = self.shape[1] * self.channels * self.dtype.itemsize
        self.offset = int(offset)  # where the pixels start (an uncompressed TIFF's one strip: read-only)
        size = self.shape[0] * self.row_bytes
        if create:
            with open(self.path, "wb") as fh:
                fh.truncate(size)  # sparse: disk is used as rectangles arrive
        elif not self.path.is_file() or self.path.stat().st_size < self.offset + size or \
                (not readonly and self.path.stat().st_size != size):
            raise ValueError(f"{self.path}: not a canvas of {self.shape} {self.dtype}")
        self._file = open(self.path, "rb" if readonly else "r+b", buffering=0)

    def __getitem__(self, key: Tuple[slice, slice]) -> np.ndarray:
        """``canvas[r0:r1, c0:c1]`` (what a slide source reads through)."""
        rows, cols = key
        r0, r1, _ = rows.indices(self.shape[0])
        c0, c1, _ = cols.indices(self.shape[1])
        return self.read(r0, max(r1, r0), c0, max(c1, c0))

    @property
    def pixel_bytes(self) -> int:
        return self.channels * self.dtype.itemsize

    def write(self, r0: int, c0: int, block: np.ndarray) -> None:
        """Put ``block`` (rows x columns [x channels]) at row ``r0``, column ``c0``."""
        block = np.ascontiguousarray(block, dtype=self.dtype)
        rows, cols = block.shape[:2]
        if c0 == 0 and cols == self.shape[1]:
            self._put(block, r0 * self.row_bytes)
            return
        for i in range(rows):
            self._put(block[i], (r0 + i) * self.row_bytes + c0 * self.pixel_bytes)

    def _put(self, data: np.ndarray, offset: int) -> None:
        self._file.seek(self.offset + offset)
        view = memoryview(data.reshape(-1).view(np.uint8))
        while view:
            view = view[self._file.write(view) :]

    def read(self, r0: int, r1: int, c0: int, c1: int) -> np.ndarray:
        """Rows ``r0:r1``, columns ``c0:c1`` (within the canvas)."""
        out = np.empty((r1 - r0, c1 - c0) + self.shape[2:], self.dtype)
        if c0 == 0 and c1 == self.shape[1]:
            self._get(out, r0 * self.row_bytes)
            return out
        for i in range(r1 - r0):
            self._get(out[i], (r0 + i) * self.row_bytes + c0 * self.pixel_bytes)
        return out

    def _get(self, out: np.ndarray, offset: int) -> None:
        self._file.seek(self.offset + offset)
        view = memoryview(out.reshape(-1).view(np.uint8))
        while view:
            n = self._file.readinto(view)
            if not n:
                raise OSError(f"{self.path}: short read at offset {offset}")
            view = view[n:]

    def sync(self) -> None:
        os.fsync(self._file.fileno())

    def close(self) -> None:
        self._file.close()

    def __enter__(self) -> "RawCanvas":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


def half(band: np.ndarray) -> np.ndarray:
    """The 2x2 mean of a band (an odd last row or column averaged with itself), in its sample type
    (integers rounded half up). Sums are taken in a wider type on the quarter-sized result only: a
    band of a 100,000 px wide slide is not copied into floats."""
    h, w = band.shape[:2]
    if h % 2 or w % 2:
        band = np.pad(band, ((0, h % 2), (0, w % 2)) + ((0, 0),) * (band.ndim - 2), mode="edge")
    parts = (band[0::2, 0::2], band[1::2, 0::2], band[0::2, 1::2], band[1::2, 1::2])
    if band.dtype.kind == "u":
        total = parts[0].astype(np.uint32)
        for part in parts[1:]:
            total += part
        return ((total + 2) // 4).astype(band.dtype)
    total = parts[0].astype(np.float32)
    for part in parts[1:]:
        total += part
    return (total * 0.25).astype(band.dtype)


def level_shapes(shape: Tuple[int, ...]) -> List[Tuple[int, ...]]:
    """Level 0 and each 2x2-mean level below it, down to the first whose larger side is at most a tile."""
    shapes = [tuple(shape)]
    while max(shapes[-1][:2]) > TIFF_TILE:
        h, w = shapes[-1][:2]
        shapes.append((math.ceil(h / 2), math.ceil(w / 2)) + tuple(shape[2:]))
    return shapes


def _tiles(canvas: RawCanvas) -> Iterator[np.ndarray]:
    """The canvas's TIFF tiles in row-major order, a band of tile rows read at a time."""
    h, w = canvas.shape[:2]
    for r0 in range(0, h, TIFF_TILE):
        band = canvas.read(r0, min(r0 + TIFF_TILE, h), 0, w)
        for c0 in range(0, w, TIFF_TILE):
            yield band[:, c0 : c0 + TIFF_TILE]


def _reduce(source: RawCanvas, path: Path) -> RawCanvas:
    h, w = source.shape[:2]
    shape = (math.ceil(h / 2), math.ceil(w / 2)) + source.shape[2:]
    target = RawCanvas(path, shape, source.dtype, create=True)
    for r0 in range(0, h, BAND_ROWS):
        target.write(r0 // 2, 0, half(source.read(r0, min(r0 + BAND_ROWS, h), 0, w)))
    return target


def write_pyramid(path: Path, canvas: RawCanvas, pixel_size_um: Optional[float] = None, overwrite: bool = False,
                  software: str = "microgan") -> Path:
    """Write ``canvas`` as a pyramidal tiled BigTIFF at ``path`` (see the module docstring); an OME-TIFF
    (with ``PhysicalSizeX/Y``) when the name ends in ``.ome.tif(f)``, an OME-Zarr when it ends in ``.zarr``."""
    import tifffile

    from microgan.errors import MicroGANError

    path = Path(path)
    if path.exists() and not overwrite:
        raise MicroGANError(f"{path}: already exists (pass overwrite to replace it)")
    if path.suffix.lower() == ".zarr":
        return _write_ome_zarr(path, canvas, pixel_size_um)
    shapes = level_shapes(canvas.shape)
    levels = [canvas]
    scratch: List[Path] = []
    try:
        for k in range(1, len(shapes)):
            scratch.append(canvas.path.with_name(f"{canvas.path.stem}.level{k}.raw"))
            levels.append(_reduce(levels[-1], scratch[-1]))
        rgb = canvas.channels == 3
        ome = path.name.lower().endswith((".ome.tif", ".ome.tiff"))

        def write(tmp: str) -> None:
            with tifffile.TiffWriter(tmp, bigtiff=True, ome=ome) as tif:
                for k, level in enumerate(levels):
                    options: dict = dict(shape=level.shape, dtype=level.dtype, tile=(TIFF_TILE, TIFF_TILE),
                                         photometric="rgb" if rgb else "minisblack", compression="zlib",
                                         predictor=True, software=software if k == 0 else None)
                    if pixel_size_um:
                        per_cm = 1e4 / (pixel_size_um * 2**k)
                        options.update(resolution=(per_cm, per_cm), resolutionunit="CENTIMETER")
                    if k == 0:
                        options["subifds"] = len(levels) - 1
                        if ome:
                            meta: dict = {"axes": "YXS" if rgb else "YX"}
                            if pixel_size_um:
                                meta.update(PhysicalSizeX=pixel_size_um, PhysicalSizeY=pixel_size_um,
                                            PhysicalSizeXUnit="µm", PhysicalSizeYUnit="µm")
                            options["metadata"] = meta
                        else:
                            options["metadata"] = None
                    else:
                        options["subfiletype"] = 1
                        options["metadata"] = None
                    tif.write(_tiles(level), **options)

        atomic_write(path, write)
    finally:
        for level in levels[1:]:
            level.close()
        for p in scratch:
            p.unlink(missing_ok=True)
    return path


def _ours(path: Path) -> bool:
    """Whether an existing ``*.zarr`` folder holds only what :func:`_write_ome_zarr` writes."""
    return path.is_dir() and all(p.name in (".zattrs", ".zgroup", "zarr.json") or p.name.isdigit() for p in path.iterdir())


def _write_ome_zarr(path: Path, canvas: RawCanvas, pixel_size_um: Optional[float]) -> Path:
    """The canvas and its 2x2-mean levels as an OME-Zarr 0.4 group (see the module docstring; RGB as
    ``cyx``, the order NGFF asks for), each level written band by band from the one above it. An
    existing output is replaced only when it holds nothing but such a group."""
    import shutil

    import zarr

    from microgan.errors import MicroGANError

    if path.exists() and not _ours(path):
        raise MicroGANError(f"{path}: exists and holds files this tool did not write: move it, then run again")
    tmp = path.with_name(f".{path.name}.tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    rgb = canvas.channels == 3
    root = zarr.open_group(str(tmp), mode="w", zarr_format=2)
    shapes = level_shapes(canvas.shape)
    datasets = []
    source = canvas
    scratch: List[Path] = []
    try:
        for k, shape in enumerate(shapes):
            h, w = shape[:2]
            stored = (3, h, w) if rgb else (h, w)
            chunks = (3, TIFF_TILE, TIFF_TILE) if rgb else (TIFF_TILE, TIFF_TILE)
            array = root.create_array(str(k), shape=stored, chunks=chunks, dtype=canvas.dtype,
                                      compressors=[{"id": "blosc", "cname": "zstd", "clevel": 3, "shuffle": 1}])
            for r0 in range(0, h, BAND_ROWS):
                band = source.read(r0, min(r0 + BAND_ROWS, h), 0, w)
                if rgb:
                    array[:, r0 : r0 + len(band)] = np.moveaxis(band, -1, 0)
                else:
                    array[r0 : r0 + len(band)] = band
            scale = ([1.0] if rgb else []) + [(pixel_size_um or 1.0) * 2**k] * 2
            datasets.append({"path": str(k), "coordinateTransformations": [{"type": "scale", "scale": scale}]})
            if k + 1 < len(shapes):
                scratch.append(canvas.path.with_name(f"{canvas.path.stem}.level{k + 1}.raw"))
                reduced = _reduce(source, scratch[-1])
                if source is not canvas:
                    source.close()
                source = reduced
        unit = {"unit": "micrometer"} if pixel_size_um else {}
        axes = ([{"name": "c", "type": "channel"}] if rgb else []) + \
            [{"name": "y", "type": "space", **unit}, {"name": "x", "type": "space", **unit}]
        root.attrs["multiscales"] = [{"version": "0.4", "name": path.stem, "axes": axes, "datasets": datasets}]
        if path.exists():
            shutil.rmtree(path)
        tmp.rename(path)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    finally:
        if source is not canvas:
            source.close()
        for p in scratch:
            p.unlink(missing_ok=True)
    return path
