"""Inference: restore numpy images and image files of any size with a trained generator.

:class:`~microgan.infer.enhancer.Enhancer` (``microgan.load``) keeps everything about an image that
is not the restoration itself (size, sample type, channels). Around it, one job per module:

* :mod:`~microgan.infer.tiles`: exact tiles (halo computed, centre kept) and the grid that
  computes the fewest pixels within a per-pass budget;
* :mod:`~microgan.infer.ensemble`: the x8 self-ensemble (a pass averaged over the tile's
  rotations and mirror images);
* :mod:`~microgan.infer.memory`: the process's memory budget and the peak of a pass, measured;
* :mod:`~microgan.infer.backends`: PyTorch (channels_last) and ONNX Runtime passes;
* :mod:`~microgan.infer.calibrate`: which backend is faster and what a pass costs per pixel,
  measured once per model and machine and cached;
* :mod:`~microgan.infer.pipeline`: files read, restored and written in overlapping threads;
* :mod:`~microgan.infer.ranks`: files shared among ``torchrun`` ranks.

The generator's geometry (size multiple, receptive field) comes from :mod:`microgan.core.geometry`.
"""
from __future__ import annotations

from microgan.infer.enhancer import Enhancer

__all__ = ["Enhancer"]
