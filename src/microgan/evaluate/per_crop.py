"""``--per-crop``: every crop's scores as one CSV row per crop and method, for breakdowns the report
does not make (by size, by class, paired tests between two methods on the same crops).

Long format (``id, method, psnr, ...``) rather than one column per method and measure: a user's
pandas ``pivot`` or R ``pivot_wider`` turns it into any wide table, and adding a method never
changes the columns. Undefined values (SSIM on a crop too small for a window, VIF on a tiny crop)
are empty cells, not ``nan``, so spreadsheet software reads them as missing.
"""
from __future__ import annotations

import csv
import io
import math
from pathlib import Path
from typing import Optional, Union

from microgan.core.atomic import atomic_write_bytes
from microgan.evaluate.runner import Evaluation

COLUMNS = ("id", "label", "height", "width", "method", "psnr_input", "psnr", "psnr_gain", "ssim",
           "ms_ssim", "vif", "hf_ratio", "time_s")


def _cell(value: Optional[float]) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    return f"{value:.6g}"


def per_crop_csv(evaluation: Evaluation) -> str:
    """The CSV text: crops in evaluation order, methods in the report's order within each crop."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(COLUMNS)
    for crop in evaluation.crops:
        for method in evaluation.methods:
            name = method.name
            psnr = crop.psnr[name]
            writer.writerow([
                crop.id, crop.label, crop.height, crop.width, name, _cell(crop.psnr_input), _cell(psnr),
                _cell(psnr - crop.psnr_input), _cell(crop.ssim.get(name)), _cell(crop.ms_ssim.get(name)),
                _cell(crop.vif.get(name)), _cell(crop.hf_ratio.get(name)), _cell(crop.time_s.get(name)),
            ])
    return out.getvalue()


def write_per_crop(path: Union[str, Path], evaluation: Evaluation) -> Path:
    """Write :func:`per_crop_csv` atomically (a killed run leaves no half-written table)."""
    return atomic_write_bytes(path, per_crop_csv(evaluation).encode("utf-8"))
