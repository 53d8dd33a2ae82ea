"""Image file IO used by every part of MicroGAN (prepare, train, enhance, evaluate).

Reading keeps the file's native samples: ``uint8``, ``uint16`` or ``float32`` arrays of shape
``(H, W)`` (grayscale) or ``(H, W, 3)`` (RGB, in R, G, B order). The internal float form used by the
networks' pre-processing is ``float32`` in ``[0, 1]`` (:func:`to_float`, :func:`from_float`), so a
16-bit micrograph keeps its 65536 levels through a round trip instead of being squeezed to 8 bits.

Why the format checks are done here and not left to the decoders:

* Huge declared sizes are rejected from the header *before* decoding (:func:`probe` reads only the
  header through a memory map), so a 60000x60000 PNG costs microseconds, not gigabytes.
* Truncated PNG/JPEG files are detected structurally (the PNG chunk chain must reach ``IEND``, the
  JPEG marker chain must reach ``EOI``); decoders such as libjpeg otherwise fill the missing rows
  with grey and only print a warning, which would silently poison a training set.
* Corrupt JPEG *scan data* passes any structural check (every marker is in place; only the Huffman
  codes are garbage), and libjpeg decodes it to garbage rows with a warning on stderr. JPEG pixels
  are therefore decoded by libjpeg-turbo through ``simplejpeg`` in strict mode, which turns every
  decoder warning into an error (same library and maths as OpenCV's decoder: identical pixels).
* PNG pixels are decoded with OpenCV (it keeps 16-bit RGB PNGs, which Pillow cannot), TIFF with
  tifffile (float32, multi-page, planar layouts). OpenCV's BGR order is converted to RGB.
* What reading leaves out is said: :attr:`Image.notes` for changes of form (alpha dropped, palette
  expanded, MINISWHITE inverted), :attr:`Image.dropped` for image data the array does not hold
  (the other pages of a stack, the other samples of a multi-sample gray TIFF), which a restored
  output would silently lack: ``enhance`` refuses such files.

Every problem is an :class:`~microgan.errors.ImageReadError` whose message names the file and the
reason, so a batch job can report it and go on with the next file. Decoders raise many exception
types on corrupt data (tifffile an ``IndexError`` for a TIFF that is only its 8-byte header), so
every exception out of a decoder becomes an ``ImageReadError`` too.
"""
from __future__ import annotations

import contextlib
import logging
import mmap
import os
import re
import struct
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator, List, Optional, Tuple, Union

import cv2
import numpy as np
import simplejpeg
import tifffile

from microgan.core.atomic import atomic_write_bytes
from microgan.errors import ImageReadError, MicroGANError

PathLike = Union[str, "os.PathLike[str]"]

#: Largest accepted image, in pixels (30000 x 30000). Checked on the header before decoding.
DEFAULT_MAX_PIXELS = 30_000 * 30_000

#: Formats this module reads and writes, keyed by file-name suffix for writing.
WRITE_FORMATS = {".png": "png", ".tif": "tiff", ".tiff": "tiff", ".jpg": "jpeg", ".jpeg": "jpeg"}

_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_TIFF_SIGNATURES = (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+")
# JPEG start-of-frame markers carry the image size; C4 (DHT), C8 (JPG) and CC (DAC) are not frames.
_JPEG_SOF = {m for m in range(0xC0, 0xD0) if m not in (0xC4, 0xC8, 0xCC)}
# Inside entropy-coded data 0xFF is followed by 0x00 (stuffing) or a restart marker D0-D7;
# anything else is the next real marker.
_JPEG_NEXT_MARKER = re.compile(rb"\xff[^\x00\xd0-\xd7]")


@dataclass
class ImageInfo:
    """What a file's header declares, read without decoding the pixels."""

    path: Path
    format: str  # "png" | "jpeg" | "tiff"
    width: int
    height: int
    channels: int  # samples per pixel as stored (palette counts as 1)
    bit_depth: int  # bits per sample as stored
    pages: int = 1
    palette: bool = False  # samples are indices into a colour table


@dataclass
class Image:
    """A decoded image: native array plus where it came from and what was changed on reading."""

    array: np.ndarray
    path: Optional[Path]
    format: str  # "png" | "jpeg" | "tiff"
    bit_depth: int  # 8, 16 or 32 (float32)
    mode: str  # "gray" | "rgb"
    notes: List[str] = field(default_factory=list)
    #: image data of the file that ``array`` does not hold (other pages, other samples)
    dropped: List[str] = field(default_factory=list)
    #: the largest value the file declares its samples take, where that is below the sample type's
    #: (a 12-bit camera's 16-bit TIFF: 4095, from BitsPerSample, MaxSampleValue or OME's
    #: SignificantBits); None when the file declares nothing beyond its type
    declared_top: Optional[int] = None

    @property
    def height(self) -> int:
        return int(self.array.shape[0])

    @property
    def width(self) -> int:
        return int(self.array.shape[1])


# --------------------------------------------------------------------------------------- floats


def to_float(array: np.ndarray) -> np.ndarray:
    """Native samples -> float32 in [0, 1]: uint8 / 255, uint16 / 65535, floats as they are.

    Floats are not rescaled (a float TIFF may legitimately hold any range; use a normalizer from
    :mod:`microgan.data.normalize` for that), but NaN/Inf are refused because they propagate
    through every convolution and make a loss NaN.
    """
    if array.dtype == np.uint8:
        return array.astype(np.float32) / np.float32(255.0)
    if array.dtype == np.uint16:
        return array.astype(np.float32) / np.float32(65535.0)
    if np.issubdtype(array.dtype, np.floating):
        out = array.astype(np.float32, copy=False)
        if not np.isfinite(out).all():
            raise MicroGANError("float image holds NaN or Inf values")
        return out
    raise MicroGANError(f"unsupported sample type {array.dtype} (expected uint8, uint16 or float32)")


def from_float(array01: np.ndarray, dtype: Union[np.dtype, type, str]) -> np.ndarray:
    """float in [0, 1] -> ``dtype``: integer types are clipped to [0, 1], scaled and rounded.

    A float target returns float32 unchanged (there is no range to clip to).
    """
    dtype = np.dtype(dtype)
    if dtype.kind == "f":
        return np.asarray(array01, dtype=np.float32)
    if dtype not in (np.dtype(np.uint8), np.dtype(np.uint16)):
        raise MicroGANError(f"unsupported sample type {dtype} (expected uint8, uint16 or float32)")
    top = float(np.iinfo(dtype).max)
    return np.rint(np.clip(array01, 0.0, 1.0) * top).astype(dtype)


# --------------------------------------------------------------------------------------- headers


def _sniff(head: bytes) -> Optional[str]:
    if head.startswith(_PNG_SIGNATURE):
        return "png"
    if head.startswith(b"\xff\xd8\xff"):
        return "jpeg"
    if head[:4] in _TIFF_SIGNATURES:
        return "tiff"
    return None


def _png_walk(buf: mmap.mmap, *, full: bool) -> Tuple[int, int, int, int]:
    """Return (width, height, bit_depth, colour_type) from IHDR; with ``full``, require IEND.

    Walking the chunk chain costs one ``struct.unpack`` per chunk (no pixel data is touched) and is
    what detects a file cut short: libpng would only notice half-way through decoding.
    """
    size = len(buf)
    if size < 33 or buf[12:16] != b"IHDR":
        raise ValueError("PNG header is incomplete (no IHDR chunk)")
    width, height, depth, colour = struct.unpack(">IIBB", buf[16:26])
    if not full:
        return width, height, depth, colour
    pos = 8
    while True:
        if pos + 8 > size:
            raise ValueError("truncated PNG file (ends before the IEND chunk)")
        length, kind = struct.unpack(">I4s", buf[pos : pos + 8])
        pos += 12 + length
        if pos > size:
            raise ValueError(f"truncated PNG file (chunk {kind.decode('latin-1')!r} is cut short)")
        if kind == b"IEND":
            return width, height, depth, colour


def _jpeg_walk(buf: mmap.mmap, *, full: bool) -> Tuple[int, int, int, int]:
    """Return (width, height, precision, components) from the SOF marker; with ``full``, require EOI."""
    size = len(buf)
    frame: Optional[Tuple[int, int, int, int]] = None
    pos = 2
    while True:
        while pos < size and buf[pos] == 0xFF and pos + 1 < size and buf[pos + 1] == 0xFF:
            pos += 1  # fill bytes before a marker
        if pos + 2 > size:
            raise ValueError("truncated JPEG file (ends before the end-of-image marker)")
        if buf[pos] != 0xFF:
            raise ValueError(f"corrupt JPEG file (no marker at byte {pos})")
        marker = buf[pos + 1]
        if marker == 0xD9:  # EOI
            if frame is None:
                raise ValueError("corrupt JPEG file (no frame header)")
            return frame
        if marker == 0x01 or 0xD0 <= marker <= 0xD7:  # standalone markers
            pos += 2
            continue
        if pos + 4 > size:
            raise ValueError("truncated JPEG file (ends inside a marker)")
        (length,) = struct.unpack(">H", buf[pos + 2 : pos + 4])
        end = pos + 2 + length
        if end > size:
            raise ValueError("truncated JPEG file (a marker segment is cut short)")
        if marker in _JPEG_SOF:
            if length < 8:
                raise ValueError("corrupt JPEG file (frame header too short)")
            precision, height, width, comps = struct.unpack(">BHHB", buf[pos + 4 : pos + 10])
            frame = (width, height, precision, comps)
            if not full:
                return frame
        pos = end
        if marker == 0xDA:  # start of scan: skip the entropy-coded data up to the next marker
            found = _JPEG_NEXT_MARKER.search(buf, pos)
            if found is None:
                raise ValueError("truncated JPEG file (image data is cut short)")
            pos = found.start()


class _Collect(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.messages: List[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


@contextlib.contextmanager
def _tifffile_log(notes: List[str]) -> Iterator[None]:
    """tifffile logs what it tolerates to stderr (a second, unrelated-looking line next to ours):
    collect it instead, as notes of the image (dropped with the image if reading fails)."""
    log = logging.getLogger("tifffile")
    handler, propagate = _Collect(), log.propagate
    log.addHandler(handler)
    log.propagate = False
    try:
        yield
    finally:
        log.removeHandler(handler)
        log.propagate = propagate
        notes.extend(f"tifffile: {message}" for message in handler.messages)


def _corrupt_tiff(path: Path, exc: Exception) -> ImageReadError:
    reason = str(exc) or type(exc).__name__
    return ImageReadError(f"{path}: corrupt TIFF file ({reason})")


def _tiff_header(path: Path) -> ImageInfo:
    with tifffile.TiffFile(path) as tif:
        if not len(tif.pages):
            raise ImageReadError(f"{path}: corrupt TIFF file (no image directory)")
        page = tif.pages.first
        sizes = dict(zip(page.axes, page.shape))
        return ImageInfo(
            path=path,
            format="tiff",
            width=int(sizes.get("X", 0)),
            height=int(sizes.get("Y", 0)),
            channels=int(page.samplesperpixel),
            bit_depth=int(page.bitspersample),
            pages=len(tif.pages),
        )


def _open_map(path: Path) -> Tuple[object, mmap.mmap]:
    if not path.exists():
        raise ImageReadError(f"{path}: no such file")
    if path.is_dir():
        raise ImageReadError(f"{path}: is a directory, not an image file")
    if path.stat().st_size == 0:
        raise ImageReadError(f"{path}: empty file (0 bytes)")
    handle = open(path, "rb")
    try:
        return handle, mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ)
    except (OSError, ValueError) as exc:
        handle.close()
        raise ImageReadError(f"{path}: cannot be read ({exc})") from None


def _header(path: Path, buf: mmap.mmap, *, full: bool) -> ImageInfo:
    fmt = _sniff(bytes(buf[:8]))
    try:
        if fmt == "png":
            width, height, depth, colour = _png_walk(buf, full=full)
            channels = {0: 1, 2: 3, 3: 1, 4: 2, 6: 4}.get(colour, 0)
            return ImageInfo(path, "png", width, height, channels, depth, palette=colour == 3)
        if fmt == "jpeg":
            width, height, precision, comps = _jpeg_walk(buf, full=full)
            return ImageInfo(path, "jpeg", width, height, comps, precision)
        if fmt == "tiff":
            try:
                with _tifffile_log([]):
                    return _tiff_header(path)
            except ImageReadError:
                raise
            except Exception as exc:  # tifffile raises IndexError, KeyError... on corrupt headers
                raise _corrupt_tiff(path, exc) from None
    except (ValueError, struct.error) as exc:
        raise ImageReadError(f"{path}: {exc}") from None
    raise ImageReadError(f"{path}: not a PNG, JPEG or TIFF image (unrecognised file header)")


def probe(path: PathLike) -> ImageInfo:
    """Read a file's declared size and layout from its header only (no pixel decoding)."""
    path = Path(path)
    handle, buf = _open_map(path)
    try:
        return _header(path, buf, full=False)
    finally:
        buf.close()
        handle.close()


def _check_size(info: ImageInfo, min_size: int, max_pixels: int) -> None:
    w, h = info.width, info.height
    if w < 1 or h < 1:
        raise ImageReadError(f"{info.path}: image declares {w}x{h} pixels (empty)")
    if w < min_size or h < min_size:
        raise ImageReadError(
            f"{info.path}: image is {w}x{h} pixels, smaller than the minimum {min_size}x{min_size}"
        )
    if w * h > max_pixels:
        raise ImageReadError(
            f"{info.path}: image declares {w}x{h} = {w * h / 1e6:.0f} MP, over the limit of "
            f"{max_pixels / 1e6:.0f} MP (not decoded)"
        )


# --------------------------------------------------------------------------------------- decoding


def _decode_jpeg(info: ImageInfo, buf: mmap.mmap) -> Optional[np.ndarray]:
    """8-bit gray or RGB JPEG pixels, any decoder warning (corrupt data) raised as an error. Other
    JPEGs (CMYK, 12-bit) are checked the same way where libjpeg-turbo can, then left to OpenCV (None)."""
    data = bytes(buf)
    colorspace = {1: "GRAY", 3: "RGB", 4: "CMYK"}.get(info.channels)
    if info.bit_depth != 8 or colorspace is None:
        return None
    try:
        array = simplejpeg.decode_jpeg(data, colorspace=colorspace, strict=True)
    except ValueError as exc:
        raise ImageReadError(f"{info.path}: corrupt JPEG data ({exc})") from None
    if colorspace == "CMYK":
        return None  # verified; OpenCV converts CMYK/YCCK to RGB
    return array[:, :, 0] if colorspace == "GRAY" else array


def _decode_cv2(info: ImageInfo, buf: mmap.mmap, notes: List[str]) -> np.ndarray:
    if info.format == "jpeg":
        array = _decode_jpeg(info, buf)
        if array is not None:
            return np.ascontiguousarray(array)
    array = cv2.imdecode(np.frombuffer(buf, dtype=np.uint8), cv2.IMREAD_UNCHANGED)
    if array is None:
        raise ImageReadError(f"{info.path}: corrupt {info.format.upper()} data (decoder failed)")
    if array.ndim == 3:
        if array.shape[2] == 4:
            notes.append("alpha channel dropped")
            array = array[:, :, :3]
        if info.palette:
            notes.append("palette expanded to RGB")
        if info.channels in (1, 2) and not info.palette:
            array = array[:, :, 0]  # gray(+alpha) that the decoder expanded to BGR(A): keep gray
        else:
            array = cv2.cvtColor(array, cv2.COLOR_BGR2RGB)
    if info.format == "png" and info.bit_depth < 8:
        notes.append(f"{info.bit_depth}-bit samples expanded to 8-bit")
    return np.ascontiguousarray(array)


def _invert_miniswhite(array: np.ndarray, bits: int, notes: List[str]) -> np.ndarray:
    """MINISWHITE stores 0 as white; the rest of MicroGAN (and every output) has larger = brighter."""
    notes.append("MINISWHITE photometric: samples inverted so that larger is brighter")
    if array.dtype.kind == "f":
        return (1.0 - array).astype(array.dtype)
    top = min((1 << bits) - 1, int(np.iinfo(array.dtype).max))
    return (top - array.astype(np.int64)).clip(0, top).astype(array.dtype)


def _full_pages(tif: tifffile.TiffFile, notes: List[str]) -> int:
    """Pages holding image data (reduced-resolution thumbnails and pyramid levels do not count)."""
    reduced = sum(1 for page in tif.pages if getattr(page, "subfiletype", 0) & 1)
    if reduced:
        notes.append(f"{reduced} reduced-resolution page(s) (thumbnail/pyramid) ignored")
    return len(tif.pages) - reduced


#: OME-XML's significant bits per sample (``<Pixels ... SignificantBits="12">``).
_OME_BITS = re.compile(r"<(?:\w+:)?Pixels\b[^>]*\bSignificantBits=\"(\d+)\"")


def declared_top(tif: tifffile.TiffFile, page: Any, dtype: np.dtype) -> Optional[int]:
    """The largest sample value a TIFF declares below its integer type's: BitsPerSample under the
    type's bits (12 stored in 16), MaxSampleValue, OME's SignificantBits; the smallest where several
    declare one. None for floats, or when nothing declares less than the type holds."""
    if dtype.kind != "u":
        return None
    type_top = int(np.iinfo(dtype).max)
    tops = []
    bits = int(page.bitspersample)
    if 1 < bits < 8 * dtype.itemsize:
        tops.append(2**bits - 1)
    tag = page.tags.get("MaxSampleValue")
    if tag is not None:
        values = tag.value if isinstance(tag.value, (tuple, list)) else (tag.value,)
        if values and all(isinstance(v, int) and v > 0 for v in values):
            tops.append(max(values))
    if tif.is_ome:
        found = _OME_BITS.search(tif.ome_metadata or "")
        if found and 1 < int(found.group(1)) < 8 * dtype.itemsize:
            tops.append(2 ** int(found.group(1)) - 1)
    top = min(tops, default=type_top)
    return top if top < type_top else None


def _decode_tiff(info: ImageInfo, notes: List[str], dropped: List[str]) -> Tuple[np.ndarray, Optional[int]]:
    """The first page's pixels and the top value the file declares for them (:func:`declared_top`)."""
    path = info.path
    with tifffile.TiffFile(path) as tif:
        page = tif.pages.first
        pages = _full_pages(tif, notes)
        if pages > 1:
            dropped.append(f"multi-page TIFF: pages 1-{pages - 1} of {pages} not read")
        file_size = path.stat().st_size
        if any(off + cnt > file_size for off, cnt in zip(page.dataoffsets, page.databytecounts)):
            raise ImageReadError(f"{path}: truncated TIFF file (image data runs past the end)")
        try:
            array = page.asarray()
        except Exception as exc:  # tifffile/imagecodecs raise many types for corrupt strips
            raise ImageReadError(f"{path}: corrupt TIFF data ({exc})") from None
        axes = page.axes
        photometric = page.photometric.name
        if photometric == "PALETTE":
            cmap = page.colormap
            array = np.moveaxis(cmap[:, array], 0, -1)
            if page.bitspersample <= 8:
                array = (array // 257).astype(np.uint8)
            notes.append("palette expanded to RGB")
            axes = "YXS"
        declared = None if photometric == "PALETTE" else declared_top(tif, page, array.dtype)
    if "S" in axes:
        array = np.moveaxis(array, axes.index("S"), -1)
    if array.ndim not in (2, 3):
        raise ImageReadError(f"{path}: unsupported TIFF page layout {page.axes} {page.shape}")
    if array.ndim == 3:
        if photometric in ("RGB", "YCBCR", "PALETTE"):
            if array.shape[2] > 3:
                notes.append("alpha/extra samples dropped")
            array = array[:, :, :3]
        elif photometric in ("MINISBLACK", "MINISWHITE"):
            dropped.append(f"{array.shape[2]} samples per pixel: samples 1-{array.shape[2] - 1} not read")
            array = array[:, :, 0]
        else:
            raise ImageReadError(f"{path}: unsupported TIFF photometric {photometric}")
    if photometric == "MINISWHITE":
        array = _invert_miniswhite(array, page.bitspersample, notes)
    if array.dtype in (np.float16, np.float64):
        notes.append(f"{array.dtype} samples converted to float32")
        array = array.astype(np.float32)
    if array.dtype not in (np.uint8, np.uint16, np.float32):
        raise ImageReadError(
            f"{path}: unsupported sample type {array.dtype} (expected uint8, uint16 or float32)"
        )
    if array.dtype == np.float32 and not np.isfinite(array).all():
        raise ImageReadError(f"{path}: float image holds NaN or Inf values")
    return np.ascontiguousarray(array), declared


def read_image(
    path: PathLike, *, min_size: int = 1, max_pixels: int = DEFAULT_MAX_PIXELS
) -> Image:
    """Read a PNG, JPEG or TIFF file into an :class:`Image` with its native sample type.

    ``min_size`` is the smallest accepted width and height (1 rejects only empty images);
    ``max_pixels`` bounds the declared size, checked on the header before any decoding.
    Raises :class:`ImageReadError` naming the file and the reason.
    """
    path = Path(path)
    handle, buf = _open_map(path)
    try:
        info = _header(path, buf, full=True)
        _check_size(info, min_size, max_pixels)
        notes: List[str] = []
        dropped: List[str] = []
        declared = None
        if info.format == "tiff":
            try:
                with _tifffile_log(notes):
                    array, declared = _decode_tiff(info, notes, dropped)
            except ImageReadError:
                raise
            except Exception as exc:  # tifffile/imagecodecs: many types for corrupt files
                raise _corrupt_tiff(path, exc) from None
        else:
            array = _decode_cv2(info, buf, notes)
    finally:
        buf.close()
        handle.close()
    if array.shape[:2] != (info.height, info.width):
        raise ImageReadError(
            f"{path}: decoded {array.shape[1]}x{array.shape[0]} pixels but the header declares "
            f"{info.width}x{info.height}"
        )
    bit_depth = {np.dtype(np.uint8): 8, np.dtype(np.uint16): 16, np.dtype(np.float32): 32}
    return Image(
        array=array,
        path=path,
        format=info.format,
        bit_depth=bit_depth[array.dtype],
        mode="rgb" if array.ndim == 3 else "gray",
        notes=notes,
        dropped=dropped,
        declared_top=declared,
    )


# --------------------------------------------------------------------------------------- writing


def _encode(fmt: str, array: np.ndarray) -> bytes:
    rgb = array.ndim == 3
    if fmt == "tiff":
        from io import BytesIO

        out = BytesIO()
        tifffile.imwrite(out, array, photometric="rgb" if rgb else "minisblack")
        return out.getvalue()
    if fmt == "jpeg" and array.dtype != np.uint8:
        raise MicroGANError(f"JPEG holds 8-bit samples only, got {array.dtype}: write PNG or TIFF")
    if fmt == "png" and array.dtype not in (np.uint8, np.uint16):
        raise MicroGANError(f"PNG holds 8- or 16-bit samples only, got {array.dtype}: write TIFF")
    bgr = cv2.cvtColor(array, cv2.COLOR_RGB2BGR) if rgb else array
    params = [cv2.IMWRITE_JPEG_QUALITY, 95] if fmt == "jpeg" else []
    ok, encoded = cv2.imencode(".png" if fmt == "png" else ".jpg", bgr, params)
    if not ok:
        raise MicroGANError(f"could not encode a {array.shape} {array.dtype} array as {fmt}")
    return encoded.tobytes()


def write_image(
    path: PathLike,
    array: np.ndarray,
    like: Optional[Image] = None,
    overwrite: bool = False,
) -> Path:
    """Write ``array`` (H, W) or (H, W, 3) RGB to PNG (8/16-bit), TIFF (8/16-bit, float32) or JPEG (8-bit).

    The format comes from the suffix. A float array is taken as [0, 1] and converted to the sample
    type of ``like`` (the image it was computed from), so outputs keep their input's bit depth; a
    float array without ``like`` can only go to TIFF (as float32). The file is written to a
    temporary name in the same folder and renamed, so a crash never leaves a half-written image,
    and an existing file is kept unless ``overwrite``.
    """
    path = Path(path)
    fmt = WRITE_FORMATS.get(path.suffix.lower())
    if fmt is None:
        known = ", ".join(sorted(WRITE_FORMATS))
        raise MicroGANError(f"{path}: cannot write '{path.suffix}' files (known: {known})")
    if path.exists() and not overwrite:
        raise MicroGANError(f"{path}: already exists (pass overwrite to replace it)")
    array = np.asarray(array)
    if array.ndim == 3 and array.shape[2] == 1:
        array = array[:, :, 0]
    if not (array.ndim == 2 or (array.ndim == 3 and array.shape[2] == 3)):
        raise MicroGANError(f"{path}: expected an (H, W) or (H, W, 3) array, got {array.shape}")
    if array.shape[0] < 1 or array.shape[1] < 1:
        raise MicroGANError(f"{path}: cannot write an empty {array.shape} array")
    if np.issubdtype(array.dtype, np.floating):
        if not np.isfinite(array).all():
            raise MicroGANError(f"{path}: array holds NaN or Inf values")
        if like is not None:
            array = from_float(array, like.array.dtype)
        elif fmt == "tiff":
            array = array.astype(np.float32)
        else:
            raise MicroGANError(
                f"{path}: a float array needs like=<source Image> (or from_float) to pick its bit depth"
            )
    encoded = _encode(fmt, np.ascontiguousarray(array))
    atomic_write_bytes(path, encoded)
    return path
