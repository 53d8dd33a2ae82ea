"""scripts/example_grid.py (the docs' zoomed comparison figure) runs on a prepared folder with a
model and a tuned baseline and writes a picture with one row per crop and one column per method."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np

from microgan.data.io import read_image

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "example_grid.py"


def test_grid_has_a_panel_per_crop_and_method(tmp_path: Path, tiny_prepared: Path, save_tiny_generator) -> None:
    model = save_tiny_generator(tmp_path / "tiny.safetensors")
    out = tmp_path / "grid.png"
    done = subprocess.run(
        [sys.executable, str(SCRIPT), "--data", str(tiny_prepared), "--split", "test", "--rows", "2",
         "--model", f"tiny={model}", "--baselines", "wiener", "--degradation", "paper+noise:0.01", "--window", "16", "--zoom", "2", "-o", str(out)],
        capture_output=True, text=True, timeout=300,
    )
    assert done.returncode == 0, done.stderr
    picture = read_image(out).array
    # 4 columns (input, tiny, wiener, truth) of 1.9 in and 2 rows of 2.1 in at 100 dpi
    assert picture.shape[:2] == (420, 760)
    assert float(np.std(picture)) > 0  # not a blank canvas
    again = subprocess.run([sys.executable, str(SCRIPT), "--data", str(tiny_prepared), "-o", str(out)],
                           capture_output=True, text=True, timeout=120)
    assert again.returncode != 0 and "--overwrite" in again.stderr


def test_bad_folder_and_unknown_ids_give_one_line(tmp_path: Path, tiny_prepared: Path) -> None:
    for args, expected in (
        (["--data", str(tmp_path / "missing")], "no manifest"),
        (["--data", str(tiny_prepared), "--ids", "no-such-crop"], "no crop with id no-such-crop"),
    ):
        done = subprocess.run([sys.executable, str(SCRIPT), *args, "-o", str(tmp_path / "g.png")],
                              capture_output=True, text=True, timeout=120)
        assert done.returncode != 0
        assert expected in done.stderr and "Traceback" not in done.stderr
    assert not (tmp_path / "g.png").exists()
