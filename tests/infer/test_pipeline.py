"""File pipeline: batches by count and bytes; the next batch is read while the current one is
restored; every file reported once; a bad file does not stop the rest."""
from __future__ import annotations

import threading
from pathlib import Path
from typing import List, Optional

import numpy as np

from microgan.data.normalize import AutoNormalizer
from microgan.data.io import read_image, write_image
from microgan.infer import pipeline
from microgan.infer.pipeline import Job, make_batches, make_job, restore_files


def test_batches_are_cut_by_count_and_by_decoded_bytes() -> None:
    jobs = [Job(Path(f"{k}"), Path(f"o{k}"), nbytes) for k, nbytes in enumerate([10, 10, 10, 100, 10, 10])]
    assert [len(b) for b in make_batches(jobs, 2, 1000)] == [2, 2, 2]
    assert [len(b) for b in make_batches(jobs, 8, 50)] == [3, 1, 2]  # the large file alone


def test_jobs_are_sized_from_headers(tmp_path: Path) -> None:
    write_image(tmp_path / "a.png", np.zeros((30, 40, 3), np.uint8))
    write_image(tmp_path / "b.tif", np.zeros((5, 7), np.uint16))
    (tmp_path / "bad.png").write_bytes(b"not an image")
    assert make_job(tmp_path / "a.png", tmp_path / "o.png").nbytes == 30 * 40 * 3
    assert make_job(tmp_path / "b.tif", tmp_path / "o.tif").nbytes == 5 * 7 * 2
    assert make_job(tmp_path / "bad.png", tmp_path / "o.png").nbytes == 0  # reading it will say why


class _Doubler:
    """A stand-in enhancer: doubles samples; while restoring the first batch it waits (at most 10 s)
    for the second batch's file to start being read, which only happens if reading overlaps."""

    def __init__(self, second_read: threading.Event) -> None:
        self.second_read = second_read
        self.calls = 0
        self.overlapped: Optional[bool] = None

    normalizer = AutoNormalizer()

    def check(self, array: np.ndarray) -> None:
        pass

    def enhance_batch(self, arrays: List[np.ndarray], reserve: int = 0) -> List[np.ndarray]:
        self.calls += 1
        if self.calls == 1:
            self.overlapped = self.second_read.wait(timeout=10)
        return [np.minimum(a.astype(np.int64) * 2, 255).astype(np.uint8) for a in arrays]


def test_reading_overlaps_restoring_and_every_file_is_reported_once(tmp_path: Path, monkeypatch) -> None:
    files = []
    for k in range(5):
        files.append(tmp_path / f"f{k}.png")
        write_image(files[-1], np.full((8, 8), 10 * k, np.uint8))
    (tmp_path / "f2.png").write_bytes(b"\x89PNG\r\n\x1a\n broken")  # one bad file in the middle
    second_read = threading.Event()

    def read(path, *args, **kwargs):
        if path == files[2]:
            second_read.set()
        return read_image(path, *args, **kwargs)

    monkeypatch.setattr(pipeline, "read_image", read)
    enhancer = _Doubler(second_read)
    jobs = [Job(f, tmp_path / "out" / f.name, 64) for f in files]
    reports = []
    restore_files(enhancer, jobs, lambda src, reason: reports.append((src.name, reason)), batch=2)
    assert enhancer.overlapped is True
    assert sorted(name for name, _ in reports) == [f.name for f in files]
    failed = [name for name, reason in reports if reason is not None]
    assert failed == ["f2.png"]
    for k in (0, 1, 3, 4):
        assert (read_image(tmp_path / "out" / f"f{k}.png").array == min(20 * k, 255)).all()
    assert not (tmp_path / "out" / "f2.png").exists()
