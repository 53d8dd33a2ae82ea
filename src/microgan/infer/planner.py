"""The planner: where an Enhancer's passes go, within its memory budget.

Everything about a restoration that is not computing it: the generator's measured receptive field
and the halo a tile needs for its kept part to equal the whole-image result; the bytes one pass may
grow by (``max_memory`` less what the process holds and what other work reserves); the measured
bytes per pixel of a pass (probed once per model, backend and machine, and re-learnt from real tiles);
and the tile grid (:mod:`microgan.infer.tiles`) that computes the fewest pixels within the budget.
Public, for the benchmarks and front ends that plan before they run (``Enhancer.planner``); the
runner (:class:`microgan.infer.enhancer.Enhancer`) owns the backend, the values and the passes.
"""
from __future__ import annotations

import hashlib
import math
import warnings
from typing import Any, Callable, Optional, Protocol, Union

from torch import nn

from microgan.core.geometry import ReceptiveField, receptive_field
from microgan.core.types import finite_number
from microgan.errors import MicroGANError
from microgan.infer import calibrate
from microgan.infer.memory import PeakMeter, activation_bytes_per_pixel, available_memory, in_use
from microgan.infer.tiles import TilePlan, fixed_grid, plan_grid, whole

TileLike = Union[None, str, int]

#: Halo used when the receptive field is unbounded (global normalization): tiles then differ
#: from the whole image, and a warning says so.
FALLBACK_HALO = 48
#: Share of the free budget a pass is planned to fill (the rest absorbs measurement noise).
SAFETY = 0.9
#: Bytes a pass may need beyond its per-pixel cost (library workspaces, small temporaries).
PASS_SLACK = 64 * 2**20


class Runner(Protocol):
    """What the planner needs of the runner it plans for: its backend (built on first use; probed for
    the memory a pass takes), a way to drop the backend's cached buffers, and the weights' digest."""

    @property
    def backend(self) -> Any: ...

    @property
    def digest(self) -> str: ...

    def release_backend(self) -> None: ...


class TilePlanner:
    """Halo, memory budget and tiles for one generator on one device (see the module docstring).

    ``tile``: ``"auto"`` (within ``max_memory``), None (whole images) or a side in pixels; ``halo``:
    ``"auto"`` (the measured tile margin) or pixels; ``max_memory``: bytes for the whole process
    (None: unbounded); ``self_ensemble``: passes hold the turned image and a running sum beside them;
    ``note(key, message)``: how the planner warns (once per key)."""

    def __init__(self, generator: nn.Module, net_channels: int, device: Any, precision: str, multiple: int,
                 min_size: int, runner: Runner, *, tile: TileLike = "auto", halo: Union[str, int] = "auto",
                 max_memory: Optional[int] = None, self_ensemble: bool = False,
                 note: Optional[Callable[[str, str], None]] = None) -> None:
        if not (tile in (None, "auto") or (isinstance(tile, int) and tile > 0)):
            raise MicroGANError(f"tile '{tile}': use auto, None or a positive number of pixels")
        if not (halo == "auto" or (isinstance(halo, int) and halo >= 0)):
            raise MicroGANError(f"halo '{halo}': use auto or a number of pixels >= 0")
        if max_memory is not None and max_memory <= 0:
            raise MicroGANError(f"max_memory must be a positive number of bytes, got {max_memory}")
        self.generator = generator
        self.net_channels = net_channels
        self.device = device
        self.precision = precision
        self.multiple, self.min_size = multiple, min_size
        self.runner = runner
        self.tile = tile
        self.max_memory = max_memory
        self.self_ensemble = bool(self_ensemble)
        self.note = note or (lambda key, message: warnings.warn(message, stacklevel=3))
        self._halo = halo
        self._field: Optional[ReceptiveField] = None
        self._field_known = False
        self._upper_bpp: Optional[float] = None
        self._measured_bpp: Optional[float] = None

    @property
    def field(self) -> Optional[ReceptiveField]:
        """Measured (:func:`receptive_field`) once per architecture and cached; None when unbounded.
        The measurement ignores the weights, so the key is the module graph as ``repr`` prints it."""
        if not self._field_known:
            structure = hashlib.sha256(f"{self.net_channels}|{self.generator!r}".encode()).hexdigest()
            key = f"field|{structure}"
            known = calibrate.recall(key)
            if known is not None and _valid_field(known.get("radius"), known.get("margin")):
                self._field = None if known["radius"] is None else ReceptiveField(int(known["radius"]), int(known["margin"]))
            else:
                self._field = receptive_field(self.generator, self.net_channels, self.device)
                calibrate.remember(key, {"radius": self._field and self._field.radius,
                                         "margin": self._field and self._field.margin})
            self._field_known = True
        return self._field

    @property
    def halo(self) -> int:
        """Context pixels a tile computes beyond the part it keeps, a multiple of the stride.
        ``auto``: the measured tile margin, rounded up (tiles then equal the whole image)."""
        if self._halo != "auto":
            return -(-int(self._halo) // self.multiple) * self.multiple
        field = self.field
        margin = FALLBACK_HALO if field is None else field.margin
        return -(-margin // self.multiple) * self.multiple

    def _exactness_note(self) -> None:
        field = self.field
        if field is None:
            self.note("global", "the generator normalizes over the whole image (instance/group norm): "
                       "tiles cannot equal the whole-image result and seams may show")
        elif self.halo < field.margin:
            self.note("halo", f"halo {self.halo} is below the generator's tile margin ({field.margin} pixels): "
                       "tiles may differ from the whole image at their edges")

    def budget(self, reserve: int) -> float:
        """Bytes one pass may grow by: ``max_memory`` (capped by what the machine has free) minus
        what is in use and ``reserve`` (other work's buffers), with a safety share kept back."""
        if self.max_memory is None:
            return math.inf
        self.runner.release_backend()
        used = in_use(self.device)
        cap = min(self.max_memory, used + available_memory(self.device))
        return (cap - used - reserve) * SAFETY

    def bytes_per_pixel_bound(self) -> float:
        """Upper bound of a pass's bytes per pixel from the layer outputs (cheap, no calibration)."""
        if self._upper_bpp is None:
            self._upper_bpp = activation_bytes_per_pixel(self.generator, self.net_channels, self.device)
        return self._upper_bpp

    def bytes_per_pixel(self, budget: float = math.inf) -> float:
        """Measured peak memory per pixel of passes of the backend on one tile shape (cached per
        model, backend and machine; the upper bound where peaks cannot be measured). The probe is
        the largest square up to :data:`calibrate.MEMORY_SIDE` that the upper bound says fits
        ``budget``, run twice (what a backend keeps between passes of a shape counts too)."""
        if self._measured_bpp is not None:
            return self._measured_bpp
        backend = self.runner.backend
        key = f"memory|{self.runner.digest}|{backend.candidate}|{self.precision}|{calibrate.machine(self.device)}"
        known = calibrate.recall(key)
        if known and finite_number(known.get("bytes_per_pixel")) and 1.0 <= known["bytes_per_pixel"] <= 1e6:
            self._measured_bpp = float(known["bytes_per_pixel"])
            return self._measured_bpp
        upper = self.bytes_per_pixel_bound()
        fits = math.isqrt(int(max(budget - PASS_SLACK, 0) / upper)) if math.isfinite(budget) else calibrate.MEMORY_SIDE
        if fits < calibrate.MIN_MEMORY_SIDE:
            # a small probe's fixed costs would read as a huge cost per pixel (7.8 KB instead of 0.7 at
            # 32x32), and a cached one would shrink every later run's tiles: plan with the bound
            return upper
        side = max(min(calibrate.MEMORY_SIDE, fits) // self.multiple * self.multiple, self.min_size, 4 * self.multiple)
        backend(calibrate.probe_input(1, self.net_channels, 4 * self.multiple))  # one-time costs out of the way
        backend.release()
        x = calibrate.probe_input(1, self.net_channels, side)
        with PeakMeter(self.device) as meter:
            for _ in range(2):  # a backend may plan a shape's memory on its first pass and use the plan after
                backend(x)
        backend.release()
        if meter.growth is None:
            return upper  # not measurable here: plan with the bound, and do not cache it
        self._measured_bpp = max(meter.growth / (side * side), 1.0)
        calibrate.remember(key, {"bytes_per_pixel": self._measured_bpp, "side": side})
        return self._measured_bpp

    def pixel_limit(self, budget: float, wanted: int) -> float:
        """Most pixels one pass may hold within ``budget`` bytes. The cheap upper bound decides
        when it already admits ``wanted`` pixels; otherwise the measured cost does."""
        if not math.isfinite(budget):
            return math.inf
        upper = self.bytes_per_pixel_bound() + self._ensemble_bytes_per_pixel
        if wanted * upper + PASS_SLACK <= budget:
            return (budget - PASS_SLACK) / upper
        return max(budget, 0.0) / (self.bytes_per_pixel(budget) + self._ensemble_bytes_per_pixel)

    @property
    def _ensemble_bytes_per_pixel(self) -> int:
        """What the self-ensemble holds beside a pass: the turned input and the running sum (float32)."""
        return 2 * 4 * self.net_channels if self.self_ensemble else 0

    def _fixed_plan(self, height: int, width: int) -> TilePlan:
        side = int(self.tile)  # type: ignore[arg-type]
        workable = max(4 * self.halo, self.multiple, self.min_size)
        if side < workable:
            self.note("tile", f"tile {side} cannot hold its {self.halo}-pixel halo on both sides and keep "
                       f"as much as it recomputes: using {workable}-pixel tiles")
            side = workable
        if height <= side and width <= side:
            return whole(height, width)
        self._exactness_note()
        return fixed_grid(height, width, self.halo, self.multiple, max(self.min_size, self.multiple), side)

    def _refuse_a_budget_below_the_floor(self, limit: float, budget: float, reserve: int) -> None:
        """Tiles whose kept core is smaller than the halos they recompute make a run crawl (a
        2-second image ran over 15 minutes at --max-memory 300M, issue 30): refuse a budget that
        cannot hold one such tile beside what the process holds, naming the least that would."""
        side = max(4 * self.halo, self.multiple, self.min_size)
        if limit >= side * side:
            return
        tile = side * side * (self.bytes_per_pixel(budget) + self._ensemble_bytes_per_pixel) + PASS_SLACK
        held = in_use(self.device)
        floor = held + reserve + tile / SAFETY
        raise MicroGANError(
            f"max_memory {self.max_memory / 1e6:.0f} MB is below what restoring needs: this process already holds "
            f"{held / 1e6:.0f} MB and the smallest useful tile ({side}x{side}) {tile / 1e6:.0f} MB more; "
            f"give at least {math.ceil(floor / 1e8) / 10:.1f}G (--max-memory), or off")

    def plan(self, height: int, width: int, planes: int = 1, reserve: int = 0) -> TilePlan:
        """Tiles for one image whose padded canvas is ``height x width`` (``planes`` images in a
        pass: 3 for RGB restored per channel), ``reserve`` bytes held back for other work."""
        if self.tile is None:
            return whole(height, width)
        if self.tile != "auto":
            return self._fixed_plan(height, width)
        halo = self.halo  # measured first (once): the budget must see what the measurement left behind
        budget = self.budget(reserve)
        limit = self.pixel_limit(budget, planes * height * width) / planes
        if height * width <= limit:
            return whole(height, width)
        self._refuse_a_budget_below_the_floor(limit, budget, reserve)
        self._exactness_note()
        min_extent = max(self.min_size, self.multiple)
        plan = plan_grid(height, width, halo, self.multiple, min_extent, int(limit))
        self.note(f"plan {height}x{width}", f"{width}x{height} canvas in {len(plan.cols)}x{len(plan.rows)} tiles of up to "
                   f"{max(c.extent for c in plan.cols)}x{max(r.extent for r in plan.rows)} pixels "
                   f"(+{100 * plan.overhead:.1f} % computed) within max_memory {self.max_memory / 1e9:.2f} GB")
        return plan

    def learn_bytes_per_pixel(self, growth: int, pixels: int) -> None:
        """Replace the probe's bytes per pixel with what real tiles of this plan took (the probe is
        smaller than a tile, and a backend's fixed costs and layout differ with size), so the next
        plan uses the budget as measured. Only ever from a whole tiled image, several passes."""
        observed = growth / max(pixels, 1)
        if observed > 1.0 and self._measured_bpp is not None:
            self._measured_bpp = observed
            key = f"memory|{self.runner.digest}|{self.runner.backend.candidate}|{self.precision}|{calibrate.machine(self.device)}"
            calibrate.remember(key, {"bytes_per_pixel": observed, "tile_pixels": pixels})

    def observes(self, plan: TilePlan) -> bool:
        """Whether running ``plan`` should teach the planner its bytes per pixel: a tiled image
        under a budget, plain passes (the cache serves enhancers with and without the ensemble)."""
        return self.tile == "auto" and len(plan) > 1 and self.max_memory is not None and not self.self_ensemble

    def prepare(self, pixels: int = 0) -> None:
        """Measure now what planning an image of ``pixels`` pixels will need (the halo; the memory per
        pixel where the image may need tiles), rather than while other threads work."""
        if self.tile is not None:
            self.halo
        if self.tile == "auto" and pixels:
            self.pixel_limit(self.budget(0), pixels)


def _valid_field(radius: Any, margin: Any) -> bool:
    """A cached receptive field worth trusting: none (unbounded), or whole pixels with
    1 <= margin <= radius (every convolution network sees past the pixel itself)."""
    if radius is None:
        return margin is None
    return all(isinstance(v, int) and not isinstance(v, bool) for v in (radius, margin)) and 1 <= margin <= radius <= 100_000
