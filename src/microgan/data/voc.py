"""Pascal VOC annotation parsing, tolerant of the quirks of real data sets such as BCCD.

VOC boxes are 1-based and inclusive (``xmin=1, xmax=640`` spans a whole 640-pixel row; BCCD uses
exactly that range), so a box becomes ``Box(x=xmin-1, y=ymin-1, w=xmax-xmin+1, h=ymax-ymin+1)``.
Quirks are repaired or skipped with a note instead of failing the whole file, because one bad
box should not cost the other twenty cells of an image:

* boxes reaching outside the image are clipped (a note says so);
* empty or inverted boxes (``xmax <= xmin``, e.g. BCCD's 1x1 "RBC" at 504,337) are skipped;
* fractional coordinates are rounded; class names are stripped of whitespace;
* a missing or zero ``<size>`` is replaced by the caller's real image size, and a size that
  disagrees with the image is noted and the image's size wins.

An unreadable or non-VOC file raises :class:`~microgan.errors.MicroGANError` naming the file.
"""
from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path
from typing import List, Optional, Tuple

from microgan.core.types import Box
from microgan.errors import MicroGANError


@dataclass
class VocObject:
    name: str
    box: Box
    truncated: bool = False
    difficult: bool = False


@dataclass
class VocAnnotation:
    path: Path
    filename: str
    width: int
    height: int
    objects: List[VocObject]
    notes: List[str] = field(default_factory=list)


def _number(node: Optional[ET.Element], tag: str) -> Optional[float]:
    child = node.find(tag) if node is not None else None
    if child is None or child.text is None:
        return None
    try:
        return float(child.text.strip())
    except ValueError:
        return None


def _flag(node: ET.Element, tag: str) -> bool:
    return (node.findtext(tag) or "0").strip() in ("1", "true", "True")


def parse_voc(path: Path, image_size: Optional[Tuple[int, int]] = None) -> VocAnnotation:
    """Parse one VOC XML file; ``image_size`` = (width, height) of the real image, if known."""
    path = Path(path)
    try:
        root = ET.parse(path).getroot()
    except FileNotFoundError:
        raise MicroGANError(f"{path}: no such annotation file") from None
    except (ET.ParseError, OSError) as exc:
        raise MicroGANError(f"{path}: not a readable VOC annotation ({exc})") from None
    if root.tag != "annotation":
        raise MicroGANError(f"{path}: not a VOC annotation (root element <{root.tag}>)")
    notes: List[str] = []
    declared = (_number(root.find("size"), "width"), _number(root.find("size"), "height"))
    if image_size is not None:
        width, height = image_size
        if declared != (float(width), float(height)) and all(declared):
            notes.append(f"declared size {declared[0]:.0f}x{declared[1]:.0f} != image {width}x{height}")
    elif declared[0] and declared[1]:
        width, height = int(declared[0]), int(declared[1])
    else:
        raise MicroGANError(f"{path}: no image size in the annotation and none given")

    objects: List[VocObject] = []
    for index, node in enumerate(root.findall("object")):
        name = (node.findtext("name") or "").strip()
        bnd = node.find("bndbox")
        coords = [_number(bnd, tag) for tag in ("xmin", "ymin", "xmax", "ymax")]
        where = f"object {index} ({name or 'no name'})"
        if not name or any(c is None for c in coords):
            notes.append(f"{where}: missing name or box coordinates, skipped")
            continue
        xmin, ymin, xmax, ymax = (int(round(c)) for c in coords)  # type: ignore[arg-type]
        if xmax <= xmin or ymax <= ymin:
            notes.append(f"{where}: empty or inverted box {xmin},{ymin},{xmax},{ymax}, skipped")
            continue
        raw = Box(xmin - 1, ymin - 1, xmax - xmin + 1, ymax - ymin + 1)
        box = raw.clip(width, height)
        if box is None:
            notes.append(f"{where}: box {xmin},{ymin},{xmax},{ymax} lies outside the image, skipped")
            continue
        if box != raw:
            notes.append(f"{where}: box {xmin},{ymin},{xmax},{ymax} clipped to the image")
        objects.append(VocObject(name, box, _flag(node, "truncated"), _flag(node, "difficult")))
    filename = (root.findtext("filename") or "").strip()
    return VocAnnotation(path, filename, width, height, objects, notes)
