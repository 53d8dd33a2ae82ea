"""Measured facts about a model on this machine, taken once and kept in the user cache.

* **Which backend is faster** (``--backend auto``): PyTorch and ONNX Runtime each restore the same
  :data:`SPEED_SIDE`-pixel square :data:`SPEED_ROUNDS` times, interleaved so that load from
  other processes falls on both alike; the lower median wins. On CUDA there is nothing to
  measure: ONNX Runtime runs on the CPU, so PyTorch (fp16/bf16) is used.
* **What a pass costs in memory per pixel** (tile planning under ``--max-memory``): the peak
  memory growth of one pass on the largest square that surely fits the budget
  (:class:`~microgan.infer.memory.PeakMeter`), divided by its pixels. Fixed costs amortize over
  larger tiles, so the figure errs on the safe side for them.

Both are keyed by the weights' digest, the backend, the machine (CPU model or GPU name, thread
count) and the library versions, so a new model, machine or upgrade measures again. The cache is
one JSON file written atomically; concurrent writers (ranks of a distributed run) can at worst
lose an entry, which is measured again next time.

A cache is data, not truth: each entry carries a checksum of its key and values, and an entry
whose checksum does not match (damaged, edited by hand, copied from another key) is measured again
with a warning; callers also check each value's type and range before trusting it. A tile margin
of 0 read from a doctored cache gave 3-level seams silently before (issue 30). The checksum has no
secret: someone who edits the file and recomputes it is trusted within the range checks (the cache
is the user's own, like their configs); deleting the file measures everything again.
"""
from __future__ import annotations

import hashlib
import json
import platform
import warnings
import statistics
import time
from pathlib import Path
from typing import Any, Callable, Dict, Mapping, Optional

import numpy as np
import torch

from microgan.core.atomic import atomic_write_json
from microgan.core.files import user_cache_dir

#: Side of the square the backends race on (a compromise between single-cell crops and tiles).
SPEED_SIDE = 256
#: Timed passes per backend after one warm-up pass, interleaved.
SPEED_ROUNDS = 3
#: Largest side of the memory probe (smaller when the budget is smaller).
MEMORY_SIDE = 1024
#: Smallest: below it fixed costs dominate the measurement, and the layer-output bound is used instead.
MIN_MEMORY_SIDE = 256

Forward = Callable[[np.ndarray], np.ndarray]


def cache_file() -> Path:
    return user_cache_dir("calibration.json")


def machine(device: torch.device) -> str:
    """What a measurement depends on besides the model: hardware, threads, library versions."""
    if device.type == "cuda":
        hardware = torch.cuda.get_device_name(device)
    else:
        hardware = platform.processor() or platform.machine()
        try:
            for line in Path("/proc/cpuinfo").read_text().splitlines():
                if line.startswith("model name"):
                    hardware = line.split(":", 1)[1].strip()
                    break
        except OSError:
            pass
    versions = f"torch {torch.__version__}"
    try:
        import onnxruntime

        versions += f", onnxruntime {onnxruntime.__version__}"
    except ImportError:
        pass
    return f"{hardware}; {torch.get_num_threads()} threads; {versions}"


def _load() -> Dict[str, Any]:
    try:
        doc = json.loads(cache_file().read_text())
    except (OSError, ValueError):
        return {}
    return doc if isinstance(doc, dict) else {}


def _checksum(key: str, entry: Mapping[str, Any]) -> str:
    values = {k: v for k, v in entry.items() if k != "check"}
    return hashlib.sha256(json.dumps([key, values], sort_keys=True).encode()).hexdigest()[:32]


def recall(key: str) -> Optional[Dict[str, Any]]:
    """The entry remembered under ``key``, or None (also, with a warning, for one whose checksum
    does not match: it is measured again)."""
    entry = _load().get(key)
    if not isinstance(entry, dict):
        return None
    if "check" not in entry:
        return None  # written before entries carried checksums (or stripped of one): measured again quietly
    try:
        intact = entry.get("check") == _checksum(key, entry)
    except (TypeError, ValueError):
        intact = False
    if not intact:
        warnings.warn(f"{cache_file()}: an entry does not match its checksum; measuring again", stacklevel=2)
        return None
    return entry


def remember(key: str, entry: Mapping[str, Any]) -> None:
    doc = _load()
    entry = {**entry, "measured": time.strftime("%Y-%m-%d %H:%M")}
    doc[key] = {**entry, "check": _checksum(key, entry)}
    try:
        atomic_write_json(cache_file(), doc)
    except OSError:
        pass  # a read-only home only costs measuring again next time


def probe_input(batch: int, channels: int, side: int, seed: int = 0) -> np.ndarray:
    """A textured [-1, 1] input: random values, so no backend gets an easy constant image."""
    return np.random.default_rng(seed).uniform(-1, 1, (batch, channels, side, side)).astype(np.float32)


def race(forwards: Mapping[str, Forward], x: np.ndarray, rounds: int = SPEED_ROUNDS) -> Dict[str, float]:
    """Median seconds per pass of each forward on ``x``: one warm-up each, then ``rounds``
    interleaved timed passes (A B A B ...), so a burst of outside load hits both."""
    for forward in forwards.values():
        forward(x)
    times: Dict[str, list] = {name: [] for name in forwards}
    for _ in range(rounds):
        for name, forward in forwards.items():
            start = time.perf_counter()
            forward(x)
            times[name].append(time.perf_counter() - start)
    return {name: statistics.median(values) for name, values in times.items()}
