"""VOC parsing: coordinate convention, quirk repair, and the real BCCD annotations."""
from __future__ import annotations

from pathlib import Path

import pytest

from microgan.core.types import Box
from microgan.data.voc import parse_voc
from microgan.errors import MicroGANError


def _xml(tmp_path: Path, objects: str, size: str = "<size><width>100</width><height>80</height></size>") -> Path:
    path = tmp_path / "a.xml"
    path.write_text(f"<annotation><filename>a.jpg</filename>{size}{objects}</annotation>")
    return path


def _obj(name, xmin, ymin, xmax, ymax, extra=""):
    return (
        f"<object><name>{name}</name>{extra}<bndbox><xmin>{xmin}</xmin><ymin>{ymin}</ymin>"
        f"<xmax>{xmax}</xmax><ymax>{ymax}</ymax></bndbox></object>"
    )


def test_one_based_inclusive_boxes_and_stripped_names(tmp_path):
    ann = parse_voc(_xml(tmp_path, _obj(" RBC ", 1, 1, 100, 80, "<truncated>1</truncated>") + _obj("WBC", 11, 21, 30, 50)))
    assert ann.filename == "a.jpg" and (ann.width, ann.height) == (100, 80)
    assert [(o.name, o.box) for o in ann.objects] == [("RBC", Box(0, 0, 100, 80)), ("WBC", Box(10, 20, 20, 30))]
    assert ann.objects[0].truncated and not ann.objects[1].truncated
    assert ann.notes == []


def test_quirks_are_clipped_or_skipped_with_notes(tmp_path):
    objects = (
        _obj("RBC", -5, 10, 120, 20)  # outside: clipped
        + _obj("RBC", 50, 50, 50, 50)  # BCCD's zero-size box: skipped
        + _obj("RBC", 40, 30, 20, 60)  # inverted: skipped
        + _obj("RBC", 200, 200, 220, 220)  # wholly outside: skipped
        + _obj("WBC", 10.4, 10.6, 19.5, 30)  # fractional: rounded
        + "<object><name>Platelets</name></object>"  # no box: skipped
    )
    ann = parse_voc(_xml(tmp_path, objects))
    assert [o.box for o in ann.objects] == [Box(0, 9, 100, 11), Box(9, 10, 11, 20)]
    joined = " | ".join(ann.notes)
    assert "clipped" in joined and joined.count("empty or inverted") == 2
    assert "outside the image" in joined and "missing name or box" in joined


def test_real_image_size_wins_over_declared(tmp_path):
    ann = parse_voc(_xml(tmp_path, _obj("RBC", 1, 1, 100, 80)), image_size=(50, 40))
    assert ann.objects[0].box == Box(0, 0, 50, 40)
    assert any("declared size 100x80 != image 50x40" in n for n in ann.notes)
    no_size = _xml(tmp_path, _obj("RBC", 1, 1, 10, 10), size="")
    assert parse_voc(no_size, image_size=(64, 48)).width == 64
    with pytest.raises(MicroGANError, match="no image size"):
        parse_voc(no_size)


def test_broken_files_raise_naming_the_file(tmp_path):
    (tmp_path / "bad.xml").write_text("<annotation><object>")
    with pytest.raises(MicroGANError, match=r"bad\.xml: not a readable VOC"):
        parse_voc(tmp_path / "bad.xml")
    (tmp_path / "other.xml").write_text("<svg></svg>")
    with pytest.raises(MicroGANError, match=r"other\.xml: not a VOC annotation"):
        parse_voc(tmp_path / "other.xml")
    with pytest.raises(MicroGANError, match="no such annotation"):
        parse_voc(tmp_path / "missing.xml")


def test_real_bccd_annotation(bccd_root):
    ann = parse_voc(bccd_root / "BCCD" / "Annotations" / "BloodImage_00000.xml", image_size=(640, 480))
    assert ann.filename == "BloodImage_00000.jpg"
    assert len(ann.objects) == 20
    assert ann.objects[0].name == "WBC" and ann.objects[0].box == Box(259, 176, 232, 200)
    assert {o.name for o in ann.objects} == {"WBC", "RBC"}
    assert any(o.box.x + o.box.w == 640 for o in ann.objects)  # xmax=640 reaches the last column


def test_real_bccd_zero_size_box_is_skipped(bccd_root):
    ann = parse_voc(bccd_root / "BCCD" / "Annotations" / "BloodImage_00338.xml", image_size=(640, 480))
    assert any("504,337,504,337" in n for n in ann.notes)
    assert all(o.box.w > 1 and o.box.h > 1 for o in ann.objects)
