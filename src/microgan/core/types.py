"""Small value types shared across the house: data splits, pixel boxes, and what counts as a number."""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Optional

def finite_number(value: object) -> bool:
    """An int or float (not a bool, which Python counts as an int) that is finite: what a config,
    cache or metadata value must be before it is used as a number."""
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


#: The splits of a prepared folder, in the order they are assigned and reported.
SPLITS = ("train", "val", "test")


@dataclass(frozen=True)
class Box:
    """An axis-aligned box in pixel units: columns ``x .. x+w-1``, rows ``y .. y+h-1``."""

    x: int
    y: int
    w: int
    h: int

    @property
    def area(self) -> int:
        return self.w * self.h

    def clip(self, width: int, height: int) -> Optional["Box"]:
        """This box cut to a ``width`` x ``height`` image, or None if nothing is left."""
        x0, y0 = max(self.x, 0), max(self.y, 0)
        x1, y1 = min(self.x + self.w, width), min(self.y + self.h, height)
        if x1 <= x0 or y1 <= y0:
            return None
        return Box(x0, y0, x1 - x0, y1 - y0)

    def expand(self, margin: int, width: int, height: int) -> "Box":
        """Grow by ``margin`` pixels on every side, clipped to the image."""
        grown = Box(self.x - margin, self.y - margin, self.w + 2 * margin, self.h + 2 * margin)
        clipped = grown.clip(width, height)
        assert clipped is not None  # a box inside the image stays inside after growing
        return clipped

    def touches_border(self, width: int, height: int) -> bool:
        return self.x <= 0 or self.y <= 0 or self.x + self.w >= width or self.y + self.h >= height
