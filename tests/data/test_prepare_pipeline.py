"""The prepare pipeline: real BCCD crops, bad files skipped and reported, determinism, refusal."""
from __future__ import annotations

import struct
import zlib
from pathlib import Path

import cv2
import numpy as np
import pytest
import tifffile
from PIL import Image as PILImage

from microgan.data.degrade import GaussianBlur
from microgan.data.io import read_image, write_image
from microgan.data.manifest import read_manifest
from microgan.data.prepare import PrepareConfig, prepare
from microgan.data.segment import SegmentationParams
from microgan.errors import MicroGANError

SEG = SegmentationParams(min_area=100, margin=2)


def _field(dtype=np.uint8, channels=3) -> np.ndarray:
    """Two dark disks on a bright background (segmentation finds exactly two objects)."""
    image = np.full((80, 100), 200, np.float32)
    cv2.circle(image, (30, 35), 15, 70, -1)
    cv2.circle(image, (72, 45), 11, 70, -1)
    image = image if dtype == np.uint8 else image * 257
    image = image.astype(dtype)
    return np.repeat(image[..., None], 3, axis=-1) if channels == 3 else image


def _huge_png(path: Path) -> None:
    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", 60_000, 60_000, 8, 0, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0")) + chunk(b"IEND", b""))


def _bad_folder(root: Path) -> Path:
    """Good images in several layouts plus one of each bad-input case of the issue."""
    data = root / "raw"
    write_image(data / "good_rgb.png", _field())
    write_image(data / "good_gray16.png", _field(np.uint16, 1))
    write_image(data / "good.jpg", _field())
    PILImage.fromarray(np.dstack([_field(), np.full((80, 100), 255, np.uint8)]), "RGBA").save(data / "rgba.png")
    PILImage.fromarray(_field()).quantize(16).save(data / "palette.png")
    truncated = write_image(data / "full.jpg", _field()).read_bytes()
    (data / "full.jpg").unlink()
    (data / "truncated.jpg").write_bytes(truncated[: len(truncated) // 2])
    (data / "not_an_image.png").write_text("hello")
    write_image(data / "one_pixel.png", np.zeros((1, 1), np.uint8))
    _huge_png(data / "huge.png")
    nan = _field(np.uint8, 1).astype(np.float32)
    nan[0, 0] = np.nan
    tifffile.imwrite(data / "nan.tif", nan)
    return data


def test_folder_with_bad_files_skips_them_and_prepares_the_rest(tmp_path):
    data = _bad_folder(tmp_path)
    before = {p.name: p.read_bytes() for p in data.iterdir()}
    summary = prepare(PrepareConfig(out=tmp_path / "out", source="folder", data=data, segmentation=SEG), progress=False)
    reasons = {Path(s.path).name: s.reason for s in summary.skipped}
    assert set(reasons) == {"truncated.jpg", "not_an_image.png", "one_pixel.png", "huge.png", "nan.tif"}
    assert "truncated" in reasons["truncated.jpg"]
    assert "not a PNG, JPEG or TIFF" in reasons["not_an_image.png"]
    assert "smaller than the minimum" in reasons["one_pixel.png"]
    assert "60000x60000" in reasons["huge.png"]
    assert "NaN" in reasons["nan.tif"]
    assert summary.images_read == 5 and len(summary.records) == 10  # two disks per good image
    text = "\n".join(summary.lines())
    assert "prepared 10 crops from 5 of 10 images" in text and "5 files skipped:" in text
    assert "huge.png: image declares 60000x60000" in text
    assert any("alpha channel dropped" in n for n in summary.notes)
    assert any("palette expanded" in n for n in summary.notes)
    assert {p.name: p.read_bytes() for p in data.iterdir()} == before  # inputs untouched


def test_bit_depth_and_native_size_are_kept(tmp_path):
    data = tmp_path / "raw"
    write_image(data / "a16.png", _field(np.uint16, 1))
    write_image(data / "b8.png", _field())
    prepare(PrepareConfig(out=tmp_path / "out", source="folder", data=data, segmentation=SEG), progress=False)
    for record in read_manifest(tmp_path / "out"):
        hr, lr = read_image(record.hr(tmp_path / "out")), read_image(record.lr(tmp_path / "out"))
        expected = np.uint16 if record.source == "a16" else np.uint8
        assert hr.array.dtype == lr.array.dtype == expected
        assert hr.array.shape[:2] == lr.array.shape[:2] == (record.h, record.w)


def test_float_tiff_is_scaled_to_16bit_with_a_note(tmp_path):
    data = tmp_path / "raw"
    data.mkdir()
    tifffile.imwrite(data / "f.tif", _field(np.uint8, 1).astype(np.float32) / 100)
    summary = prepare(PrepareConfig(out=tmp_path / "out", source="folder", data=data, segmentation=SEG), progress=False)
    assert len(summary.records) == 2
    assert read_image(summary.records[0].hr(tmp_path / "out")).array.dtype == np.uint16
    assert any("scaled from 0.7..2 to 16-bit" in n for n in summary.notes)


def test_images_without_objects_are_counted(tmp_path):
    data = tmp_path / "raw"
    write_image(data / "a.png", _field())
    write_image(data / "blank.png", np.full((40, 40), 200, np.uint8))
    summary = prepare(PrepareConfig(out=tmp_path / "out", source="folder", data=data, segmentation=SEG), progress=False)
    assert summary.images_read == 2 and summary.without_crops == 1
    assert "1 images read but gave no crops" in "\n".join(summary.lines())


def test_nothing_preparable_raises_and_writes_no_manifest(tmp_path):
    data = tmp_path / "raw"
    data.mkdir()
    (data / "a.png").write_text("not an image")
    with pytest.raises(MicroGANError, match=r"nothing could be prepared from 1 images \(a\.png: not a PNG"):
        prepare(PrepareConfig(out=tmp_path / "out", source="folder", data=data), progress=False)
    assert not (tmp_path / "out" / "manifest.csv").exists()


def test_bccd_voc_route_crops_match_source_and_blur(bccd_root, tmp_path):
    out = tmp_path / "out"
    summary = prepare(PrepareConfig(out=out, data=bccd_root, limit=3), progress=False)
    records = read_manifest(out)
    assert records == summary.records and len(records) > 30
    assert {r.label for r in records} <= {"RBC", "WBC", "Platelets"} and all(r.label for r in records)
    files = {p.relative_to(out).as_posix() for p in out.rglob("*.png")}
    assert files == {r.hr_path for r in records} | {r.lr_path for r in records}
    splits_of = {}
    for r in records:
        splits_of.setdefault(r.source, set()).add(r.split)
    assert all(len(s) == 1 for s in splits_of.values())  # no source image in two splits
    source = read_image(bccd_root / "BCCD" / "JPEGImages" / f"{records[0].source}.jpg").array
    for r in records[:5]:
        hr = read_image(r.hr(out)).array
        np.testing.assert_array_equal(hr, source[r.y : r.y + r.h, r.x : r.x + r.w])  # native, never resized
        np.testing.assert_array_equal(read_image(r.lr(out)).array, GaussianBlur(15, 2.6)(hr))


def test_bccd_split_follows_its_imagesets(bccd_root, tmp_path):
    summary = prepare(PrepareConfig(out=tmp_path / "out", data=bccd_root, limit=6), progress=False)
    lists = {
        split: set((bccd_root / "BCCD" / "ImageSets" / "Main" / f"{split}.txt").read_text().split())
        for split in ("train", "val", "test")
    }
    for r in summary.records:
        assert r.source in lists[r.split]


def test_deterministic_and_independent_of_limit(bccd_root, tmp_path):
    def run(name, limit):
        config = PrepareConfig(out=tmp_path / name, data=bccd_root, limit=limit, noise=0.02, seed=3)
        return prepare(config, progress=False).records

    a, b, c = run("a", 1), run("b", 1), run("c", 2)
    assert a == b and c[: len(a)] == a
    for r in a:
        assert (tmp_path / "a" / r.lr_path).read_bytes() == (tmp_path / "c" / r.lr_path).read_bytes()
    other_seed = prepare(PrepareConfig(out=tmp_path / "d", data=bccd_root, limit=1, noise=0.02, seed=4), progress=False)
    assert (tmp_path / "a" / a[0].lr_path).read_bytes() != (tmp_path / "d" / other_seed.records[0].lr_path).read_bytes()


def test_bccd_segment_route_has_unlabelled_crops(bccd_root, tmp_path):
    summary = prepare(PrepareConfig(out=tmp_path / "out", data=bccd_root, crops="segment", limit=1), progress=False)
    assert len(summary.records) >= 5 and all(r.label == "" for r in summary.records)


def test_refuses_existing_output_unless_overwrite(tmp_path):
    data = tmp_path / "raw"
    write_image(data / "a.png", _field())
    config = PrepareConfig(out=tmp_path / "out", source="folder", data=data, segmentation=SEG)
    first = prepare(config, progress=False)
    labels = tmp_path / "out" / "train" / "labels.csv"  # a user's file inside a folder prepare writes
    labels.write_text("user file")
    (tmp_path / "out" / "mine.txt").write_text("user file")
    with pytest.raises(MicroGANError, match="already holds a prepared data set.*--overwrite"):
        prepare(config, progress=False)
    config.overwrite = True
    second = prepare(config, progress=False)
    assert [r.id for r in second.records] == [r.id for r in first.records]
    assert labels.read_text() == "user file" and (tmp_path / "out" / "mine.txt").read_text() == "user file"


def test_overwrite_removes_only_the_crops_the_earlier_manifest_lists(tmp_path):
    data = tmp_path / "raw"
    write_image(data / "a.png", _field())
    write_image(data / "b.png", _field())
    out = tmp_path / "out"
    prepare(PrepareConfig(out=out, source="folder", data=data, segmentation=SEG), progress=False)
    before = {p for p in out.rglob("*.png")}
    (data / "b.png").unlink()  # the second run makes fewer crops: the first run's others go
    stranger = out / "test" / "hr" / "not-ours.png"
    stranger.parent.mkdir(parents=True, exist_ok=True)
    stranger.write_bytes(b"someone else's")
    summary = prepare(PrepareConfig(out=out, source="folder", data=data, segmentation=SEG, overwrite=True), progress=False)
    kept = {out / r.hr_path for r in summary.records} | {out / r.lr_path for r in summary.records}
    assert {p for p in out.rglob("*.png")} == kept | {stranger}
    assert kept < before and stranger.read_bytes() == b"someone else's"


def test_a_failed_run_removes_only_what_it_wrote(tmp_path, monkeypatch):
    from microgan.data import prepare as pipeline

    data = tmp_path / "raw"
    write_image(data / "a.png", _field())
    out = tmp_path / "out"
    (out / "train").mkdir(parents=True)
    (out / "train" / "labels.csv").write_text("user file")
    monkeypatch.setattr(pipeline, "write_manifest", lambda *a: (_ for _ in ()).throw(KeyboardInterrupt()))
    with pytest.raises(KeyboardInterrupt):
        prepare(PrepareConfig(out=out, source="folder", data=data, segmentation=SEG, overwrite=True), progress=False)
    assert [p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file()] == ["train/labels.csv"]


def test_refuses_output_inside_input(tmp_path):
    data = tmp_path / "raw"
    write_image(data / "a.png", _field())
    with pytest.raises(MicroGANError, match="overlaps the input folder"):
        prepare(PrepareConfig(out=data / "prepared", source="folder", data=data), progress=False)
    with pytest.raises(MicroGANError, match="overlaps"):
        prepare(PrepareConfig(out=tmp_path, source="folder", data=data), progress=False)


def test_min_size_and_margin(tmp_path):
    data = tmp_path / "raw"
    write_image(data / "a.png", _field())
    wide = prepare(
        PrepareConfig(out=tmp_path / "wide", source="folder", data=data, segmentation=SegmentationParams(min_area=100, margin=6)),
        progress=False,
    )
    tight = prepare(
        PrepareConfig(out=tmp_path / "tight", source="folder", data=data, segmentation=SegmentationParams(min_area=100, margin=0)),
        progress=False,
    )
    assert [r.w for r in wide.records] == [r.w + 12 for r in tight.records]
    big_only = prepare(
        PrepareConfig(out=tmp_path / "big", source="folder", data=data, min_size=30, segmentation=SegmentationParams(min_area=100, margin=0)),
        progress=False,
    )
    assert len(big_only.records) == 1 and big_only.dropped_small == 1


def test_tiny_prepared_fixture_is_consistent(tiny_prepared):
    records = read_manifest(tiny_prepared)
    assert {r.split for r in records} == {"train", "val", "test"}
    assert {r.label for r in records} == {"round", "oval"}
    for r in records:
        assert read_image(r.hr(tiny_prepared)).array.shape == read_image(r.lr(tiny_prepared)).array.shape == (r.h, r.w, 3)


# ------------------------------------------------------------------------------ issue 15


def _cut_scan(data: bytes) -> bytes:
    """A JPEG whose scan data lost its middle third, every marker kept (libjpeg: grey rows + a warning)."""
    start = data.index(b"\xff\xda") + 20
    third = (len(data) - 2 - start) // 3
    return data[: start + third] + data[start + 2 * third :]


def test_header_only_tiff_and_corrupt_jpeg_are_skipped_and_the_rest_prepared(tmp_path):
    """The TIFF raised IndexError (130 crops left without a manifest); the JPEG's garbage rows
    entered the data set as crops."""
    data = tmp_path / "raw"
    write_image(data / "a.png", _field())
    write_image(data / "b.png", _field(np.uint16, 1))
    (data / "bad.tif").write_bytes(b"II*\x00\x08\x00\x00\x00")
    (data / "corrupt.jpg").write_bytes(_cut_scan(write_image(tmp_path / "c.jpg", _field()).read_bytes()))
    before = {p.name: p.read_bytes() for p in data.iterdir()}
    summary = prepare(PrepareConfig(out=tmp_path / "out", source="folder", data=data, segmentation=SEG), progress=False)
    reasons = {Path(s.path).name: s.reason for s in summary.skipped}
    assert set(reasons) == {"bad.tif", "corrupt.jpg"}
    assert "corrupt TIFF" in reasons["bad.tif"] and "corrupt JPEG data" in reasons["corrupt.jpg"]
    assert len(read_manifest(tmp_path / "out")) == len(summary.records) == 4
    assert {p.name: p.read_bytes() for p in data.iterdir()} == before


def test_dropped_pages_are_noted(tmp_path):
    data = tmp_path / "raw"
    data.mkdir()
    with tifffile.TiffWriter(data / "stack.tif") as tw:
        for _ in range(2):
            tw.write(_field(np.uint8, 1), photometric="minisblack")
    summary = prepare(PrepareConfig(out=tmp_path / "out", source="folder", data=data, segmentation=SEG), progress=False)
    assert any("stack.tif: multi-page TIFF: pages 1-1 of 2 not read" in n for n in summary.notes)


def test_a_failure_mid_run_leaves_no_crops_without_a_manifest(tmp_path, monkeypatch):
    """An unexpected error (here an interrupt) after some crops were written: the crops are
    removed, so OUT never holds a data set without its manifest."""
    import microgan.data.prepare as pipeline

    data = tmp_path / "raw"
    for name in ("a", "b", "c"):
        write_image(data / f"{name}.png", _field())
    calls = []

    def segment_then_fail(array, params):
        calls.append(1)
        if len(calls) == 3:
            raise KeyboardInterrupt
        return pipeline.segment.__wrapped__(array, params)

    segment_then_fail.__wrapped__ = pipeline.segment
    monkeypatch.setattr(pipeline, "segment", segment_then_fail)
    with pytest.raises(KeyboardInterrupt):
        prepare(PrepareConfig(out=tmp_path / "out", source="folder", data=data, segmentation=SEG), progress=False)
    assert len(calls) == 3
    assert not (tmp_path / "out").exists() or list((tmp_path / "out").rglob("*")) == []
