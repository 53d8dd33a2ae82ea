"""Crops from cell-centre labels: one box per labelled point (the Chula RBC-12 route).

A label that is only a point does not say how large its cell is. The paper's segmentation
(:func:`microgan.data.segment.foreground_mask`) does, wherever it isolates the cell: the point
then falls inside a connected component that holds no other labelled point and whose size is that
of one cell. Such a point is cropped to its component's own box (plus the margin), so a macrocyte
gets a larger crop than a microcyte, at native size, as in the paper. Elsewhere (touching cells
merged into one component, a pale cell the threshold missed, debris attached to the cell) the crop
is a square box of side ``fallback_side`` centred on the point, clipped to the image.

``diameter`` is the typical cell diameter of the data set, measured once (see
:data:`microgan.data.sources.CHULA_CELL_DIAMETER`); a component counts as one cell when its longer
side lies in ``[min_factor, max_factor] x diameter``.
"""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import List, Sequence, Tuple

import cv2
import numpy as np

from microgan.core.types import Box
from microgan.data.segment import SegmentationParams, foreground_mask
from microgan.errors import ConfigError

Point = Tuple[int, int]


@dataclass(frozen=True)
class PointCropParams:
    """How labelled points become boxes; sizes in pixels."""

    diameter: float  # typical cell diameter of the data set
    fallback_factor: float = 1.25  # the centred box's side, in diameters (holds ~90 % of cells whole)
    min_factor: float = 0.5  # a component smaller than this many diameters is not a whole cell
    max_factor: float = 1.6  # a larger one holds more than the cell (a neighbour, debris)

    def __post_init__(self) -> None:
        if self.diameter <= 0 or self.fallback_factor <= 0 or not 0 < self.min_factor < self.max_factor:
            raise ConfigError(f"point-crop sizes must be positive with min_factor < max_factor, got {self}")

    @property
    def fallback_side(self) -> int:
        return max(1, int(round(self.diameter * self.fallback_factor)))


@dataclass(frozen=True)
class PointCrop:
    """The box of one labelled point and how it was found (``segmented`` or ``centred``)."""

    box: Box
    how: str


def centred_box(point: Point, side: int, width: int, height: int) -> Box:
    """A ``side`` x ``side`` box centred on ``point``, clipped to the image."""
    x, y = point
    half = side // 2
    clipped = Box(x - half, y - half, side, side).clip(width, height)
    assert clipped is not None  # the caller passes points inside the image
    return clipped


def point_crops(
    array: np.ndarray,
    points: Sequence[Point],
    segmentation: SegmentationParams,
    params: PointCropParams,
) -> List[PointCrop]:
    """One :class:`PointCrop` per point (points must lie inside the image), in the given order."""
    height, width = array.shape[:2]
    mask = foreground_mask(array, segmentation)
    _, labels, stats, _ = cv2.connectedComponentsWithStats(mask, connectivity=8)
    components = [int(labels[y, x]) for x, y in points]
    shared = Counter(components)
    low, high = params.min_factor * params.diameter, params.max_factor * params.diameter
    out: List[PointCrop] = []
    for point, component in zip(points, components):
        if component and shared[component] == 1:
            x, y, w, h = (int(v) for v in stats[component, :4])
            if low <= max(w, h) <= high:
                out.append(PointCrop(Box(x, y, w, h).expand(segmentation.margin, width, height), "segmented"))
                continue
        side = params.fallback_side + 2 * segmentation.margin
        out.append(PointCrop(centred_box(point, side, width, height), "centred"))
    return out
