"""Inference: restore numpy images of any size with a trained generator (``microgan.load``).

:class:`~microgan.infer.enhancer.Enhancer` keeps everything about an image that is not the
restoration itself (size, sample type, channels); :mod:`~microgan.infer.tiles` plans and blends
tiles; :mod:`~microgan.infer.memory` sizes a forward pass to the free memory. The generator's
geometry (size multiple, receptive field) comes from :mod:`microgan.core.geometry`.
"""
from __future__ import annotations

from microgan.infer.enhancer import Enhancer

__all__ = ["Enhancer"]
