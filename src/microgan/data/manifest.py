"""``manifest.csv``: the contract between ``microgan prepare`` and train / evaluate / classify.

One row per crop, columns exactly ``id, split, source, x, y, w, h, label, degradation, hr_path,
lr_path`` (see docs/architecture.md): ``source`` is the id of the multi-cell image the crop came
from (the unit of the split), ``x, y, w, h`` the crop's box in that image, ``label`` its class or
empty, ``degradation`` the compact JSON spec that made the LR crop, and the two paths are POSIX
paths relative to the prepared folder. Reading validates everything a consumer relies on, so a
hand-edited or half-written manifest fails here with the line number instead of deep inside a
training run.
"""
from __future__ import annotations

import csv
import io
import json
import os
from dataclasses import astuple, dataclass, fields
from pathlib import Path, PurePosixPath
from typing import Any, Dict, Iterable, List, Union

from microgan.core.atomic import atomic_write_bytes
from microgan.core.types import SPLITS
from microgan.errors import MicroGANError

MANIFEST_NAME = "manifest.csv"
COLUMNS = ("id", "split", "source", "x", "y", "w", "h", "label", "degradation", "hr_path", "lr_path")

PathLike = Union[str, "os.PathLike[str]"]


@dataclass(frozen=True)
class CropRecord:
    """One manifest row. Paths are relative to the prepared folder."""

    id: str
    split: str
    source: str
    x: int
    y: int
    w: int
    h: int
    label: str
    degradation: str  # compact JSON of the degradation spec
    hr_path: str
    lr_path: str

    @property
    def degradation_spec(self) -> Dict[str, Any]:
        return json.loads(self.degradation)

    def hr(self, out_dir: PathLike) -> Path:
        return Path(out_dir) / self.hr_path

    def lr(self, out_dir: PathLike) -> Path:
        return Path(out_dir) / self.lr_path


assert tuple(f.name for f in fields(CropRecord)) == COLUMNS  # the dataclass is the column list


def compact_json(spec: Dict[str, Any]) -> str:
    """The manifest's spelling of a spec: sorted keys, no spaces (one cell, diff-friendly)."""
    return json.dumps(spec, sort_keys=True, separators=(",", ":"))


def manifest_path(out_dir: PathLike) -> Path:
    return Path(out_dir) / MANIFEST_NAME


def write_manifest(out_dir: PathLike, records: Iterable[CropRecord], overwrite: bool = False) -> Path:
    """Write ``OUT/manifest.csv`` atomically (temporary file + rename)."""
    path = manifest_path(out_dir)
    if path.exists() and not overwrite:
        raise MicroGANError(f"{path}: already exists (use --overwrite to replace it)")
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(COLUMNS)
    for record in records:
        writer.writerow(astuple(record))
    atomic_write_bytes(path, buffer.getvalue().encode())
    return path


def _relative_path(value: str, where: str, column: str) -> str:
    pure = PurePosixPath(value)
    if not value or pure.is_absolute() or ".." in pure.parts:
        raise MicroGANError(f"{where}: {column} must be a path inside the prepared folder, got {value!r}")
    return value


def _row(values: Dict[str, str], where: str) -> CropRecord:
    try:
        x, y, w, h = (int(values[c]) for c in ("x", "y", "w", "h"))
    except ValueError:
        raise MicroGANError(f"{where}: x, y, w, h must be integers") from None
    if w < 1 or h < 1 or x < 0 or y < 0:
        raise MicroGANError(f"{where}: box {x},{y},{w},{h} is empty or negative")
    if not values["id"] or not values["source"]:
        raise MicroGANError(f"{where}: empty id or source")
    if values["split"] not in SPLITS:
        raise MicroGANError(f"{where}: split {values['split']!r} is not one of {', '.join(SPLITS)}")
    try:
        spec = json.loads(values["degradation"])
    except json.JSONDecodeError:
        raise MicroGANError(f"{where}: degradation is not valid JSON") from None
    if not isinstance(spec, dict) or "type" not in spec:
        raise MicroGANError(f"{where}: degradation must be a JSON object with a 'type'")
    return CropRecord(
        id=values["id"],
        split=values["split"],
        source=values["source"],
        x=x,
        y=y,
        w=w,
        h=h,
        label=values["label"],
        degradation=values["degradation"],
        hr_path=_relative_path(values["hr_path"], where, "hr_path"),
        lr_path=_relative_path(values["lr_path"], where, "lr_path"),
    )


def _text(path: Path) -> str:
    """The manifest as text; bytes that are not UTF-8, or NUL bytes (a binary file), fail naming the line."""
    data = path.read_bytes()
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise MicroGANError(f"{path}, line {line}: not UTF-8 text (byte {data[exc.start]:#04x}); is this a manifest?") from None
    if "\x00" in text:
        line = text[: text.index("\x00")].count("\n") + 1
        raise MicroGANError(f"{path}, line {line}: holds a NUL byte (binary data); is this a manifest?")
    return text


def read_manifest(out_dir: PathLike) -> List[CropRecord]:
    """Read and validate ``OUT/manifest.csv`` (encoding, columns, types, splits, unique ids,
    relative paths); every problem is a :class:`MicroGANError` naming the file and line."""
    path = manifest_path(out_dir)
    if not path.is_file():
        raise MicroGANError(f"{path}: no manifest here (is {out_dir} a folder made by `microgan prepare`?)")
    reader = csv.reader(io.StringIO(_text(path), newline=""))
    try:
        header = next(reader, None)
        if header is None or tuple(h.strip() for h in header) != COLUMNS:
            raise MicroGANError(
                f"{path}: malformed manifest header {header!r}; expected columns {', '.join(COLUMNS)}"
            )
        records: List[CropRecord] = []
        seen = set()
        for row in reader:
            where = f"{path}, line {reader.line_num}"
            if not row:
                continue
            if len(row) != len(COLUMNS):
                raise MicroGANError(f"{where}: {len(row)} fields, expected {len(COLUMNS)}")
            record = _row(dict(zip(COLUMNS, row)), where)
            if record.id in seen:
                raise MicroGANError(f"{where}: duplicate id {record.id!r}")
            seen.add(record.id)
            records.append(record)
    except csv.Error as exc:
        raise MicroGANError(f"{path}, line {reader.line_num}: malformed CSV ({exc})") from None
    return records
