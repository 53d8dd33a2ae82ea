"""Sources: BCCD from a local folder (VOC and segmentation routes), any folder, offline download."""
from __future__ import annotations

import hashlib
import zipfile
from pathlib import Path

import numpy as np
import pytest

from microgan.data.io import write_image
from microgan.data.sources import BCCDSource, FolderSource, download_bccd, find_bccd
from microgan.errors import MicroGANError
from microgan.registry import SOURCES


def test_registered():
    assert {"bccd", "folder"} <= set(SOURCES)


def test_bccd_voc_route_uses_annotations_and_its_own_split(bccd_root):
    images = BCCDSource(bccd_root).images()
    assert len(images) == 364
    assert [i.id for i in images] == sorted(i.id for i in images)
    first = images[0]
    assert first.id == "BloodImage_00000" and first.path.name == "BloodImage_00000.jpg"
    assert len(first.boxes) == len(first.labels) == 20 and first.label_for(0) == "WBC"
    hints = {i.split_hint for i in images}
    assert hints == {"train", "val", "test"}
    train_list = (bccd_root / "BCCD" / "ImageSets" / "Main" / "train.txt").read_text().split()
    assert {i.id for i in images if i.split_hint == "train"} == set(train_list)
    labels = {label for i in images for label in i.labels}
    assert labels == {"RBC", "WBC", "Platelets"}


def test_bccd_segment_route_has_no_boxes(bccd_root):
    images = BCCDSource(bccd_root / "BCCD", crops="segment").images()  # the BCCD folder itself works too
    assert len(images) == 364 and all(i.boxes is None and i.labels == [] for i in images)
    assert images[0].label_for(3) == ""


def test_find_bccd_order(bccd_root, tmp_path, monkeypatch):
    monkeypatch.setenv("MICROGAN_BCCD", str(bccd_root))
    assert find_bccd() == bccd_root / "BCCD"
    monkeypatch.setenv("MICROGAN_BCCD", str(tmp_path / "nowhere"))
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("HOME", str(tmp_path))
    with pytest.raises(MicroGANError, match="BCCD not found .*nowhere"):
        find_bccd()
    with pytest.raises(MicroGANError, match="BCCD not found"):
        BCCDSource(tmp_path)


def test_unknown_route_is_refused(bccd_root, tmp_path):
    with pytest.raises(MicroGANError, match="unknown crop route 'boxes'"):
        BCCDSource(bccd_root, crops="boxes")
    with pytest.raises(MicroGANError, match="no annotations"):
        FolderSource(tmp_path, crops="voc")


def _tiny(path: Path) -> None:
    write_image(path, np.zeros((4, 4), np.uint8))


def test_folder_source_classes_splits_and_ids(tmp_path):
    for rel in ["train/wbc/a.png", "train/rbc/b.tif", "test/wbc/c.jpg", "val/rbc/d d.png", ".hidden/e.png"]:
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        _tiny(tmp_path / rel)
    (tmp_path / "train" / "wbc" / "notes.txt").write_text("not an image")
    images = FolderSource(tmp_path).images()
    got = {(i.id, i.split_hint, tuple(i.labels)) for i in images}
    assert got == {
        ("test__wbc__c", "test", ("wbc",)),
        ("train__rbc__b", "train", ("rbc",)),
        ("train__wbc__a", "train", ("wbc",)),
        ("val__rbc__d-d", "val", ("rbc",)),
    }
    assert all(i.boxes is None for i in images)
    assert images[0].label_for(7) == images[0].labels[0]


def test_folder_source_flat_or_single_subfolder_has_no_labels(tmp_path):
    _tiny(tmp_path / "x.png")
    (tmp_path / "imgs").mkdir()
    _tiny(tmp_path / "imgs" / "y.png")
    _tiny(tmp_path / "imgs" / "x.tif")
    _tiny(tmp_path / "x.tif")
    images = FolderSource(tmp_path).images()
    assert sorted(i.id for i in images) == ["imgs__x", "imgs__y", "x", "x-tif"]
    assert all(i.labels == [] and i.split_hint is None for i in images)


def test_folder_source_missing_folder(tmp_path):
    with pytest.raises(MicroGANError, match="not a folder"):
        FolderSource(tmp_path / "absent")


def _fake_archive(tmp_path: Path) -> Path:
    archive = tmp_path / "bccd.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("BCCD_Dataset-master/BCCD/Annotations/BloodImage_00000.xml", "<annotation/>")
        zf.writestr("BCCD_Dataset-master/BCCD/JPEGImages/BloodImage_00000.jpg", b"\xff\xd8\xff")
        zf.writestr("BCCD_Dataset-master/README.md", "readme")
        zf.writestr("BCCD_Dataset-master/../evil.txt", "escape attempt")
    return archive


def test_download_verifies_checksum_before_writing(tmp_path):
    archive = _fake_archive(tmp_path)
    dest = tmp_path / "cache"
    with pytest.raises(MicroGANError, match="does not match"):
        download_bccd(dest, "0" * 64, url=archive.as_uri())
    assert not (dest / "BCCD").exists()
    with pytest.raises(MicroGANError, match="SHA-256"):
        download_bccd(dest, "", url=archive.as_uri())
    digest = hashlib.sha256(archive.read_bytes()).hexdigest()
    root = download_bccd(dest, digest, url=archive.as_uri())
    assert root == dest / "BCCD"
    assert (root / "JPEGImages" / "BloodImage_00000.jpg").is_file()
    assert sorted(p.name for p in dest.iterdir()) == ["BCCD"]  # no temporaries, nothing escaped
    assert not (tmp_path / "evil.txt").exists()
    assert download_bccd(dest, digest, url="http://unused.invalid/") == root  # already there
