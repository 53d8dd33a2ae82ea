"""Slides read region by region (tiled/stripped TIFF, pyramids, OME-TIFF, OME-Zarr) and written as pyramids."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import tifffile

from microgan.data.pyramid import RawCanvas, half, level_shapes, write_pyramid
from microgan.data.slides import open_slide
from microgan.errors import ImageReadError, MicroGANError


def _rgb(h: int, w: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8)


def _pyramid_tiff(path: Path, a: np.ndarray, **kw) -> Path:
    rgb = a.ndim == 3
    with tifffile.TiffWriter(path, bigtiff=True) as tif:
        opts = dict(tile=(64, 64), photometric="rgb" if rgb else "minisblack", compression="zlib", **kw)
        tif.write(a, subifds=1, **opts)
        tif.write(a[::2, ::2], subfiletype=1, **opts)
    return path


@pytest.mark.parametrize("region", [(0, 1, 0, 1), (0, 200, 0, 300), (199, 200, 299, 300), (-5, 7, 290, 320),
                                    (63, 65, 127, 129), (150, 200, 0, 64), (10, 11, 0, 300)])
def test_region_reads_at_every_edge_equal_the_image(tmp_path: Path, region: tuple) -> None:
    a = _rgb(200, 300)
    with open_slide(_pyramid_tiff(tmp_path / "s.tif", a)) as slide:
        r0, r1, c0, c1 = region
        assert np.array_equal(slide.read(*region), a[max(r0, 0) : r1, max(c0, 0) : c1])
        assert slide.shape == (200, 300, 3) and slide.dtype == np.uint8
        assert any("level 0" in n and "2 levels" in n for n in slide.notes)


def test_stripped_gray_16bit_ome_tiff_keeps_type_pixel_size_and_declared_bits(tmp_path: Path) -> None:
    g = np.random.default_rng(1).integers(0, 4096, (130, 90), dtype=np.uint16)
    path = tmp_path / "g.ome.tif"
    tifffile.imwrite(path, g, rowsperstrip=16, metadata={"axes": "YX", "PhysicalSizeX": 0.325, "PhysicalSizeXUnit": "µm",
                                                          "SignificantBits": 12})
    with open_slide(path) as slide:
        assert slide.shape == (130, 90) and slide.dtype == np.uint16
        assert slide.pixel_size_um == pytest.approx(0.325) and slide.declared_top == 4095
        assert np.array_equal(slide.read(17, 129, 3, 88), g[17:129, 3:88])


def test_resolution_tags_give_the_pixel_size_and_alpha_is_dropped(tmp_path: Path) -> None:
    a = np.random.default_rng(2).integers(0, 256, (64, 80, 4), dtype=np.uint8)
    path = tmp_path / "a.tif"
    tifffile.imwrite(path, a, tile=(32, 32), photometric="rgb", extrasamples=[2], resolution=(4000, 4000),
                     resolutionunit="CENTIMETER")
    with open_slide(path) as slide:
        assert slide.shape == (64, 80, 3) and slide.pixel_size_um == pytest.approx(2.5)
        assert np.array_equal(slide.read(0, 64, 0, 80), a[..., :3])


def test_large_segments_are_read_in_place_when_uncompressed_and_refused_when_compressed(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from microgan.data import slides

    monkeypatch.setattr(slides, "MAX_SEGMENT", 1000)
    a = _rgb(300, 200, seed=7)
    tifffile.imwrite(tmp_path / "u.tif", a, photometric="rgb")  # one uncompressed strip
    with open_slide(tmp_path / "u.tif") as slide:
        assert np.array_equal(slide.read(10, 300, 50, 199), a[10:, 50:199])
    tifffile.imwrite(tmp_path / "c.tif", a, photometric="rgb", compression="zlib", rowsperstrip=300)
    with pytest.raises(ImageReadError, match="c.tif: stored in compressed strips .* save it tiled .*--stream off"):
        open_slide(tmp_path / "c.tif")


def test_rgb_in_separate_planes_is_read_as_rgb(tmp_path: Path) -> None:
    a = _rgb(50, 70, seed=6)
    tifffile.imwrite(tmp_path / "p.tif", np.moveaxis(a, -1, 0), tile=(32, 32), photometric="rgb", planarconfig="separate")
    with open_slide(tmp_path / "p.tif") as slide:
        assert slide.shape == (50, 70, 3) and np.array_equal(slide.read(10, 50, 33, 70), a[10:, 33:])


def test_ome_zarr_channel_first_level_zero(tmp_path: Path) -> None:
    zarr = pytest.importorskip("zarr")
    a = _rgb(70, 50, seed=3)
    root = zarr.open_group(str(tmp_path / "s.ome.zarr"), mode="w", zarr_format=2)
    root.create_array("0", data=np.moveaxis(a, -1, 0), chunks=(3, 32, 32))
    root.create_array("1", data=np.moveaxis(a[::2, ::2], -1, 0), chunks=(3, 32, 32))
    root.attrs["multiscales"] = [{"version": "0.4", "axes": [{"name": "c", "type": "channel"},
                                                             {"name": "y", "type": "space", "unit": "micrometer"},
                                                             {"name": "x", "type": "space", "unit": "micrometer"}],
                                  "datasets": [{"path": "0", "coordinateTransformations": [{"type": "scale", "scale": [1, 0.5, 0.5]}]},
                                               {"path": "1", "coordinateTransformations": [{"type": "scale", "scale": [1, 1.0, 1.0]}]}]}]
    with open_slide(tmp_path / "s.ome.zarr") as slide:
        assert slide.shape == (70, 50, 3) and slide.pixel_size_um == pytest.approx(0.5)
        assert np.array_equal(slide.read(5, 70, 33, 50), a[5:, 33:])
        assert any("2 levels" in n for n in slide.notes)


def test_a_truncated_tile_is_refused_before_anything_runs(tmp_path: Path) -> None:
    path = _pyramid_tiff(tmp_path / "s.tif", _rgb(200, 300))
    with tifffile.TiffFile(path) as tif:
        page = tif.series[0].levels[0].keyframe
        last = max(o + n for o, n in zip(page.dataoffsets, page.databytecounts))
    data = path.read_bytes()
    cut = tmp_path / "cut.tif"
    cut.write_bytes(data[: last - 10])
    with pytest.raises(ImageReadError, match=r"cut.tif: truncated TIFF: tile \d+ of level 0 runs past the end"):
        open_slide(cut)


def test_a_level_zero_that_cannot_be_decoded_is_refused(tmp_path: Path) -> None:
    path = _pyramid_tiff(tmp_path / "s.tif", _rgb(200, 300))
    with tifffile.TiffFile(path) as tif:
        page = tif.series[0].levels[0].keyframe
        offset, count = page.dataoffsets[0], page.databytecounts[0]
    data = bytearray(path.read_bytes())
    data[offset : offset + count] = b"\x00" * count  # its first tile's deflate stream destroyed
    path.write_bytes(bytes(data))
    with pytest.raises(ImageReadError, match="s.tif: level 0 cannot be decoded"):
        open_slide(path)


def test_stacks_and_odd_layouts_are_refused_with_one_line(tmp_path: Path) -> None:
    tifffile.imwrite(tmp_path / "stack.tif", np.zeros((3, 40, 40), np.uint8), tile=(16, 16), photometric="minisblack")
    with pytest.raises(ImageReadError, match="stack.tif: .*only one 2-D gray or RGB plane"):
        open_slide(tmp_path / "stack.tif")
    tifffile.imwrite(tmp_path / "i8.tif", np.zeros((40, 40), np.int8), tile=(16, 16))
    with pytest.raises(ImageReadError, match="i8.tif: unsupported sample type int8"):
        open_slide(tmp_path / "i8.tif")
    with pytest.raises(ImageReadError, match="no such file"):
        open_slide(tmp_path / "missing.tif")


# ------------------------------------------------------------------------------ the pyramid writer


def test_raw_canvas_takes_rectangles_in_any_order(tmp_path: Path) -> None:
    a = _rgb(37, 53)
    with RawCanvas(tmp_path / "c.raw", a.shape, a.dtype, create=True) as canvas:
        canvas.write(20, 30, a[20:, 30:])
        canvas.write(0, 0, a[:20])
        canvas.write(20, 0, a[20:, :30])
        assert np.array_equal(canvas.read(0, 37, 0, 53), a)
        assert np.array_equal(canvas.read(3, 36, 7, 52), a[3:36, 7:52])
    with pytest.raises(ValueError, match="not a canvas"):
        RawCanvas(tmp_path / "c.raw", (38, 53, 3), np.uint8)


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16, np.float32])
def test_pyramid_levels_halve_and_keep_type_and_pixel_size(tmp_path: Path, dtype: type) -> None:
    rng = np.random.default_rng(4)
    a = (rng.random((601, 333)) * (1 if dtype == np.float32 else np.iinfo(dtype).max)).astype(dtype)
    with RawCanvas(tmp_path / "c.raw", a.shape, a.dtype, create=True) as canvas:
        canvas.write(0, 0, a)
        out = write_pyramid(tmp_path / "o.tif", canvas, pixel_size_um=0.5)
    with tifffile.TiffFile(out) as tif:
        levels = tif.series[0].levels
        assert [lvl.shape for lvl in levels] == [tuple(s) for s in level_shapes(a.shape)] == [(601, 333), (301, 167), (151, 84)]
        assert np.array_equal(levels[0].asarray(), a) and levels[0].dtype == dtype
        assert np.array_equal(levels[1].asarray(), half(a)) and np.array_equal(levels[2].asarray(), half(half(a)))
        for k, lvl in enumerate(levels):
            page = lvl.keyframe
            assert page.is_tiled and page.compression.name == "ADOBE_DEFLATE"
            num, den = page.tags["XResolution"].value
            assert 1e4 / (num / den) == pytest.approx(0.5 * 2**k, rel=1e-4)
    assert not list(tmp_path.glob("*.level*.raw"))  # the levels' scratch canvases are gone
    with RawCanvas(tmp_path / "c.raw", a.shape, a.dtype) as canvas, pytest.raises(MicroGANError, match="already exists"):
        write_pyramid(out, canvas)


def test_half_is_the_two_by_two_mean_with_odd_edges_averaged_with_themselves() -> None:
    a = np.array([[0, 2, 7], [4, 6, 9], [10, 10, 10]], np.uint8)
    assert half(a).tolist() == [[3, 8], [10, 10]]


def test_ome_tiff_output_carries_physical_size(tmp_path: Path) -> None:
    a = _rgb(300, 280)
    with RawCanvas(tmp_path / "c.raw", a.shape, a.dtype, create=True) as canvas:
        canvas.write(0, 0, a)
        write_pyramid(tmp_path / "o.ome.tif", canvas, pixel_size_um=0.25)
    with tifffile.TiffFile(tmp_path / "o.ome.tif") as tif:
        assert tif.is_ome and 'PhysicalSizeX="0.25"' in tif.ome_metadata
        assert len(tif.series[0].levels) == 2 and np.array_equal(tif.series[0].asarray(), a)
    with open_slide(tmp_path / "o.ome.tif") as slide:  # what we write we read back
        assert slide.pixel_size_um == pytest.approx(0.25)
