"""manifest.csv: exact columns, round trip, clear errors for missing or malformed files."""
from __future__ import annotations

import csv
import io

import pytest

from microgan.data.manifest import COLUMNS, CropRecord, compact_json, read_manifest, write_manifest
from microgan.errors import MicroGANError

DEG = compact_json({"type": "gaussian-blur", "kernel_size": 15, "sigma": 2.6})


def _record(i=0, split="train", label="RBC"):
    return CropRecord(
        id=f"img_{i:03d}", split=split, source="img", x=1, y=2, w=30, h=40, label=label,
        degradation=DEG, hr_path=f"{split}/hr/img_{i:03d}.png", lr_path=f"{split}/lr/img_{i:03d}.png",
    )


def test_columns_are_the_documented_contract():
    assert COLUMNS == ("id", "split", "source", "x", "y", "w", "h", "label", "degradation", "hr_path", "lr_path")


def test_round_trip(tmp_path):
    records = [_record(0), _record(1, "val", label=""), _record(2, "test", label='odd, "quoted"')]
    path = write_manifest(tmp_path, records)
    assert path.read_text().splitlines()[0] == ",".join(COLUMNS)
    back = read_manifest(tmp_path)
    assert back == records
    assert back[0].degradation_spec == {"type": "gaussian-blur", "kernel_size": 15, "sigma": 2.6}
    assert back[0].hr(tmp_path) == tmp_path / "train" / "hr" / "img_000.png"
    assert [p.name for p in tmp_path.iterdir()] == ["manifest.csv"]


def test_refuses_to_overwrite(tmp_path):
    write_manifest(tmp_path, [_record()])
    with pytest.raises(MicroGANError, match="already exists"):
        write_manifest(tmp_path, [])
    write_manifest(tmp_path, [], overwrite=True)
    assert read_manifest(tmp_path) == []


def test_missing_manifest(tmp_path):
    with pytest.raises(MicroGANError, match=r"manifest\.csv: no manifest here"):
        read_manifest(tmp_path)


GOOD = ["img_0", "train", "img", "1", "2", "30", "40", "RBC", DEG, "train/hr/a.png", "train/lr/a.png"]


def _csv(*rows):
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerows(rows)
    return buffer.getvalue()


def _with(index, value):
    row = list(GOOD)
    row[index] = value
    return row


@pytest.mark.parametrize(
    "text, message",
    [
        ("", "malformed manifest header"),
        ("id,split,source\n", "malformed manifest header"),
        (_csv(COLUMNS, GOOD[:3]), "line 2: 3 fields"),
        (_csv(COLUMNS, _with(5, "abc")), "integers"),
        (_csv(COLUMNS, _with(5, "0")), "empty or negative"),
        (_csv(COLUMNS, _with(1, "training")), "split 'training'"),
        (_csv(COLUMNS, _with(9, "../a.png")), "hr_path must be a path inside"),
        (_csv(COLUMNS, _with(10, "/abs/a.png")), "lr_path must be a path inside"),
        (_csv(COLUMNS, GOOD, GOOD), "line 3: duplicate id"),
        (_csv(COLUMNS, _with(8, "not json")), "not valid JSON"),
        (_csv(COLUMNS, _with(8, "[1, 2]")), "JSON object with a 'type'"),
    ],
)
def test_malformed_manifests_name_file_and_reason(tmp_path, text, message):
    (tmp_path / "manifest.csv").write_text(text)
    with pytest.raises(MicroGANError, match=message) as info:
        read_manifest(tmp_path)
    assert "manifest.csv" in str(info.value)


def test_good_raw_line_parses(tmp_path):
    (tmp_path / "manifest.csv").write_text(_csv(COLUMNS, GOOD))
    assert read_manifest(tmp_path)[0].w == 30


@pytest.mark.parametrize(
    "data, message",
    [
        (_csv(COLUMNS, _with(0, "caf\u00e9")).encode("latin-1"), r"line 2: not UTF-8 text"),
        (_csv(COLUMNS, GOOD, _with(7, "R\x00BC")).encode(), r"line 3: .*NUL byte"),
        (_csv(COLUMNS).encode() + b"x" * 200_000 + b"\n", r"line 2: .*field larger than field limit"),
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00", r"not UTF-8 text|NUL"),
        (_csv(COLUMNS).encode() + b'"img_1,train,img,1,2,3,4,,{},a.png,b.png\n', r"line 2: "),
    ],
    ids=["latin-1", "nul-byte", "huge-field", "binary", "open-quote"],
)
def test_undecodable_manifests_name_file_line_and_reason(tmp_path, data, message):
    """A non-UTF-8 or binary manifest raised UnicodeDecodeError or _csv.Error (a traceback)."""
    (tmp_path / "manifest.csv").write_bytes(data)
    with pytest.raises(MicroGANError, match=message) as info:
        read_manifest(tmp_path)
    assert "manifest.csv" in str(info.value)
