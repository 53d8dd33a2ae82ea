"""The Chula RBC-12 source: blood smears from another lab, stain and microscope than BCCD, with
red cells labelled by their centre in 13 morphology classes.

Layout (upstream github.com/Chula-PIC-Lab/Chula-RBC-12-Dataset, MIT): ``Dataset/<n>.jpg``
(640x480, Nikon DS-Fi2-L3 at 1000x) and, for most images, ``Label/<n>.txt`` with one line per
red cell, ``x y class`` (pixels, class 0-12, :data:`CLASSES`). Images without a label file give
unlabelled crops by segmentation, for restoration training only: they are put in the train split.

Crop routes:

* ``points`` (default): one crop per labelled cell (:mod:`microgan.data.points`): the
  segmented cell's own box where segmentation isolates it, else a square centred on the point
  sized from :data:`CELL_DIAMETER`.
* ``segment``: the paper's segmentation on every image, labels ignored.

Segmentation settings differ from BCCD's: the Chula background is textured (JPEG blocks and
plasma), so BCCD's offset ``c=3`` over an 11x11 window fires on it everywhere and merges the cells;
``c=10`` over 31x31 isolates 70 % of the labelled cells (docs/paper-notes.md). The split is by
image, 60/20/20 and class-stratified (:func:`microgan.data.split.stratified_splits`): the data set
has no official split and five of its classes have fewer than 700 cells.
"""
from __future__ import annotations

from pathlib import Path
from typing import List, Optional, Tuple

from microgan.data.download import download_archive
from microgan.data.io import probe
from microgan.data.segment import SegmentationParams
from microgan.data.sources import PathLike, Source, SourceImage, check_route, locate
from microgan.errors import MicroGANError
from microgan.registry import SOURCES

#: Class names, index = the class number in the label files.
CLASSES = (
    "normal", "macrocyte", "microcyte", "spherocyte", "target_cell", "stomatocyte", "ovalocyte",
    "teardrop", "burr_cell", "schistocyte", "uncategorised", "hypochromia", "elliptocyte",
)

#: Median longer side (px) of the segmented components that isolate exactly one labelled cell and
#: do not touch the border: 14,612 of the 22,106 labelled cells, all 623 label files (5th-95th
#: percentile 34-68 px). Re-measured by tests/data/test_chula.py on real files.
CELL_DIAMETER = 45.0

ROUTES = ("points", "segment")
SEGMENTATION = SegmentationParams(block_size=31, c=10.0, min_area=200)
UPSTREAM = "Chula-RBC-12-Dataset"
UPSTREAM_COMMIT = "fa130f48135d79bbd69f8e540b533511017d6896"
#: The archive of the commit the project was measured on (MIT). Like BCCD's, its SHA-256 is not
#: baked in (GitHub may regenerate archives): pin it once yourself (``sha256sum`` of the zip).
CHULA_URL = f"https://github.com/Chula-PIC-Lab/{UPSTREAM}/archive/{UPSTREAM_COMMIT}.zip"
CHULA_CACHE = Path("~/.cache/microgan/chula-rbc12")
_KEEP = ("Dataset", "Label", "LICENSE", "README.md")


def _layout(folder: Path) -> Optional[Path]:
    """The folder holding ``Dataset/`` given it or the folder a download unpacked it into."""
    for candidate in (folder, folder / UPSTREAM):
        if (candidate / "Dataset").is_dir():
            return candidate
    return None


def find_chula(data: Optional[PathLike] = None) -> Path:
    """Locate Chula RBC-12: ``data`` if given, else ``$MICROGAN_CHULA``,
    ``../shared/data/chula-rbc12``, ``~/.cache/microgan/chula-rbc12``."""
    found, tried = locate(data, "MICROGAN_CHULA", "chula-rbc12", CHULA_CACHE, _layout)
    if found is not None:
        return found
    raise MicroGANError(
        f"Chula RBC-12 not found (tried {tried}); pass --data PATH to a folder holding Dataset/ and Label/, "
        f"or download it with --download-sha256"
    )


def download_chula(dest: PathLike, sha256: str, url: str = CHULA_URL) -> Path:
    """Download the pinned upstream archive, verify ``sha256``, keep Dataset/, Label/ and the licence
    under ``dest``; returns the folder holding ``Dataset/``. Nothing is written unless the check passes."""
    dest = Path(dest).expanduser()
    existing = _layout(dest)
    if existing is not None:
        return existing

    def select(parts: Tuple[str, ...]) -> Optional[Tuple[str, ...]]:
        return parts[1:] if len(parts) > 1 and parts[1] in _KEEP else None

    root = download_archive(url, sha256, dest, select, UPSTREAM)
    if not (root / "Dataset").is_dir():
        raise MicroGANError(f"{url}: the archive holds no Dataset/ folder")
    return root


def parse_labels(path: Path, width: int, height: int) -> Tuple[List[Tuple[int, int]], List[str], List[str]]:
    """Points, class names and notes from one label file; a line that is not three integers with a
    known class and a point inside the ``width`` x ``height`` image is skipped with a note."""
    points: List[Tuple[int, int]] = []
    labels: List[str] = []
    notes: List[str] = []
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise MicroGANError(f"{path}: unreadable label file ({exc.__class__.__name__})") from None
    for number, line in enumerate(text.splitlines(), start=1):
        fields = line.split()
        if not fields:
            continue
        try:
            x, y, cls = (int(f) for f in fields)
        except ValueError:
            notes.append(f"{path.name}, line {number}: expected 'x y class' as three integers, got {line.strip()!r}")
            continue
        if not 0 <= cls < len(CLASSES):
            notes.append(f"{path.name}, line {number}: class {cls} is not one of 0-{len(CLASSES) - 1}")
        elif not (0 <= x < width and 0 <= y < height):
            notes.append(f"{path.name}, line {number}: point ({x}, {y}) lies outside the {width}x{height} image")
        else:
            points.append((x, y))
            labels.append(CLASSES[cls])
    return points, labels, notes


def _number(path: Path) -> Tuple[int, str]:
    return (int(path.stem), "") if path.stem.isdigit() else (1 << 30, path.stem)


@SOURCES.register("chula-rbc12")
class ChulaSource(Source):
    """Chula RBC-12 red cells, cropped around their labelled centres (default) or by segmentation."""

    name = "chula-rbc12"
    default_segmentation = SEGMENTATION
    default_fractions = (0.6, 0.2, 0.2)
    stratify = True
    cell_diameter = CELL_DIAMETER
    cache = CHULA_CACHE

    @staticmethod
    def download(dest: PathLike, sha256: str) -> Path:
        return download_chula(dest, sha256)

    def __init__(self, data: Optional[PathLike] = None, crops: str = "points") -> None:
        self.root = find_chula(data)
        self.route = check_route(crops, ROUTES)

    def images(self) -> List[SourceImage]:
        out: List[SourceImage] = []
        files = [p for p in (self.root / "Dataset").iterdir() if p.suffix.lower() in (".jpg", ".jpeg", ".png")]
        for path in sorted(files, key=_number):
            image = SourceImage(id=f"chula-{path.stem.zfill(3)}", path=path)
            label_file = self.root / "Label" / f"{path.stem}.txt"
            if not label_file.is_file():
                image.split_hint = "train"  # unlabelled: restoration training only
                image.notes.append("no label file: unlabelled crops by segmentation, train split")
            elif self.route == "points":
                self._add_points(image, label_file)
            out.append(image)
        return out

    def _add_points(self, image: SourceImage, label_file: Path) -> None:
        """Fill points/labels from the label file; problems become notes, points stay []."""
        image.points = []
        try:
            info = probe(image.path)
            image.points, image.labels, notes = parse_labels(label_file, info.width, info.height)
        except MicroGANError as exc:
            image.notes.append(f"labels not used: {exc}")
            return
        image.notes.extend(notes)
        if not image.points:
            image.notes.append(f"{label_file.name}: no labelled cells: no crops")
