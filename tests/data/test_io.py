"""Image IO: round trips per format/bit depth, colour handling, and every bad-input case."""
from __future__ import annotations

import struct
import zlib
from pathlib import Path

import cv2
import numpy as np
import pytest
import tifffile
from PIL import Image as PILImage

from microgan.data import io as mio
from microgan.data.io import from_float, probe, read_image, to_float, write_image
from microgan.errors import ImageReadError, MicroGANError

RNG = np.random.default_rng(0)


def _gray(dtype, shape=(17, 23)):
    top = np.iinfo(dtype).max
    return RNG.integers(0, top, size=shape, endpoint=True).astype(dtype)


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def _png_with_header(path: Path, width: int, height: int) -> Path:
    """A structurally complete PNG whose IHDR declares any size (its pixel data is a stub)."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    data = b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", ihdr)
    data += _png_chunk(b"IDAT", zlib.compress(b"\x00" * 16)) + _png_chunk(b"IEND", b"")
    path.write_bytes(data)
    return path


# ------------------------------------------------------------------------------ round trips


@pytest.mark.parametrize("suffix", [".png", ".tif"])
@pytest.mark.parametrize("dtype", [np.uint8, np.uint16])
@pytest.mark.parametrize("channels", [1, 3])
def test_lossless_round_trip_keeps_dtype_and_values(tmp_path, suffix, dtype, channels):
    array = _gray(dtype, (17, 23) if channels == 1 else (17, 23, 3))
    path = write_image(tmp_path / f"x{suffix}", array)
    image = read_image(path)
    assert image.array.dtype == dtype
    assert image.bit_depth == np.iinfo(dtype).bits
    assert image.mode == ("gray" if channels == 1 else "rgb")
    np.testing.assert_array_equal(image.array, array)
    assert image.notes == []


def test_float32_tiff_round_trip(tmp_path):
    array = RNG.random((9, 11, 3)).astype(np.float32) * 7 - 2  # any range survives
    image = read_image(write_image(tmp_path / "f.tif", array))
    assert image.array.dtype == np.float32 and image.bit_depth == 32
    np.testing.assert_array_equal(image.array, array)


def test_jpeg_round_trip_is_close_and_8bit(tmp_path):
    y, x = np.mgrid[0:32, 0:40]
    array = np.stack([x * 6, y * 7, (x + y) * 3], axis=-1).astype(np.uint8)
    image = read_image(write_image(tmp_path / "x.jpg", array))
    assert image.format == "jpeg" and image.array.dtype == np.uint8
    assert np.abs(image.array.astype(int) - array).mean() < 3


def test_rgb_channel_order_matches_pillow(tmp_path):
    """OpenCV decodes BGR; the reader must hand back RGB as Pillow sees it."""
    array = np.zeros((4, 5, 3), np.uint8)
    array[..., 0] = 200  # red
    PILImage.fromarray(array, "RGB").save(tmp_path / "red.png")
    assert read_image(tmp_path / "red.png").array[0, 0].tolist() == [200, 0, 0]
    write_image(tmp_path / "out.png", array)
    assert np.asarray(PILImage.open(tmp_path / "out.png"))[0, 0].tolist() == [200, 0, 0]


def test_float_with_like_keeps_source_bit_depth(tmp_path):
    source = read_image(write_image(tmp_path / "s16.png", _gray(np.uint16)))
    out = write_image(tmp_path / "o.png", to_float(source.array), like=source)
    back = read_image(out)
    assert back.array.dtype == np.uint16
    np.testing.assert_array_equal(back.array, source.array)


def test_to_float_from_float_exact_for_integers():
    for dtype in (np.uint8, np.uint16):
        array = _gray(dtype)
        f = to_float(array)
        assert f.dtype == np.float32 and f.min() >= 0 and f.max() <= 1
        np.testing.assert_array_equal(from_float(f, dtype), array)
    assert from_float(np.array([-0.5, 1.5]), np.uint8).tolist() == [0, 255]


def test_to_float_rejects_nan_and_bad_dtype():
    with pytest.raises(MicroGANError, match="NaN"):
        to_float(np.array([0.5, np.nan], np.float32))
    with pytest.raises(MicroGANError, match="int32"):
        to_float(np.zeros(3, np.int32))


def test_probe_reads_size_without_decoding(tmp_path, monkeypatch):
    write_image(tmp_path / "a.png", _gray(np.uint16, (31, 47)))
    write_image(tmp_path / "a.tif", _gray(np.uint8, (5, 6, 3)))
    write_image(tmp_path / "a.jpg", _gray(np.uint8, (12, 14, 3)))
    monkeypatch.setattr(mio.cv2, "imdecode", None)
    info = probe(tmp_path / "a.png")
    assert (info.format, info.width, info.height, info.bit_depth) == ("png", 47, 31, 16)
    assert (probe(tmp_path / "a.tif").width, probe(tmp_path / "a.tif").channels) == (6, 3)
    assert (probe(tmp_path / "a.jpg").width, probe(tmp_path / "a.jpg").height) == (14, 12)


# ------------------------------------------------------------------------------ colour handling


def test_rgba_png_drops_alpha_with_note(tmp_path):
    rgba = _gray(np.uint8, (6, 7, 4))
    PILImage.fromarray(rgba, "RGBA").save(tmp_path / "a.png")
    image = read_image(tmp_path / "a.png")
    assert image.mode == "rgb" and image.array.shape == (6, 7, 3)
    np.testing.assert_array_equal(image.array, rgba[..., :3])
    assert any("alpha" in n for n in image.notes)


def test_palette_png_expands_to_rgb(tmp_path):
    rgb = _gray(np.uint8, (6, 7, 3))
    pal = PILImage.fromarray(rgb, "RGB").quantize(8)
    pal.save(tmp_path / "p.png")
    image = read_image(tmp_path / "p.png")
    assert image.mode == "rgb"
    np.testing.assert_array_equal(image.array, np.asarray(pal.convert("RGB")))
    assert any("palette" in n for n in image.notes)


def test_gray_alpha_png_becomes_gray(tmp_path):
    la = _gray(np.uint8, (6, 7, 2))
    PILImage.fromarray(la, "LA").save(tmp_path / "la.png")
    image = read_image(tmp_path / "la.png")
    assert image.mode == "gray"
    np.testing.assert_array_equal(image.array, la[..., 0])
    assert any("alpha" in n for n in image.notes)


def test_16bit_gray_png_written_by_pillow(tmp_path):
    array = _gray(np.uint16, (8, 9))
    PILImage.fromarray(array).save(tmp_path / "g16.png")
    image = read_image(tmp_path / "g16.png")
    assert image.array.dtype == np.uint16 and image.mode == "gray"
    np.testing.assert_array_equal(image.array, array)


def test_16bit_rgb_png_keeps_16_bits(tmp_path):
    array = _gray(np.uint16, (8, 9, 3))
    cv2.imwrite(str(tmp_path / "c16.png"), array[..., ::-1])
    np.testing.assert_array_equal(read_image(tmp_path / "c16.png").array, array)


def test_planar_rgb_tiff_becomes_hwc(tmp_path):
    planes = _gray(np.uint8, (3, 8, 9))
    tifffile.imwrite(tmp_path / "p.tif", planes, photometric="rgb", planarconfig="separate")
    np.testing.assert_array_equal(read_image(tmp_path / "p.tif").array, np.moveaxis(planes, 0, -1))


def test_float64_tiff_becomes_float32_with_note(tmp_path):
    tifffile.imwrite(tmp_path / "d.tif", RNG.random((4, 5)))
    image = read_image(tmp_path / "d.tif")
    assert image.array.dtype == np.float32 and any("float32" in n for n in image.notes)


# ------------------------------------------------------------------------------ bad input


def test_missing_file(tmp_path):
    with pytest.raises(ImageReadError, match=r"nope\.png: no such file"):
        read_image(tmp_path / "nope.png")


def test_directory_and_empty_file(tmp_path):
    with pytest.raises(ImageReadError, match="directory"):
        read_image(tmp_path)
    (tmp_path / "empty.png").write_bytes(b"")
    with pytest.raises(ImageReadError, match=r"empty\.png: empty file"):
        read_image(tmp_path / "empty.png")


def test_non_image(tmp_path):
    (tmp_path / "notes.png").write_text("this is not an image\n" * 5)
    with pytest.raises(ImageReadError, match=r"notes\.png: not a PNG, JPEG or TIFF"):
        read_image(tmp_path / "notes.png")


@pytest.mark.parametrize("suffix", [".png", ".jpg", ".tif"])
@pytest.mark.parametrize("keep", [0.5, 0.97])
def test_truncated_files_are_rejected(tmp_path, suffix, keep):
    y, x = np.mgrid[0:64, 0:80]
    array = np.stack([x * 3, y * 4, (x * y) % 255], axis=-1).astype(np.uint8)
    data = write_image(tmp_path / f"full{suffix}", array).read_bytes()
    cut = tmp_path / f"cut{suffix}"
    cut.write_bytes(data[: int(len(data) * keep)])
    with pytest.raises(ImageReadError, match=rf"cut\{suffix}: .*truncated"):
        read_image(cut)


def test_jpeg_missing_only_end_marker_is_rejected(tmp_path):
    data = write_image(tmp_path / "full.jpg", _gray(np.uint8, (16, 16))).read_bytes()
    (tmp_path / "cut.jpg").write_bytes(data[:-2])
    with pytest.raises(ImageReadError, match="truncated JPEG"):
        read_image(tmp_path / "cut.jpg")


def test_zero_size_header_is_rejected(tmp_path):
    with pytest.raises(ImageReadError, match=r"declares 0x5 pixels \(empty\)"):
        read_image(_png_with_header(tmp_path / "zero.png", 0, 5))


def test_one_pixel_image_accepted_by_default_rejected_with_min_size(tmp_path):
    path = write_image(tmp_path / "one.png", np.array([[7]], np.uint8))
    assert read_image(path).array.shape == (1, 1)
    with pytest.raises(ImageReadError, match=r"one\.png: image is 1x1 pixels, smaller than the minimum 2x2"):
        read_image(path, min_size=2)
    line = write_image(tmp_path / "line.png", np.zeros((1, 40), np.uint8))
    with pytest.raises(ImageReadError, match="40x1"):
        read_image(line, min_size=2)


def test_huge_png_header_rejected_before_decoding(tmp_path, monkeypatch):
    path = _png_with_header(tmp_path / "huge.png", 60_000, 60_000)
    monkeypatch.setattr(mio.cv2, "imdecode", None)  # any decoding attempt would raise TypeError
    with pytest.raises(ImageReadError, match=r"huge\.png: image declares 60000x60000 = 3600 MP, over"):
        read_image(path)
    assert probe(path).width == 60_000


def test_huge_jpeg_header_rejected_before_decoding(tmp_path, monkeypatch):
    data = bytearray(write_image(tmp_path / "s.jpg", _gray(np.uint8, (16, 16))).read_bytes())
    sof = data.index(b"\xff\xc0")
    data[sof + 5 : sof + 9] = struct.pack(">HH", 60_000, 60_000)
    (tmp_path / "huge.jpg").write_bytes(bytes(data))
    monkeypatch.setattr(mio.cv2, "imdecode", None)
    with pytest.raises(ImageReadError, match="60000x60000"):
        read_image(tmp_path / "huge.jpg")


def test_huge_tiff_header_rejected_before_decoding(tmp_path):
    path = write_image(tmp_path / "s.tif", _gray(np.uint8, (4, 4)))
    data = bytearray(path.read_bytes())
    with tifffile.TiffFile(path) as tif:
        tags = tif.pages.first.tags
        offsets = [tags[name].valueoffset for name in ("ImageWidth", "ImageLength")]
        kinds = [tags[name].dtype for name in ("ImageWidth", "ImageLength")]
    for offset, kind in zip(offsets, kinds):
        fmt = "<H" if kind == 3 else "<I"
        data[offset : offset + struct.calcsize(fmt)] = struct.pack(fmt, 60_000)
    (tmp_path / "huge.tif").write_bytes(bytes(data))
    with pytest.raises(ImageReadError, match="60000x60000"):
        read_image(tmp_path / "huge.tif")


def test_max_pixels_is_configurable(tmp_path):
    path = write_image(tmp_path / "a.png", _gray(np.uint8, (10, 10)))
    with pytest.raises(ImageReadError, match="over the limit"):
        read_image(path, max_pixels=99)


def test_nan_in_float_tiff_is_rejected(tmp_path):
    array = np.ones((5, 5), np.float32)
    array[2, 3] = np.nan
    tifffile.imwrite(tmp_path / "nan.tif", array)
    with pytest.raises(ImageReadError, match=r"nan\.tif: float image holds NaN"):
        read_image(tmp_path / "nan.tif")


def test_unsupported_tiff_dtype(tmp_path):
    tifffile.imwrite(tmp_path / "i32.tif", np.zeros((4, 4), np.int32))
    with pytest.raises(ImageReadError, match=r"i32\.tif: unsupported sample type int32"):
        read_image(tmp_path / "i32.tif")


# ------------------------------------------------------------------------------ writing rules


def test_write_refuses_to_overwrite_unless_asked(tmp_path):
    path = write_image(tmp_path / "a.png", np.zeros((3, 3), np.uint8))
    with pytest.raises(MicroGANError, match=r"a\.png: already exists"):
        write_image(path, np.ones((3, 3), np.uint8))
    write_image(path, np.ones((3, 3), np.uint8), overwrite=True)
    assert read_image(path).array.max() == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.png"]  # no temporary left behind


def test_write_rejects_what_the_format_cannot_hold(tmp_path):
    with pytest.raises(MicroGANError, match="JPEG holds 8-bit"):
        write_image(tmp_path / "a.jpg", np.zeros((3, 3), np.uint16))
    with pytest.raises(MicroGANError, match="float array needs like"):
        write_image(tmp_path / "a.png", np.zeros((3, 3), np.float32))
    with pytest.raises(MicroGANError, match="cannot write '.bmp'"):
        write_image(tmp_path / "a.bmp", np.zeros((3, 3), np.uint8))
    with pytest.raises(MicroGANError, match=r"\(3, 3, 4\)"):
        write_image(tmp_path / "b.png", np.zeros((3, 3, 4), np.uint8))
    assert list(tmp_path.iterdir()) == []


# ------------------------------------------------------------------------------ issue 15: decoders' silent paths


def test_tiff_that_is_only_its_header_is_a_clear_error(tmp_path):
    """8 bytes, first IFD offset 8 = the end of the file: tifffile raised IndexError."""
    (tmp_path / "bad.tif").write_bytes(b"II*\x00\x08\x00\x00\x00")
    with pytest.raises(ImageReadError, match=r"bad\.tif: corrupt TIFF"):
        read_image(tmp_path / "bad.tif")
    with pytest.raises(ImageReadError, match=r"bad\.tif: corrupt TIFF"):
        probe(tmp_path / "bad.tif")


def _corrupt_scan(data: bytes) -> bytes:
    """Cut the middle third out of a JPEG's entropy-coded data, keeping every marker: the structural
    walk passes (the end-of-image marker is there) and libjpeg decodes garbage or grey rows with
    only a warning ("Corrupt JPEG data: premature end of data segment")."""
    start = data.index(b"\xff\xda") + 20
    third = (len(data) - 2 - start) // 3
    return data[: start + third] + data[start + 2 * third :]


def test_corrupt_jpeg_scan_data_is_rejected_not_decoded_to_garbage(tmp_path):
    y, x = np.mgrid[0:64, 0:80]
    array = np.stack([x * 3, y * 3, (x + y) * 2], axis=-1).astype(np.uint8)
    data = write_image(tmp_path / "good.jpg", array).read_bytes()
    (tmp_path / "corrupt.jpg").write_bytes(_corrupt_scan(data))
    with pytest.raises(ImageReadError, match=r"corrupt\.jpg: corrupt JPEG data"):
        read_image(tmp_path / "corrupt.jpg")
    assert read_image(tmp_path / "good.jpg").array.shape == (64, 80, 3)


def test_jpeg_pixels_equal_opencv_decoding(tmp_path):
    """The strict decoder gives the pixels OpenCV gave (same libjpeg-turbo maths), gray and RGB."""
    for shape in ((30, 41), (30, 41, 3)):
        path = write_image(tmp_path / f"x{len(shape)}.jpg", _gray(np.uint8, shape))
        expected = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
        expected = expected[..., ::-1] if expected.ndim == 3 else expected
        np.testing.assert_array_equal(read_image(path).array, expected)


def test_lost_pages_and_samples_are_listed_as_dropped(tmp_path):
    """What an output written from the array would lack is in ``dropped`` (enhance refuses such
    files); a thumbnail page is not image data and drops nothing."""
    pages = _gray(np.uint16, (3, 8, 9))
    with tifffile.TiffWriter(tmp_path / "m.tif") as tw:
        for page in pages:
            tw.write(page, photometric="minisblack")
    assert read_image(tmp_path / "m.tif").dropped == ["multi-page TIFF: pages 1-2 of 3 not read"]
    tifffile.imwrite(tmp_path / "four.tif", _gray(np.uint8, (8, 9, 4)), photometric="minisblack", planarconfig="contig")
    image = read_image(tmp_path / "four.tif")
    assert image.array.ndim == 2 and image.dropped == ["4 samples per pixel: samples 1-3 not read"]
    with tifffile.TiffWriter(tmp_path / "thumb.tif") as tw:
        tw.write(pages[0], photometric="minisblack")
        tw.write(pages[1][:4, :4], photometric="minisblack", subfiletype=1)  # reduced-resolution image
    image = read_image(tmp_path / "thumb.tif")
    assert image.dropped == [] and any("reduced-resolution" in n for n in image.notes)
    assert read_image(write_image(tmp_path / "plain.tif", pages[0])).dropped == []


def test_miniswhite_tiff_is_inverted_so_larger_is_brighter(tmp_path):
    white = np.array([[0, 10], [200, 255]], np.uint8)
    tifffile.imwrite(tmp_path / "w8.tif", white, photometric="miniswhite")
    image = read_image(tmp_path / "w8.tif")
    np.testing.assert_array_equal(image.array, 255 - white)
    assert any("MINISWHITE" in n for n in image.notes)
    tifffile.imwrite(tmp_path / "w16.tif", np.array([[0, 65000]], np.uint16), photometric="miniswhite")
    np.testing.assert_array_equal(read_image(tmp_path / "w16.tif").array, [[65535, 535]])
