"""Images larger than memory, read region by region: tiled (Big)TIFF, OME-TIFF, SVS pyramids and OME-Zarr.

A whole-slide image is 50,000-100,000 px a side, 7-30 GB decoded: it is never decoded whole. A
:class:`SlideSource` answers :meth:`~SlideSource.read` for any rectangle of its full-resolution
level, decoding only the tiles (or strips) that rectangle touches, through the ``zarr`` view
tifffile gives of a TIFF series (or the OME-Zarr array itself). Samples keep their native type
and the conventions of :func:`microgan.data.io.read_image`: ``(H, W)`` gray or ``(H, W, 3)`` RGB,
an alpha channel dropped (said in :attr:`SlideSource.notes`).

What is read is said, and what cannot be streamed is refused with one line naming the file:

* a pyramid (SVS, OME-TIFF SubIFDs, an OME-Zarr multiscale) is read at level 0, its full
  resolution; the other levels are ignored (a note says how many);
* a level 0 that cannot be decoded (a codec imagecodecs lacks, a damaged first tile), a tile that
  runs past the end of the file (a truncated copy), axes beyond a 2-D gray or RGB plane, or
  sample types other than uint8/uint16/float32 are refused before any restoration runs;
* the physical pixel size (OME ``PhysicalSizeX``, SVS ``MPP``, or the TIFF resolution tags) is
  read so the restored slide can carry it (:mod:`microgan.data.pyramid`).
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, List, Optional, Tuple

import numpy as np

from microgan.errors import ImageReadError

#: Largest decoded tile or strip a slide may have: every region read decodes whole segments, so an
#: image stored as one strip would be decoded whole for every tile (uncompressed ones are read in place).
MAX_SEGMENT = 64 * 2**20
#: Sample types a slide may hold (as :func:`microgan.data.io.read_image` reads).
SAMPLE_TYPES = (np.dtype(np.uint8), np.dtype(np.uint16), np.dtype(np.float32))

_OME_SIZE = re.compile(r"<(?:\w+:)?Pixels\b[^>]*\bPhysicalSizeX=\"([0-9.eE+-]+)\"(?:[^>]*\bPhysicalSizeXUnit=\"([^\"]+)\")?")
_SVS_MPP = re.compile(r"\bMPP\s*=\s*([0-9.eE+-]+)")
_UNITS_UM = {"nm": 1e-3, "µm": 1.0, "um": 1.0, "\u03bcm": 1.0, "mm": 1e3, "cm": 1e4, "m": 1e6}


@dataclass
class SlideSource:
    """Level 0 of a slide, read a region at a time (see the module docstring)."""

    path: Path
    height: int
    width: int
    channels: int  # 1 (gray) or 3 (RGB) after dropping alpha
    dtype: np.dtype
    #: micrometres per pixel at level 0 (None when the file does not say)
    pixel_size_um: Optional[float] = None
    #: the largest value the file declares its samples take, below the type's (see data.io.Image)
    declared_top: Optional[int] = None
    notes: List[str] = field(default_factory=list)
    _array: Any = field(default=None, repr=False)
    _keep: int = field(default=0, repr=False)  # samples kept of those stored (alpha dropped)
    _handle: Any = field(default=None, repr=False)

    @property
    def shape(self) -> Tuple[int, ...]:
        return (self.height, self.width) if self.channels == 1 else (self.height, self.width, self.channels)

    @property
    def nbytes(self) -> int:
        return self.height * self.width * self.channels * self.dtype.itemsize

    def read(self, r0: int, r1: int, c0: int, c1: int) -> np.ndarray:
        """Rows ``r0:r1`` and columns ``c0:c1`` (clipped to the slide), native samples, contiguous."""
        r0, r1 = max(r0, 0), min(r1, self.height)
        c0, c1 = max(c0, 0), min(c1, self.width)
        try:
            region = np.asarray(self._array[r0:r1, c0:c1])
        except Exception as exc:  # noqa: BLE001 - a codec or a damaged tile: one line naming the file
            raise ImageReadError(f"{self.path}: cannot decode rows {r0}-{r1}, columns {c0}-{c1} ({type(exc).__name__}: {exc})") from None
        if region.ndim == 3:
            region = region[:, :, 0] if self.channels == 1 else region[:, :, : self._keep]
        if region.dtype != self.dtype:
            region = region.astype(self.dtype)
        return np.ascontiguousarray(region)

    def close(self) -> None:
        if self._handle is not None:
            self._handle.close()
            self._handle = None
        tif = getattr(self, "_tif", None)
        if tif is not None:
            tif.close()
            self._tif = None

    def __enter__(self) -> "SlideSource":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


def is_zarr(path: Path) -> bool:
    """An OME-Zarr (or plain zarr) folder."""
    return path.is_dir() and any((path / name).is_file() for name in (".zattrs", ".zgroup", "zarr.json", ".zarray"))


def open_slide(path: Path) -> SlideSource:
    """Open level 0 of a TIFF-family file or an OME-Zarr folder for region reads; checks that it
    can be decoded and is complete (see the module docstring). Raises :class:`ImageReadError`."""
    path = Path(path)
    if is_zarr(path):
        return _open_zarr(path)
    if not path.is_file():
        raise ImageReadError(f"{path}: no such file")
    return _open_tiff(path)


def _zarr() -> Any:
    try:
        import zarr
    except ImportError:  # pragma: no cover - a core dependency; an environment that lacks it says so
        raise ImageReadError("reading slides region by region needs the zarr package: pip install zarr") from None
    return zarr


def _check_array(path: Path, shape: Tuple[int, ...], axes: str, dtype: np.dtype) -> Tuple[int, int, int, int]:
    """(height, width, channels kept, samples stored) of a level of ``axes`` (Y, X and maybe S/C)."""
    if np.dtype(dtype) not in SAMPLE_TYPES:
        raise ImageReadError(f"{path}: unsupported sample type {dtype} for a slide (expected uint8, uint16 or float32)")
    sizes = dict(zip(axes, shape))
    extra = {a: n for a, n in sizes.items() if a not in "YXSC" and n > 1}
    samples = sizes.get("S", sizes.get("C", 1))
    if extra or set(axes) - set("YXSCTZ") or not {"Y", "X"} <= set(axes):
        raise ImageReadError(f"{path}: a slide of axes {axes} {tuple(shape)}: only one 2-D gray or RGB plane streams")
    if samples not in (1, 3, 4):
        raise ImageReadError(f"{path}: {samples} samples per pixel: only gray (1) or RGB (3, or 4 with alpha) slides stream")
    channels = 1 if samples == 1 else 3
    return int(sizes["Y"]), int(sizes["X"]), channels, samples


def _open_tiff(path: Path) -> SlideSource:
    import tifffile

    from microgan.data.io import declared_top

    try:
        tif = tifffile.TiffFile(path)
    except Exception as exc:  # noqa: BLE001 - tifffile raises many types for damaged headers
        raise ImageReadError(f"{path}: not a readable TIFF ({type(exc).__name__}: {exc})") from None
    try:
        if not tif.series:
            raise ImageReadError(f"{path}: the TIFF holds no image series")
        series = tif.series[0]
        levels = series.levels
        level = levels[0]
        page = level.keyframe
        notes = []
        if len(levels) > 1:
            notes.append(f"pyramid of {len(levels)} levels: level 0 ({level.shape[1]}x{level.shape[0]} px) restored, "
                         "the others ignored")
        if len(tif.series) > 1:
            notes.append(f"{len(tif.series) - 1} other image series (label, macro, thumbnail) ignored")
        photometric = page.photometric.name
        if photometric not in ("RGB", "YCBCR", "MINISBLACK"):
            raise ImageReadError(f"{path}: photometric {photometric} does not stream (RGB, YCbCr or gray slides do)")
        height, width, channels, samples = _check_array(path, level.shape, level.axes, level.dtype)
        if level.axes not in ("YX", "YXS", "SYX"):
            raise ImageReadError(f"{path}: a slide of axes {level.axes} {tuple(level.shape)}: only one 2-D gray or RGB plane streams")
        size = path.stat().st_size
        for p in level.pages:
            if p is None:
                continue
            ends = [o + n for o, n in zip(p.dataoffsets, p.databytecounts) if n]
            if ends and max(ends) > size:
                bad = next(i for i, (o, n) in enumerate(zip(p.dataoffsets, p.databytecounts)) if n and o + n > size)
                raise ImageReadError(f"{path}: truncated TIFF: tile {bad} of level 0 runs past the end of the file")
        segment = _segment_bytes(page, width, samples)
        if segment > MAX_SEGMENT and page.is_memmappable and level.axes in ("YX", "YXS") and len(level.pages) == 1:
            from microgan.data.pyramid import RawCanvas  # uncompressed, in one piece: read rows in place

            handle = RawCanvas(path, level.shape, level.dtype, offset=int(page.dataoffsets[0]), readonly=True)
            array = handle
        elif segment > MAX_SEGMENT:
            kind = "tiles" if page.is_tiled else "strips"
            raise ImageReadError(f"{path}: stored in compressed {kind} of {segment / 2**20:.0f} MiB each, decoded whole for "
                                 "every region: save it tiled (e.g. 512 px tiles) to stream it, or restore it in memory "
                                 "(--stream off)")
        else:
            handle = series.aszarr(level=0)
            array = _zarr().open(handle, mode="r")
        if level.axes == "SYX":  # RGB stored as separate planes
            array = _ChannelsLast(array, "CYX")
        elif len(array.shape) == 2 and channels != 1:
            raise ImageReadError(f"{path}: level 0 decodes to shape {array.shape}, not the {level.axes} it declares")
        source = SlideSource(path, height, width, channels, np.dtype(level.dtype), _tiff_pixel_size(tif, page),
                             declared_top(tif, page, np.dtype(level.dtype)), notes, array, min(samples, 3), handle)
        source._tif = tif  # type: ignore[attr-defined]  # the open file the store reads from
    except ImageReadError:
        tif.close()
        raise
    except Exception as exc:  # noqa: BLE001
        tif.close()
        raise ImageReadError(f"{path}: cannot open level 0 for region reads ({type(exc).__name__}: {exc})") from None
    _probe(source)
    return source


def _segment_bytes(page: Any, width: int, samples: int) -> int:
    """Decoded bytes of the page's largest tile or strip."""
    itemsize = np.dtype(page.dtype).itemsize
    if page.is_tiled:
        return int(page.tilelength) * int(page.tilewidth) * samples * itemsize
    rows = min(int(page.rowsperstrip or page.imagelength), int(page.imagelength))
    return rows * width * samples * itemsize


def _probe(source: SlideSource) -> None:
    """Decode one pixel of level 0 (its first tile): a codec we lack fails here, not an hour in."""
    try:
        source.read(0, 1, 0, 1)
    except ImageReadError as exc:
        source.close()
        raise ImageReadError(f"{source.path}: level 0 cannot be decoded: {str(exc).split('(', 1)[-1].rstrip(')')}") from None


def _tiff_pixel_size(tif: Any, page: Any) -> Optional[float]:
    """Micrometres per pixel from OME-XML, an SVS description or the resolution tags."""
    if tif.is_ome and tif.ome_metadata:
        found = _OME_SIZE.search(tif.ome_metadata)
        if found:
            return float(found.group(1)) * _UNITS_UM.get(found.group(2) or "µm", 1.0)
    if tif.is_svs:
        found = _SVS_MPP.search(page.description or "")
        if found:
            return float(found.group(1))
    tag, unit = page.tags.get("XResolution"), page.tags.get("ResolutionUnit")
    if tag is not None and unit is not None and int(unit.value) in (2, 3):
        num, den = tag.value
        if num > 0 and den > 0:
            per_unit = num / den
            return (25_400.0 if int(unit.value) == 2 else 10_000.0) / per_unit
    return None


def _open_zarr(path: Path) -> SlideSource:
    try:
        return _open_zarr_level(path)
    except ImageReadError:
        raise
    except Exception as exc:  # noqa: BLE001 - metadata that is not what OME-Zarr says: one line
        raise ImageReadError(f"{path}: unreadable OME-Zarr metadata ({type(exc).__name__}: {exc})") from None


def _open_zarr_level(path: Path) -> SlideSource:
    zarr = _zarr()
    try:
        group = zarr.open(str(path), mode="r")
    except Exception as exc:  # noqa: BLE001
        raise ImageReadError(f"{path}: not a readable zarr store ({type(exc).__name__}: {exc})") from None
    notes: List[str] = []
    pixel = None
    if hasattr(group, "shape"):  # a bare array
        array, axes = group, "YXC"[: len(group.shape)]
    else:
        attrs = dict(group.attrs)
        multiscales = attrs.get("multiscales") or (attrs.get("ome") or {}).get("multiscales")
        if not multiscales:
            raise ImageReadError(f"{path}: a zarr group without OME-Zarr multiscales metadata")
        ms = multiscales[0]
        datasets = ms.get("datasets") or []
        if not datasets:
            raise ImageReadError(f"{path}: OME-Zarr multiscales lists no datasets: no level 0 to read")
        try:
            array = group[datasets[0]["path"]]
        except Exception as exc:  # noqa: BLE001
            raise ImageReadError(f"{path}: level 0 ({datasets[0].get('path')}) cannot be opened ({type(exc).__name__}: {exc})") from None
        if len(datasets) > 1:
            notes.append(f"pyramid of {len(datasets)} levels: level 0 restored, the others ignored")
        names = [a["name"] if isinstance(a, dict) else str(a) for a in ms.get("axes", [])]
        axes = "".join({"y": "Y", "x": "X", "c": "C", "z": "Z", "t": "T"}.get(n.lower(), "Q") for n in names) or "YXC"[: array.ndim]
        for t in datasets[0].get("coordinateTransformations", []):
            if t.get("type") == "scale" and "x" in [n.lower() for n in names]:
                units = {a["name"].lower(): a.get("unit") for a in ms.get("axes", []) if isinstance(a, dict)}
                factor = {"nanometer": 1e-3, "micrometer": 1.0, "millimeter": 1e3}.get(units.get("x") or "micrometer")
                if factor is not None:
                    pixel = float(t["scale"][[n.lower() for n in names].index("x")]) * factor
    if len(axes) != array.ndim:
        raise ImageReadError(f"{path}: level 0 has {array.ndim} axes but the metadata names {len(axes)}")
    height, width, channels, samples = _check_array(path, array.shape, axes, array.dtype)
    view = array if axes in ("YX", "YXC") else _ChannelsLast(array, axes)  # channel-first (OME's cyx) read as (H, W, C)
    source = SlideSource(path, height, width, channels, np.dtype(array.dtype), pixel, None, notes, view, min(samples, 3))
    _probe(source)
    return source


class _ChannelsLast:
    """An OME-Zarr level of axes like ``CYX`` / ``TCZYX`` (singleton T, Z) sliced as ``(H, W, C)``."""

    def __init__(self, array: Any, axes: str) -> None:
        self.array, self.axes = array, axes

    def __getitem__(self, key: Tuple[slice, slice]) -> np.ndarray:
        index = []
        for a in self.axes:
            index.append(key[0] if a == "Y" else key[1] if a == "X" else slice(None) if a == "C" else 0)
        region = np.asarray(self.array[tuple(index)])
        kept = [a for a in self.axes if a in "YXC"]
        if "C" in kept:
            region = np.moveaxis(region, kept.index("C"), -1)
        return region


def describe_source(source: SlideSource) -> str:
    """One line: size, samples, pixel size."""
    mode = "gray" if source.channels == 1 else "RGB"
    pixel = f", {source.pixel_size_um:.4g} um/px" if source.pixel_size_um else ""
    return f"{source.width}x{source.height} {mode} {source.dtype}{pixel} ({source.nbytes / 1e9:.2f} GB decoded)"


def source_identity(path: Path) -> str:
    """What identifies the input a resumable run started from: path, size and modification time; for
    a zarr folder, of its metadata files and of every file of level 0's first chunk row (rewriting
    chunks in place elsewhere goes unseen: a folder has no one modification time)."""
    stat = path.stat()
    doc: dict = {"path": str(path.resolve()), "size": stat.st_size, "mtime_ns": stat.st_mtime_ns}
    if path.is_dir():
        meta = sorted(p for p in path.rglob("*") if p.name in (".zarray", ".zattrs", ".zgroup", "zarr.json"))
        doc["metadata"] = [[str(p.relative_to(path)), p.stat().st_size, p.stat().st_mtime_ns] for p in meta]
    return json.dumps(doc)
