"""Bad and odd image files in a batch: ``enhance`` and ``prepare`` skip and name each bad file,
write the rest, leave the inputs as they were and exit 1; odd but valid files are restored."""
from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Optional

import numpy as np
import pytest
import tifffile
from PIL import Image as PILImage

from microgan.data.io import read_image, write_image

Maker = Callable[[Path], None]


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def _png_declaring(width: int, height: int) -> bytes:
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", ihdr) + _png_chunk(b"IDAT", zlib.compress(b"\0" * 16)) + _png_chunk(b"IEND", b"")


def _gradient(height: int = 48, width: int = 64) -> np.ndarray:
    y, x = np.mgrid[0:height, 0:width]
    return np.stack([x * 3, y * 4, (x + y) * 2], axis=-1).astype(np.uint8)


def _encoded(suffix: str, array: Optional[np.ndarray] = None) -> bytes:
    from microgan.data.io import _encode  # the writer's own encoder, without a file

    return _encode({".png": "png", ".jpg": "jpeg", ".tif": "tiff"}[suffix], _gradient() if array is None else array)


def _cut_scan(data: bytes) -> bytes:
    start = data.index(b"\xff\xda") + 20
    third = (len(data) - 2 - start) // 3
    return data[: start + third] + data[start + 2 * third :]


def _flip_idat(data: bytes) -> bytes:
    buf = bytearray(data)
    i = data.index(b"IDAT") + 12
    buf[i] ^= 0xFF
    return bytes(buf)


def _tiff_stack(path: Path) -> None:
    with tifffile.TiffWriter(path) as tw:
        for k in range(3):
            tw.write(np.full((40, 50), 60 * k, np.uint8), photometric="minisblack")


def _truncated_strips(path: Path) -> None:
    data = _encoded(".tif", np.zeros((64, 64), np.uint16))
    path.write_bytes(data[:-3000])


@dataclass(frozen=True)
class Case:
    """One input file: how to make it, the reason a refusal names (None: it is valid), and whether
    ``prepare`` (which crops page 0 of a stack with a note, and scales float images) takes it."""

    name: str
    make: Maker
    reason: Optional[str]
    prepare_reason: Optional[str] = "same"

    def expected(self, command: str) -> Optional[str]:
        return self.reason if command == "enhance" or self.prepare_reason == "same" else self.prepare_reason


def _bytes(data: bytes) -> Maker:
    return lambda path: path.write_bytes(data)


def _array(array: np.ndarray, **kw: object) -> Maker:
    return lambda path: tifffile.imwrite(path, array, **kw) if path.suffix == ".tif" else write_image(path, array)


def _nan() -> np.ndarray:
    a = np.full((40, 40), 0.5, np.float32)
    a[3, 4] = np.nan
    return a


BAD = [
    Case("header_only.tif", _bytes(b"II*\x00\x08\x00\x00\x00"), "corrupt TIFF file"),
    Case("ifd_past_end.tif", _bytes(b"II*\x00" + struct.pack("<I", 10_000) + b"\x00" * 8), "corrupt TIFF file"),
    Case("big_endian_noise.tif", _bytes(b"MM\x00*" + bytes(range(256)) * 4), "corrupt TIFF file"),
    Case("truncated_strips.tif", _truncated_strips, "truncated TIFF"),
    Case("empty.png", _bytes(b""), "empty file (0 bytes)"),
    Case("text.png", _bytes(b"sample, area\n1, 20\n" * 10), "not a PNG, JPEG or TIFF"),
    Case("gif_named.png", _bytes(b"GIF89a\x01\x00\x01\x00\x00\x00\x00;"), "not a PNG, JPEG or TIFF"),
    Case("bmp_named.tif", _bytes(b"BM" + b"\x00" * 60), "not a PNG, JPEG or TIFF"),
    Case("half.png", lambda p: p.write_bytes(_encoded(".png")[: len(_encoded(".png")) // 2]), "truncated PNG"),
    Case("bad_crc.png", lambda p: p.write_bytes(_flip_idat(_encoded(".png"))), "corrupt PNG data"),
    Case("no_ihdr.png", _bytes(b"\x89PNG\r\n\x1a\n" + b"\x00" * 40), "no IHDR"),
    Case("huge.png", _bytes(_png_declaring(60_000, 60_000)), "over the limit"),
    Case("zero_width.png", _bytes(_png_declaring(0, 5)), "declares 0x5 pixels (empty)"),
    Case("half.jpg", lambda p: p.write_bytes(_encoded(".jpg")[: len(_encoded(".jpg")) // 2]), "truncated JPEG"),
    Case("cut_scan.jpg", lambda p: p.write_bytes(_cut_scan(_encoded(".jpg"))), "corrupt JPEG data"),
    Case("no_frame.jpg", _bytes(b"\xff\xd8\xff\xd9"), "no frame header"),
    Case("nan.tif", _array(_nan()), "NaN or Inf"),
    Case("inf.tif", _array(np.full((40, 40), np.inf, np.float32)), "NaN or Inf"),
    Case("int32.tif", _array(np.zeros((40, 40), np.int32)), "unsupported sample type int32"),
    Case("complex.tif", _array(np.zeros((40, 40), np.complex64)), "unsupported sample type complex64"),
    Case("stack.tif", _tiff_stack, "multi-page TIFF: pages 1-2 of 3 not read", prepare_reason=None),
    Case("four_samples.tif", _array(np.zeros((40, 40, 4), np.uint8), photometric="minisblack", planarconfig="contig"),
         "4 samples per pixel: samples 1-3 not read", prepare_reason=None),
    # beyond [0, 1]: mapped by its own range (auto normalization, with a note), restored
    Case("float_0_to_7.tif", _array(np.linspace(0, 7, 1600, dtype=np.float32).reshape(40, 40)),
         None, prepare_reason=None),
    Case("one_pixel.png", _array(np.zeros((1, 1), np.uint8)), None, prepare_reason="smaller than the minimum"),
]

ODD_BUT_VALID = [
    Case("rgba.png", lambda p: PILImage.fromarray(np.dstack([_gradient(), np.full((48, 64), 255, np.uint8)]), "RGBA").save(p), None),
    Case("gray_alpha.png", lambda p: PILImage.fromarray(np.dstack([_gradient()[..., 0]] * 2), "LA").save(p), None),
    Case("palette.png", lambda p: PILImage.fromarray(_gradient()).quantize(16).save(p), None),
    Case("gray16.png", _array((_gradient()[..., 0].astype(np.uint16) * 257)), None),
    Case("miniswhite.tif", _array(_gradient()[..., 0], photometric="miniswhite"), None),
    Case("planar_rgb.tif", _array(np.moveaxis(_gradient(), -1, 0), photometric="rgb", planarconfig="separate"), None),
    Case("float64.tif", _array(np.linspace(0, 1, 48 * 64).reshape(48, 64)), None),
    Case("gray.jpg", lambda p: PILImage.fromarray(_gradient()[..., 0]).save(p, quality=90), None),
    Case("progressive.jpg", lambda p: PILImage.fromarray(_gradient()).save(p, progressive=True), None),
    Case("cmyk.jpg", lambda p: PILImage.fromarray(_gradient()).convert("CMYK").save(p), None),
    Case("trailing_bytes.jpg", lambda p: p.write_bytes(_encoded(".jpg") + b"camera maker notes"), None),
    Case("tall_thin.png", _array(np.full((300, 3), 128, np.uint8)), None, prepare_reason=None),
]


def _batch(root: Path, case: Case, field: Callable[..., np.ndarray]) -> Path:
    """An input folder: a good field before and after the case's file (sorted order)."""
    folder = root / "in"
    write_image(folder / "a_good.png", field())
    write_image(folder / "z_good.jpg", field())
    case.make(folder / case.name)
    return folder


def _check_untouched(check, folder: Path, before: dict, *outputs: Path) -> None:
    assert check.hashes(folder) == before, "an input was modified"
    assert check.leftovers(folder, *outputs) == []


@pytest.mark.parametrize("case", BAD + ODD_BUT_VALID, ids=lambda c: c.name)
def test_enhance_batch(case: Case, tmp_path: Path, check, field, rgb_model: Path) -> None:
    folder = _batch(tmp_path, case, field)
    before = check.hashes(folder)
    out = tmp_path / "out"
    result = check.cli("enhance", "--model", rgb_model, folder, "-o", out, "--quiet")
    written = sorted(p.name for p in out.iterdir())
    reason = case.expected("enhance")
    if reason is None:
        assert result.code == 0, result.err
        assert written == sorted(["a_good.png", "z_good.jpg", case.name])
        restored, original = read_image(out / case.name), read_image(folder / case.name)
        assert (restored.array.shape, restored.array.dtype) == (original.array.shape, original.array.dtype)
    else:
        assert result.code == 1
        check.one_line_naming(result.err, f"failed: {folder / case.name}: ", reason)
        assert written == ["a_good.png", "z_good.jpg"]  # the rest of the batch
        assert "enhanced 2, skipped 0 (output exists; --overwrite to redo), failed 1" in result.out
    _check_untouched(check, folder, before, out)


@pytest.mark.parametrize("case", BAD + ODD_BUT_VALID[:4], ids=lambda c: c.name)
def test_prepare_batch(case: Case, tmp_path: Path, check, field) -> None:
    from microgan.data.manifest import read_manifest

    folder = _batch(tmp_path, case, field)
    before = check.hashes(folder)
    out = tmp_path / "prepared"
    result = check.cli("prepare", "--source", "folder", "--data", folder, "--out", out, "--quiet", "--min-area", "100")
    sources = {r.source for r in read_manifest(out)}
    assert {"a_good", "z_good"} <= sources  # the rest of the batch
    reason = case.expected("prepare")
    if reason is None:
        assert result.code == 0, result.err
    else:
        assert result.code == 1
        check.one_line_naming(result.err, f"{folder / case.name}: ", reason)
        assert Path(case.name).stem not in sources
    _check_untouched(check, folder, before, out)
