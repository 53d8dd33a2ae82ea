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
"""
from __future__ import annotations

import json
import platform
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


def recall(key: str) -> Optional[Dict[str, Any]]:
    entry = _load().get(key)
    return entry if isinstance(entry, dict) else None


def remember(key: str, entry: Mapping[str, Any]) -> None:
    doc = _load()
    doc[key] = {**entry, "measured": time.strftime("%Y-%m-%d %H:%M")}
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
