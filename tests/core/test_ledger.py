"""--overwrite removes only what the command wrote: the output ledger."""
from __future__ import annotations

import json

import pytest

from microgan.core.ledger import LEDGER_NAME, Ledger
from microgan.errors import MicroGANError


def _run(folder, overwrite=False):
    ledger = Ledger(folder, "demo", ("prepared", "report.html"))
    ledger.claim(overwrite)
    (folder / "prepared" / "train").mkdir(parents=True, exist_ok=True)
    (folder / "prepared" / "train" / "a.png").write_text("ours")
    ledger.record()
    (folder / "report.html").write_text("ours")
    ledger.record()
    return ledger


def test_a_second_run_is_refused_then_replaces_only_its_own_files(tmp_path) -> None:
    _run(tmp_path)
    assert sorted(json.loads((tmp_path / LEDGER_NAME).read_text())["files"]) == ["prepared/train/a.png", "report.html"]
    (tmp_path / "prepared" / "train" / "labels.csv").write_text("the user's")
    (tmp_path / "notes.txt").write_text("the user's")
    with pytest.raises(MicroGANError, match="previous demo.*--overwrite"):
        _run(tmp_path)
    _run(tmp_path, overwrite=True)
    assert (tmp_path / "prepared" / "train" / "labels.csv").read_text() == "the user's"
    assert (tmp_path / "notes.txt").read_text() == "the user's"
    # the user's file is not listed as ours after the rerun either
    assert "prepared/train/labels.csv" not in json.loads((tmp_path / LEDGER_NAME).read_text())["files"]


def test_files_nobody_listed_are_named_and_never_deleted(tmp_path) -> None:
    (tmp_path / "prepared").mkdir()
    (tmp_path / "prepared" / "mine.csv").write_text("the user's")
    with pytest.raises(MicroGANError, match="files at the names it writes.*mine.csv"):
        Ledger(tmp_path, "demo", ("prepared",)).claim(False)
    Ledger(tmp_path, "demo", ("prepared",)).claim(True)
    assert (tmp_path / "prepared" / "mine.csv").read_text() == "the user's"


def test_a_ledger_cannot_point_outside_the_folder(tmp_path) -> None:
    outside = tmp_path / "outside.txt"
    outside.write_text("keep")
    folder = tmp_path / "out"
    (folder / "prepared").mkdir(parents=True)
    (folder / "prepared" / "x").write_text("ours")
    (folder / LEDGER_NAME).write_text(json.dumps({"command": "demo", "files": ["../outside.txt", "prepared/x", "other/y"]}))
    Ledger(folder, "demo", ("prepared",)).claim(True)
    assert outside.read_text() == "keep" and not (folder / "prepared").exists()
    (folder / LEDGER_NAME).write_text("not json")
    with pytest.raises(MicroGANError, match="not a readable"):
        Ledger(folder, "demo", ("prepared",)).claim(True)


def test_odd_ledger_entries_are_skipped_not_a_traceback(tmp_path) -> None:
    folder = tmp_path / "out"
    (folder / "prepared").mkdir(parents=True)
    (folder / "prepared" / "x").write_text("ours")
    (folder / LEDGER_NAME).write_text(json.dumps({"command": "demo", "files": ["", ".", str(folder / "prepared" / "x"), 5]}))
    Ledger(folder, "demo", ("prepared",)).claim(True)
    assert not (folder / "prepared").exists()  # the absolute entry inside the folder counts; the others are skipped


def test_foreign_files_are_those_no_earlier_run_listed(tmp_path) -> None:
    _run(tmp_path)
    (tmp_path / "prepared" / "theirs.txt").write_text("someone else's")
    ledger = Ledger(tmp_path, "demo", ("prepared", "report.html"))
    ledger.claim(True)
    assert ledger.foreign("prepared") == [tmp_path / "prepared" / "theirs.txt"] and ledger.foreign("report.html") == []
