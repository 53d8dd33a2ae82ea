"""SIGTERM (a scheduler's stop, ``kill``) unwinds like Ctrl-C: a stopped ``prepare`` removes the
crops it wrote, leaves no manifest-less folder and exits 143 with one line."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from microgan.data.samples import sample_fields


def test_sigterm_during_prepare_removes_its_crops(tmp_path: Path) -> None:
    data = tmp_path / "raw"
    data.mkdir()
    for copy in range(6):  # 96 fields: several seconds of work on 2 cores
        for field in sample_fields():
            (data / f"{copy}-{field.path.name}").write_bytes(field.path.read_bytes())
    out = tmp_path / "prepared"
    (out / "train").mkdir(parents=True)
    (out / "train" / "labels.csv").write_text("the user's")
    command = [sys.executable, "-m", "microgan", "prepare", "--source", "folder", "--data", str(data),
               "--out", str(out), "--overwrite", "--quiet"]
    process = subprocess.Popen(command, stderr=subprocess.PIPE, text=True, env={**os.environ, "PYTHONUNBUFFERED": "1"})
    deadline = time.monotonic() + 120
    while not any(out.rglob("*.png")) and time.monotonic() < deadline and process.poll() is None:
        time.sleep(0.05)
    assert process.poll() is None, "prepare finished before it could be stopped"
    process.send_signal(signal.SIGTERM)
    _, err = process.communicate(timeout=60)
    assert process.returncode == 143, err
    assert err.strip().splitlines() == ["microgan prepare: terminated (SIGTERM)"]
    assert [p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file()] == ["train/labels.csv"]
