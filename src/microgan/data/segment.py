"""The paper's unsupervised single-cell segmentation (section 3.1), returning one box per object.

Paper: "1. apply adaptive mean thresholding with a window size of 11x11, 2. apply dilation, flood
filling and opening morphological operations, 3. finally, crop the single cell images by using
bounding box around the segmented regions." Everything the paper leaves open is a parameter of
:class:`SegmentationParams`, defaults chosen on BCCD (see docs/paper-notes.md):

* polarity: in brightfield, cells are darker than the background, so a pixel is foreground when it
  is darker than its 11x11 mean minus ``c`` (``THRESH_BINARY_INV``); ``polarity="bright"`` for
  fluorescence. With an 11x11 window on cells much larger than 11 px, the threshold fires on cell
  *edges* and texture; dilation closes those outlines and the flood fill fills their interiors.
* holes are filled by flooding the background from outside the image (the mask is padded by one
  background pixel first, so the fill never starts on a foreground pixel) and adding everything
  the flood did not reach.
* opening then removes specks and thin bridges smaller than its kernel.
* connected components (8-connected) outside ``[min_area, max_area]`` are dropped; each kept box
  grows by ``margin`` pixels per side, clipped to the image. Objects touching the image border are
  kept (clipped) unless ``drop_border``.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Dict, List, Optional

import cv2
import numpy as np

from microgan.core.types import Box
from microgan.errors import ConfigError


@dataclass(frozen=True)
class SegmentationParams:
    """Segmentation settings; the defaults are the paper's (block 11) plus choices made on BCCD."""

    block_size: int = 11  # adaptive-threshold window (paper: 11x11)
    c: float = 3.0  # subtracted from the local mean, in 8-bit grey levels (tuned on BCCD)
    polarity: str = "dark"  # "dark": objects darker than background (brightfield); "bright"
    dilate_kernel: int = 5  # elliptical kernel side; closes small gaps in cell outlines
    dilate_iterations: int = 1
    open_kernel: int = 5  # elliptical kernel side; removes specks and thin bridges
    min_area: int = 1500  # object pixels (after filling); smaller components are noise
    max_area: Optional[int] = None  # object pixels; None = no upper bound
    margin: int = 4  # pixels added around each box (clipped to the image)
    drop_border: bool = False  # drop objects touching the image border instead of clipping

    def __post_init__(self) -> None:
        if self.block_size < 3 or self.block_size % 2 == 0:
            raise ConfigError(f"segmentation block_size must be odd and >= 3, got {self.block_size}")
        if self.polarity not in ("dark", "bright"):
            raise ConfigError(f"segmentation polarity must be 'dark' or 'bright', got {self.polarity!r}")
        for name in ("dilate_kernel", "open_kernel"):
            if getattr(self, name) < 1:
                raise ConfigError(f"segmentation {name} must be >= 1, got {getattr(self, name)}")
        if self.dilate_iterations < 0 or self.margin < 0 or self.min_area < 0:
            raise ConfigError("segmentation dilate_iterations, margin and min_area must be >= 0")
        if self.max_area is not None and self.max_area < self.min_area:
            raise ConfigError(f"segmentation max_area {self.max_area} < min_area {self.min_area}")

    def spec(self) -> Dict[str, Any]:
        return asdict(self)


def to_gray8(array: np.ndarray) -> np.ndarray:
    """An 8-bit grayscale view for thresholding (OpenCV's adaptive threshold takes 8-bit only).

    Integer images map their type's range to 0..255 (uint8 as is, uint16 / 257), so ``c`` means
    the same grey-level step for an 8-bit and a 16-bit copy of one picture; a per-image contrast
    stretch would instead scale ``c`` by each image's contrast and turn noise into objects on
    low-contrast images. Floats have no type range: their min..max is stretched to 0..255.
    Data from a 12-bit camera stored in 16 bits uses 1/16 of the range: lower ``c`` for it.
    """
    gray = cv2.cvtColor(array, cv2.COLOR_RGB2GRAY) if array.ndim == 3 else array
    if gray.dtype == np.uint8:
        return gray
    if gray.dtype == np.uint16:
        return np.rint(gray / 257.0).astype(np.uint8)
    low, high = float(gray.min()), float(gray.max())
    scaled = (gray.astype(np.float32) - low) / max(high - low, 1e-12)
    return np.rint(scaled * 255.0).astype(np.uint8)


def _ellipse(size: int) -> np.ndarray:
    return cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (size, size))


def _fill_holes(mask: np.ndarray) -> np.ndarray:
    padded = cv2.copyMakeBorder(mask, 1, 1, 1, 1, cv2.BORDER_CONSTANT, value=0)
    outside = padded.copy()
    flood_mask = np.zeros((padded.shape[0] + 2, padded.shape[1] + 2), np.uint8)
    cv2.floodFill(outside, flood_mask, (0, 0), 255)
    holes = cv2.bitwise_not(outside)[1:-1, 1:-1]
    return cv2.bitwise_or(mask, holes)


def foreground_mask(array: np.ndarray, params: SegmentationParams = SegmentationParams()) -> np.ndarray:
    """The binary (0/255) object mask after thresholding, dilation, hole filling and opening."""
    gray = to_gray8(array)
    mode = cv2.THRESH_BINARY_INV if params.polarity == "dark" else cv2.THRESH_BINARY
    c = params.c if params.polarity == "dark" else -params.c
    mask = cv2.adaptiveThreshold(gray, 255, cv2.ADAPTIVE_THRESH_MEAN_C, mode, params.block_size, c)
    if params.dilate_iterations:
        mask = cv2.dilate(mask, _ellipse(params.dilate_kernel), iterations=params.dilate_iterations)
    mask = _fill_holes(mask)
    return cv2.morphologyEx(mask, cv2.MORPH_OPEN, _ellipse(params.open_kernel))


def segment(array: np.ndarray, params: SegmentationParams = SegmentationParams()) -> List[Box]:
    """Boxes (with margin, clipped to the image) around the objects of a multi-cell image,
    ordered top-to-bottom then left-to-right so crop ids are stable."""
    height, width = array.shape[:2]
    mask = foreground_mask(array, params)
    _, _, stats, _ = cv2.connectedComponentsWithStats(mask, connectivity=8)
    boxes = []
    for x, y, w, h, area in stats[1:]:  # label 0 is the background
        if area < params.min_area or (params.max_area is not None and area > params.max_area):
            continue
        box = Box(int(x), int(y), int(w), int(h))
        if params.drop_border and box.touches_border(width, height):
            continue
        boxes.append(box.expand(params.margin, width, height))
    return sorted(boxes, key=lambda b: (b.y, b.x))
