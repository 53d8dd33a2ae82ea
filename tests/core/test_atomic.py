"""Atomic writes keep the old file on failure and give files the usual permissions."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

from microgan.core.atomic import atomic_write, atomic_write_bytes, atomic_write_json


def test_new_file_has_umask_permissions_not_mkstemp_0600(tmp_path: Path) -> None:
    old = os.umask(0o022)
    try:
        path = atomic_write_bytes(tmp_path / "sub" / "a.bin", b"data")
    finally:
        os.umask(old)
    assert path.read_bytes() == b"data"
    assert path.stat().st_mode & 0o777 == 0o644


def test_failure_keeps_the_old_file_and_leaves_no_temp(tmp_path: Path) -> None:
    path = atomic_write_bytes(tmp_path / "a.bin", b"old")

    def broken(tmp: str) -> None:
        Path(tmp).write_bytes(b"partial")
        raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        atomic_write(path, broken)
    assert path.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["a.bin"]


def test_json_is_strict_and_keeps_the_old_file_on_nan(tmp_path: Path) -> None:
    path = atomic_write_json(tmp_path / "sub" / "doc.json", {"psnr": 41.5, "nested": [1, None]})
    assert path.read_text() == '{\n  "psnr": 41.5,\n  "nested": [\n    1,\n    null\n  ]\n}\n'
    with pytest.raises(ValueError):
        atomic_write_json(path, {"psnr": float("nan")})
    assert '"psnr": 41.5' in path.read_text()
    assert [p.name for p in path.parent.iterdir()] == ["doc.json"]
