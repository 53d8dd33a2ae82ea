"""The ``prepare`` pipeline: raw multi-cell images -> paired single-cell HR/LR crops (paper 3.1).

For every source image: read it (bad files are skipped and reported, the batch goes on), take its
boxes (VOC annotations, or the paper's segmentation), grow them by a margin, drop crops thinner
than ``min_size``, cut the HR crop at native size (never resized), degrade it into the LR crop
(default: the paper's 15x15 Gaussian blur, sigma 2.6, applied to the crop as the paper does),
and write both as PNG under ``OUT/<split>/{hr,lr}/<id>.png`` with ``OUT/manifest.csv``.

Choices that make the output trustworthy:

* The split is by source image (:mod:`microgan.data.split`), so no image leaks between splits.
* Bit depth is kept: 8-bit sources give 8-bit PNGs, 16-bit give 16-bit. Float sources (float
  TIFF) are scaled by the image's own min..max into 16-bit PNG, with a note, because PNG has no
  float samples and the crops of one image must share one scale.
* Random degradations use a generator seeded from (seed, crop id), so a crop's LR image does not
  depend on which other images were processed before it (``--limit`` gives the same crops).
* An existing prepared folder is never touched without ``overwrite``; with it, only the files an
  earlier run wrote (its manifest lists them, then ``manifest.csv`` and ``prepare.json``) are removed.
  An output folder overlapping the input folder is refused: inputs are never modified.
* A run that stops early (an error, Ctrl-C, SIGTERM) removes the crops it wrote: OUT never holds crops
  without their manifest. Files that cannot be read are skipped and listed (``prepare`` then exits 1).
"""
from __future__ import annotations

import time
import zlib
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple

import numpy as np
from tqdm import tqdm

from microgan.core.atomic import atomic_write_json
from microgan.core.files import remove_files
from microgan.core.types import SPLITS, Box
from microgan.data.degrade import Degradation, paper_degradation
from microgan.data.io import Image, from_float, read_image, write_image
from microgan.data.manifest import MANIFEST_NAME, CropRecord, compact_json, read_manifest, write_manifest
from microgan.data import chula  # noqa: F401  (registers the chula-rbc12 source)
from microgan.data.points import PointCropParams, point_crops
from microgan.data.segment import SegmentationParams, segment
from microgan.data.sources import Source, SourceImage
from microgan.data.split import assign_splits, stratified_splits
from microgan.errors import MicroGANError
from microgan.registry import SOURCES

SETTINGS_NAME = "prepare.json"
DEFAULT_MIN_SIZE = 12  # px, shortest crop side kept (the paper's smallest crop is 30x14)


@dataclass
class PrepareConfig:
    """Everything that determines a prepared data set (written to ``OUT/prepare.json``)."""

    out: Path
    source: str = "bccd"
    data: Optional[Path] = None
    crops: Optional[str] = None  # None: the source's default route (bccd: voc, folder: segment, chula-rbc12: points)
    seed: int = 0
    blur_kernel: int = 15
    blur_sigma: Optional[float] = 2.6  # None: OpenCV's sigma for the kernel size
    noise: float = 0.0
    min_size: int = DEFAULT_MIN_SIZE
    fractions: Optional[Tuple[float, float, float]] = None  # None: the source's (80/10/10; Chula 60/20/20)
    segmentation: Optional[SegmentationParams] = None  # None: the source's (margin included)
    limit: Optional[int] = None
    overwrite: bool = False


@dataclass
class Skipped:
    path: str
    reason: str


@dataclass
class PrepareSummary:
    """What a run produced; :meth:`lines` is the report printed at the end."""

    out: Path
    records: List[CropRecord]
    images_per_split: Dict[str, int]
    images_read: int
    images_total: int
    skipped: List[Skipped]
    without_crops: int
    dropped_small: int
    boxes_by: Dict[str, int]  # crops per way their box was found (annotated, segmented, centred)
    notes: List[str]
    seconds: float

    def lines(self, max_listed: int = 20) -> List[str]:
        counts = {s: sum(r.split == s for r in self.records) for s in SPLITS}
        out = [
            f"prepared {len(self.records)} crops from {self.images_read} of {self.images_total} images "
            f"in {self.seconds:.1f} s -> {self.out}",
        ]
        for split in SPLITS:
            out.append(f"  {split:5s}: {counts[split]} crops from {self.images_per_split.get(split, 0)} images")
        if self.records:
            ws = np.array([r.w for r in self.records])
            hs = np.array([r.h for r in self.records])
            out.append(
                f"  crop size: width {ws.min()}..{ws.max()} (median {int(np.median(ws))}), "
                f"height {hs.min()}..{hs.max()} (median {int(np.median(hs))}) px"
            )
            out.append("  boxes: " + ", ".join(f"{n} {how}" for how, n in sorted(self.boxes_by.items())))
            labels = sorted({r.label for r in self.records if r.label})
            if labels:
                per = {lab: sum(r.label == lab for r in self.records) for lab in labels}
                out.append("  labels: " + ", ".join(f"{k} {v}" for k, v in per.items()))
        if self.without_crops:
            out.append(f"  {self.without_crops} images read but gave no crops")
        if self.dropped_small:
            out.append(f"  {self.dropped_small} boxes dropped as smaller than the minimum crop size")
        out.extend(f"  {line}" for line in self.skipped_lines(max_listed))
        if self.notes:
            out.append(f"  {len(self.notes)} notes (details in {SETTINGS_NAME}), e.g.:")
            out.extend(f"    {note}" for note in self.notes[:3])
        return out

    def skipped_lines(self, max_listed: int = 20) -> List[str]:
        """The files skipped and why (also what ``prepare --quiet`` shows, on stderr)."""
        out = [f"{len(self.skipped)} files skipped" + (":" if self.skipped else "")]
        out.extend(f"  {item.path}: {item.reason}" for item in self.skipped[:max_listed])
        if len(self.skipped) > max_listed:
            out.append(f"  ... and {len(self.skipped) - max_listed} more (see {SETTINGS_NAME})")
        return out


def _overlaps(a: Path, b: Path) -> bool:
    a, b = a.resolve(), b.resolve()
    return a == b or a in b.parents or b in a.parents


def _claim_output(out: Path, inputs: Path, overwrite: bool) -> None:
    """Refuse an occupied or overlapping OUT; with ``overwrite`` remove only what an earlier
    ``prepare`` wrote there: its manifest lists every crop it wrote, so those crops, the manifest,
    ``prepare.json`` and the folders this leaves empty, never a file it does not list (a user's
    ``train/labels.csv`` survives)."""
    if out.exists() and not out.is_dir():
        raise MicroGANError(f"{out}: exists and is not a folder (--out names the output folder)")
    if _overlaps(out, inputs):
        raise MicroGANError(f"{out}: the output folder overlaps the input folder {inputs}; choose another --out")
    ours = [out / MANIFEST_NAME, out / SETTINGS_NAME] + [out / s for s in SPLITS]
    present = [p for p in ours if p.exists()]
    if not present:
        return
    has_manifest = (out / MANIFEST_NAME).is_file()
    if not overwrite:
        what = "a prepared data set (manifest.csv)" if has_manifest else (
            "files at the names prepare writes (" + ", ".join(p.name for p in present) + ")")
        raise MicroGANError(f"{out}: already holds {what}; pass --overwrite to replace it")
    written = [out / MANIFEST_NAME, out / SETTINGS_NAME]
    if has_manifest:
        root = out.resolve()
        for record in read_manifest(out):  # validated: relative paths inside OUT
            written += [p for p in (out / record.hr_path, out / record.lr_path) if p.resolve().is_relative_to(root)]
    remove_files(out, written)


def _crop_rng(seed: int, crop_id: str) -> np.random.Generator:
    return np.random.default_rng([seed, zlib.crc32(crop_id.encode())])


def _storable(image: Image, notes: List[str]) -> np.ndarray:
    """The array as PNG can hold it: uint8/uint16 as is, float scaled min..max to uint16."""
    if image.array.dtype != np.float32:
        return image.array
    low, high = float(image.array.min()), float(image.array.max())
    notes.append(f"{image.path}: float32 image scaled from {low:g}..{high:g} to 16-bit")
    return from_float((image.array - low) / max(high - low, 1e-12), np.uint16)


def _boxes(
    entry: SourceImage, array: np.ndarray, segmentation: SegmentationParams, source: Source
) -> List[Tuple[Box, str, str]]:
    """Every crop box of one image (margin applied, clipped) with its label and how the box was
    found (``annotated``, ``segmented`` or ``centred``), by the entry's route."""
    height, width = array.shape[:2]
    if entry.points is not None:
        if source.cell_diameter is None:
            raise MicroGANError(f"source '{source.name}' gives points but no cell diameter to size their crops")
        params = PointCropParams(diameter=source.cell_diameter)
        found = [(c.box, c.how) for c in point_crops(array, entry.points, segmentation, params)]
    elif entry.boxes is not None:
        found = [(b.expand(segmentation.margin, width, height), "annotated") for b in entry.boxes]
    else:
        found = [(b, "segmented") for b in segment(array, segmentation)]  # margin already applied
    return [(box, entry.label_for(i), how) for i, (box, how) in enumerate(found)]


def build_source(config: PrepareConfig) -> Source:
    spec: Dict[str, Any] = {"type": config.source, "data": config.data}
    if config.crops is not None:
        spec["crops"] = config.crops
    if config.source == "folder" and config.data is None:
        raise MicroGANError("the folder source needs --data PATH")
    return SOURCES.build(spec)


def prepare(config: PrepareConfig, progress: bool = True) -> PrepareSummary:
    """Run the pipeline; raises :class:`MicroGANError` if nothing could be prepared."""
    start = time.perf_counter()
    if config.min_size < 1:
        raise MicroGANError(f"--min-size must be >= 1, got {config.min_size}")
    source = build_source(config)
    out = Path(config.out)
    entries = source.images()
    if config.limit is not None:
        entries = entries[: max(config.limit, 0)]
    if not entries:
        raise MicroGANError(f"{source.root}: no images found for source '{source.name}'")
    fractions = config.fractions or source.default_fractions
    segmentation = config.segmentation or source.default_segmentation
    splits = (stratified_splits if source.stratify else assign_splits)(entries, fractions, config.seed)
    degradation: Degradation = paper_degradation(config.blur_kernel, config.blur_sigma, config.noise)
    degradation_json = compact_json(degradation.spec())
    # only now, with everything checked: an earlier data set is not removed for a run that cannot start
    _claim_output(out, source.root, config.overwrite)

    records: List[CropRecord] = []
    skipped: List[Skipped] = []
    notes: List[str] = []
    images_per_split: Dict[str, int] = {}
    dropped_small = without_crops = 0
    boxes_by: Dict[str, int] = {}
    min_side = max(2, config.min_size)
    created = not out.exists()
    written: List[Path] = []  # removed again if the run does not finish
    try:
        for entry in tqdm(entries, desc="prepare", unit="img", disable=not progress):
            notes.extend(f"{entry.path}: {note}" for note in entry.notes)
            try:
                image = read_image(entry.path, min_size=min_side)
                array = _storable(image, notes)
                boxes = _boxes(entry, array, segmentation, source)
            except MicroGANError as exc:
                skipped.append(Skipped(str(entry.path), str(exc).split(": ", 1)[-1]))
                continue
            notes.extend(f"{entry.path}: {note}" for note in image.notes + image.dropped)
            split = splits[entry.id]
            kept = 0
            for box, label, how in boxes:
                if box.w < config.min_size or box.h < config.min_size:
                    dropped_small += 1
                    continue
                boxes_by[how] = boxes_by.get(how, 0) + 1
                crop_id = f"{entry.id}_{kept:03d}"
                hr = np.ascontiguousarray(array[box.y : box.y + box.h, box.x : box.x + box.w])
                lr = degradation(hr, _crop_rng(config.seed, crop_id))
                hr_rel, lr_rel = f"{split}/hr/{crop_id}.png", f"{split}/lr/{crop_id}.png"
                written += [out / hr_rel, out / lr_rel]
                write_image(out / hr_rel, hr)
                write_image(out / lr_rel, lr)
                records.append(
                    CropRecord(crop_id, split, entry.id, box.x, box.y, box.w, box.h, label, degradation_json, hr_rel, lr_rel)
                )
                kept += 1
            without_crops += kept == 0
            images_per_split[split] = images_per_split.get(split, 0) + 1

        summary = PrepareSummary(
            out=out,
            records=records,
            images_per_split=images_per_split,
            images_read=sum(images_per_split.values()),
            images_total=len(entries),
            skipped=skipped,
            without_crops=without_crops,
            dropped_small=dropped_small,
            boxes_by=boxes_by,
            notes=notes,
            seconds=time.perf_counter() - start,
        )
        if not records:
            reasons = "; ".join(f"{Path(s.path).name}: {s.reason}" for s in skipped[:5]) or "no boxes found"
            raise MicroGANError(f"nothing could be prepared from {len(entries)} images ({reasons})")
        write_manifest(out, records)
        _write_settings(out, config, source, segmentation, fractions, degradation, summary)
    except BaseException as exc:
        remove_files(out, [*written, out / MANIFEST_NAME, out / SETTINGS_NAME])
        if created and out.is_dir() and not any(out.iterdir()):
            out.rmdir()
        if isinstance(exc, OSError):  # disk full, permissions: the folder, not a bug
            raise MicroGANError(f"{out}: cannot write the prepared data ({exc.strerror or exc})") from None
        raise
    return summary


def _write_settings(
    out: Path,
    config: PrepareConfig,
    source: Source,
    segmentation: SegmentationParams,
    fractions: Sequence[float],
    degradation: Degradation,
    summary: PrepareSummary,
) -> None:
    """``OUT/prepare.json``: how the folder was made (reproducibility) and what was skipped."""
    settings = {
        "source": source.spec(),
        "seed": config.seed,
        "fractions": list(fractions),
        "stratified": source.stratify,
        "min_size": config.min_size,
        "margin": segmentation.margin,
        "limit": config.limit,
        "segmentation": segmentation.spec() if source.route != "voc" else None,
        "degradation": degradation.spec(),
        "crops": len(summary.records),
        "images": summary.images_total,
        "skipped": [asdict(s) for s in summary.skipped],
        "without_crops": summary.without_crops,
        "dropped_small": summary.dropped_small,
        "boxes_by": summary.boxes_by,
        "notes": summary.notes,
    }
    atomic_write_json(out / SETTINGS_NAME, settings)


def fractions_from_text(text: str) -> Sequence[float]:
    """``"0.8,0.1,0.1"`` -> (0.8, 0.1, 0.1) for the CLI."""
    try:
        return tuple(float(part) for part in text.split(","))
    except ValueError:
        raise MicroGANError(f"--split expects three comma-separated fractions, got {text!r}") from None
