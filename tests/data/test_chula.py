"""The chula-rbc12 source: label parsing, crop geometry on real files, the stratified split, prepare."""
from __future__ import annotations

import collections
import csv
import shutil
import zipfile
import hashlib
from pathlib import Path

import numpy as np
import pytest

from microgan.data.chula import CELL_DIAMETER, CLASSES, ChulaSource, SEGMENTATION, download_chula, find_chula, parse_labels
from microgan.data.io import read_image
from microgan.data.points import PointCropParams, centred_box, point_crops
from microgan.data.prepare import PrepareConfig, prepare
from microgan.core.types import Box
from microgan.data.segment import foreground_mask
from microgan.data.sources import SourceImage
from microgan.data.split import stratified_splits
from microgan.errors import MicroGANError
from microgan.registry import SOURCES


def test_registered_and_listed_by_the_command():
    from microgan.commands.prepare import SOURCE_NAMES

    assert "chula-rbc12" in SOURCES
    assert tuple(sorted(SOURCES)) == SOURCE_NAMES


def test_label_lines_are_checked_one_by_one(tmp_path):
    labels = tmp_path / "1.txt"
    labels.write_text("10 20 0\n\n630 470 12\n5 5 13\n700 10 1\nx y 2\n1 2\n3 4 4\n")
    points, names, notes = parse_labels(labels, 640, 480)
    assert points == [(10, 20), (630, 470), (3, 4)]
    assert names == ["normal", "elliptocyte", "target_cell"]
    assert len(notes) == 4
    assert "class 13" in notes[0] and "outside the 640x480" in notes[1]
    assert all("1.txt, line" in n for n in notes)
    labels.write_bytes(b"\xff\xfe\x00garbage")
    with pytest.raises(MicroGANError, match="1.txt: unreadable label file"):
        parse_labels(labels, 640, 480)


def test_thirteen_classes():
    assert len(CLASSES) == 13 and len(set(CLASSES)) == 13


def test_centred_box_is_clipped_to_the_image():
    assert centred_box((100, 100), 56, 640, 480) == Box(72, 72, 56, 56)
    assert centred_box((3, 470), 56, 640, 480) == Box(0, 442, 31, 38)


def test_point_crops_use_the_cells_own_region_where_it_is_isolated():
    import cv2

    image = np.full((200, 300, 3), 215, np.uint8)
    cv2.circle(image, (60, 60), 20, (120, 80, 110), -1)  # isolated cell: 41 px
    cv2.circle(image, (180, 100), 22, (120, 80, 110), -1)  # two touching cells: one component
    cv2.circle(image, (220, 100), 22, (120, 80, 110), -1)
    points = [(60, 60), (180, 100), (220, 100), (150, 180)]  # the last on background
    crops = point_crops(image, points, SEGMENTATION, PointCropParams(diameter=45))
    assert [c.how for c in crops] == ["segmented", "centred", "centred", "centred"]
    own = crops[0].box
    assert 41 <= own.w <= 41 + 2 * SEGMENTATION.margin + 4 and abs(own.x + own.w / 2 - 60) <= 2
    side = round(45 * 1.25) + 2 * SEGMENTATION.margin
    assert crops[1].box == Box(180 - side // 2, 100 - side // 2, side, side)


def test_cell_diameter_matches_real_files(chula_root):
    """Re-measure the constant on 40 real label files: the median longer side of components that
    isolate exactly one labelled cell away from the border."""
    import cv2

    sides = []
    for label_file in sorted((chula_root / "Label").glob("*.txt"))[::15]:
        image = read_image(chula_root / "Dataset" / f"{label_file.stem}.jpg").array
        points, _, _ = parse_labels(label_file, image.shape[1], image.shape[0])
        _, labels, stats, _ = cv2.connectedComponentsWithStats(foreground_mask(image, SEGMENTATION), connectivity=8)
        components = [int(labels[y, x]) for x, y in points]
        count = collections.Counter(components)
        for k in components:
            x, y, w, h = stats[k, :4]
            if k and count[k] == 1 and x > 0 and y > 0 and x + w < image.shape[1] and y + h < image.shape[0]:
                sides.append(max(w, h))
    assert len(sides) > 300
    assert abs(np.median(sides) - CELL_DIAMETER) <= 3


def test_real_crops_hold_their_cell(chula_root):
    """On real images, every crop contains its labelled point, most are the cell's own region, and
    crop sides stay near the cell diameter."""
    source = ChulaSource(chula_root)
    entries = [e for e in source.images() if e.points][:12]
    how = collections.Counter()
    for entry in entries:
        image = read_image(entry.path).array
        crops = point_crops(image, entry.points, SEGMENTATION, PointCropParams(CELL_DIAMETER))
        assert len(crops) == len(entry.points) == len(entry.labels)
        for (x, y), crop in zip(entry.points, crops):
            b = crop.box
            assert b.x <= x < b.x + b.w and b.y <= y < b.y + b.h
            assert max(b.w, b.h) <= 1.6 * CELL_DIAMETER + 2 * SEGMENTATION.margin
            how[crop.how] += 1
    assert how["segmented"] > how["centred"]


def test_images_ids_labels_and_unlabelled_images(chula_root):
    images = ChulaSource(chula_root).images()
    assert len(images) == len(list((chula_root / "Dataset").glob("*.jpg")))
    assert images[0].id == "chula-001"
    unlabelled = [i for i in images if i.points is None]
    assert unlabelled and all(i.split_hint == "train" and not i.labels for i in unlabelled)
    labelled = [i for i in images if i.points]
    assert sum(len(i.points) for i in labelled) > 20000
    assert {label for i in labelled for label in i.labels} == set(CLASSES)
    segment_route = ChulaSource(chula_root, crops="segment").images()
    assert all(i.points is None for i in segment_route)
    with pytest.raises(MicroGANError, match="unknown crop route 'voc'"):
        ChulaSource(chula_root, crops="voc")


def _labelled(image_id: str, labels: list) -> SourceImage:
    return SourceImage(id=image_id, path=Path(f"{image_id}.jpg"), points=[(0, 0)] * len(labels), labels=labels)


def test_stratified_split_puts_every_class_in_every_split_and_keeps_images_whole():
    rng = np.random.default_rng(3)
    images = []
    for k in range(60):
        common = ["a"] * int(rng.integers(5, 30))
        rare = ["r"] * int(k % 15 == 0)  # 4 images hold the rare class
        images.append(_labelled(f"img{k:02d}", common + rare + ["b"] * int(rng.integers(0, 4))))
    images.append(SourceImage(id="unlabelled", path=Path("u.jpg"), split_hint="train"))
    splits = stratified_splits(images, (0.6, 0.2, 0.2), seed=0)
    assert set(splits) == {i.id for i in images} and splits["unlabelled"] == "train"
    for cls in ("a", "b", "r"):
        assert {splits[i.id] for i in images if cls in i.labels} == {"train", "val", "test"}
    crops = collections.Counter()
    for image in images:
        crops[splits[image.id]] += len(image.labels)
    total = sum(crops.values())
    assert abs(crops["train"] / total - 0.6) < 0.05 and abs(crops["test"] / total - 0.2) < 0.05
    assert stratified_splits(images, (0.6, 0.2, 0.2), seed=0) == splits  # seeded
    assert stratified_splits(images, (0.6, 0.2, 0.2), seed=1) != splits


def test_prepare_on_real_files_splits_by_image(chula_root, tmp_path):
    data = tmp_path / "chula"
    (data / "Dataset").mkdir(parents=True)
    (data / "Label").mkdir()
    for n in range(1, 16):
        shutil.copy(chula_root / "Dataset" / f"{n}.jpg", data / "Dataset")
        if (chula_root / "Label" / f"{n}.txt").is_file():
            shutil.copy(chula_root / "Label" / f"{n}.txt", data / "Label")
    (data / "Dataset" / "99.jpg").write_bytes(b"\xff\xd8\xff\xe0 not a jpeg")
    (data / "Label" / "99.txt").write_text("1 1 0\n")
    summary = prepare(PrepareConfig(out=tmp_path / "out", source="chula-rbc12", data=data), progress=False)
    rows = list(csv.DictReader(open(tmp_path / "out" / "manifest.csv")))
    assert [s.path.endswith("99.jpg") for s in summary.skipped] == [True]
    labelled = [r for r in rows if r["label"]]
    expected = sum(len(parse_labels(p, 640, 480)[0]) for p in (data / "Label").glob("*.txt") if p.stem != "99")
    assert len(labelled) == expected
    per_image = collections.defaultdict(set)
    for r in rows:
        per_image[r["source"]].add(r["split"])
        assert int(r["w"]) >= 12 and int(r["h"]) >= 12
    assert all(len(s) == 1 for s in per_image.values())
    assert {r["split"] for r in labelled} == {"train", "val", "test"}
    assert summary.boxes_by["segmented"] > summary.boxes_by["centred"]
    assert any("boxes:" in line for line in summary.lines())


def test_find_and_download_from_a_local_archive(chula_root, tmp_path, monkeypatch):
    monkeypatch.delenv("MICROGAN_CHULA", raising=False)
    assert find_chula(chula_root) == chula_root
    with pytest.raises(MicroGANError, match="Chula RBC-12 not found"):
        find_chula(tmp_path / "nowhere")
    archive = tmp_path / "chula.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("Chula-RBC-12-Dataset-abc/Dataset/1.jpg", (chula_root / "Dataset" / "1.jpg").read_bytes())
        zf.writestr("Chula-RBC-12-Dataset-abc/Label/1.txt", "10 10 0\n")
        zf.writestr("Chula-RBC-12-Dataset-abc/RBC Diseases/x.jpg", b"not kept")
        zf.writestr("Chula-RBC-12-Dataset-abc/../evil.txt", "escape attempt")
    dest = tmp_path / "cache"
    with pytest.raises(MicroGANError, match="does not match"):
        download_chula(dest, "0" * 64, url=archive.as_uri())
    assert not dest.exists() or not any(dest.iterdir())
    digest = hashlib.sha256(archive.read_bytes()).hexdigest()
    root = download_chula(dest, digest, url=archive.as_uri())
    assert sorted(p.name for p in root.iterdir()) == ["Dataset", "Label"]
    assert find_chula(dest) == root and ChulaSource(dest).images()[0].points == [(10, 10)]
    assert not (tmp_path / "evil.txt").exists()
