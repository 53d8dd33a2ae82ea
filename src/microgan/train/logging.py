"""Run logs: ``metrics.csv``, TensorBoard scalars and sample images, and the progress bar.

``metrics.csv`` is in long form (``step, epoch, wall_s, tag, value``; ``wall_s`` counts from the
start of the invocation that logged the row) because train losses, loss statistics and validation
metrics arrive at different steps and their set depends on the config; one row per value keeps
the file valid whatever is logged and makes appending after a resume trivial. Rows after the resumed step (written between the last checkpoint and a crash) are dropped
on resume, and TensorBoard is told to purge the same steps, so both logs match the training that
actually survived.

Only rank 0 logs; other ranks get a logger whose methods do nothing.
"""
from __future__ import annotations

import csv
import time
from pathlib import Path
from typing import Dict, Optional

import torch

from microgan.core.atomic import atomic_write

CSV_NAME = "metrics.csv"
TB_DIR = "tensorboard"
CSV_FIELDS = ["step", "epoch", "wall_s", "tag", "value"]


def _complete(row: Dict[str, Optional[str]]) -> bool:
    """A row with every field and an integer step (``kill -9`` can cut the last line short)."""
    return all(row.get(k) not in (None, "") for k in CSV_FIELDS) and str(row["step"]).isdigit()


def _truncate_csv(path: Path, last_step: int) -> None:
    """Keep the complete rows up to ``last_step`` (those the resumed training produced)."""
    with open(path, newline="", errors="replace") as fh:
        rows = [r for r in csv.DictReader(fh) if _complete(r) and int(r["step"]) <= last_step]

    def write(tmp: str) -> None:
        with open(tmp, "w", newline="") as out:
            w = csv.DictWriter(out, fieldnames=CSV_FIELDS)
            w.writeheader()
            w.writerows(rows)

    atomic_write(path, write)


class RunLogger:
    """Scalars to CSV + TensorBoard, images to TensorBoard, and a tqdm bar, on rank 0 only."""

    def __init__(self, run_dir: Path, enabled: bool, resume_step: Optional[int], quiet: bool, total_steps: Optional[int]) -> None:
        self.enabled = enabled
        self.start = time.monotonic()
        self._bar = None
        self._writer = None
        self._csv = None
        if not enabled:
            return
        from torch.utils.tensorboard import SummaryWriter

        run_dir.mkdir(parents=True, exist_ok=True)
        path = run_dir / CSV_NAME
        if resume_step is not None and path.is_file():
            _truncate_csv(path, resume_step)
        new = not path.is_file()
        self._csv_file = open(path, "a", newline="")
        self._csv = csv.writer(self._csv_file)
        if new:
            self._csv.writerow(CSV_FIELDS)
        purge = None if resume_step is None else resume_step + 1
        self._writer = SummaryWriter(str(run_dir / TB_DIR), purge_step=purge)
        if not quiet:
            from tqdm import tqdm

            self._bar = tqdm(total=total_steps, initial=resume_step or 0, unit="step", dynamic_ncols=True)

    def scalars(self, step: int, epoch: int, values: Dict[str, float]) -> None:
        if not self.enabled:
            return
        wall = round(time.monotonic() - self.start, 3)
        for tag, value in values.items():
            self._csv.writerow([step, epoch, wall, tag, f"{value:.6g}"])  # type: ignore[union-attr]
            self._writer.add_scalar(tag, value, step)  # type: ignore[union-attr]
        self._csv_file.flush()

    def image(self, step: int, tag: str, chw01: torch.Tensor) -> None:
        if self.enabled:
            self._writer.add_image(tag, chw01.clamp(0, 1), step)  # type: ignore[union-attr]

    def progress(self, steps: int, postfix: Dict[str, float]) -> None:
        """Advance the bar by ``steps`` and show the latest losses and speed."""
        if self._bar is not None:
            self._bar.update(steps)
            self._bar.set_postfix({k: f"{v:.3g}" for k, v in postfix.items()}, refresh=False)

    def message(self, text: str) -> None:
        """A line for the user that does not break the bar."""
        if not self.enabled or self._bar is None:
            return
        self._bar.write(text)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
        if self._writer is not None:
            self._writer.close()
        if self._csv is not None:
            self._csv_file.close()
