"""The Enhancer: restore numpy images of any size with a trained generator (``microgan.load``).

An :class:`Enhancer` wraps a generator and keeps everything about an image that is not the
restoration itself: its size, sample type (uint8 / uint16 / float32) and channels. Three things
make that hold for a 9x5 crop as well as a 4096x3072 field:

* **Padding once, outside the network.** The image is padded to the generator's size multiple
  with the generator's own rule (:func:`microgan.archs.padding.pad_to_multiple`), so the whole-image
  result equals calling the generator directly, and every tile below is cut from that padded
  canvas at offsets that are multiples of the network's stride: max-pooling grids then line up and
  the tiles see exactly the pixels the whole-image pass sees.
* **Tiling with context and blending.** A tile's output is only trusted ``context`` pixels away
  from a tile edge that lies inside the image (beyond that the generator's zero padding leaks in);
  across the next ``ramp`` pixels a raised-cosine weight hands over to the neighbour, and the sum
  is normalized by the weight sum. With ``context`` at least the receptive-field radius (measured
  by :func:`microgan.core.geometry.receptive_radius`), the tiled result equals the whole-image one up to rounding; with
  less, the ramp still hides the seams. Edge tiles are never padded with invented context: they end
  where the padded canvas ends, exactly like the whole-image pass.
* **Memory-aware tile size.** ``tile="auto"`` runs whole images that fit half of the free memory
  (``MemAvailable`` / cgroup limit on CPU, ``cuda.mem_get_info`` on GPU), as estimated from the
  activation sizes of one small forward pass, and tiles the others with the grid of (rectangular)
  tiles that fits the budget and re-computes the fewest overlapping pixels
  (:func:`microgan.infer.tiles.plan_tiles`, :mod:`microgan.infer.memory`).
"""
from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple, Union

import numpy as np
import torch
from torch import nn

from microgan.archs.padding import crop, pad_to_multiple
from microgan.core.checkpoint import load_generator
from microgan.core.device import DeviceLike, autocast, resolve_device, resolve_precision
from microgan.core.geometry import model_channels, padded_size, receptive_radius, size_multiple
from microgan.data.normalize import Normalizer, build_normalizer
from microgan.errors import MicroGANError
from microgan.infer.memory import MEMORY_FRACTION, activation_bytes_per_pixel, available_memory
from microgan.infer.tiles import DEFAULT_RAMP, FALLBACK_OVERLAP, blend_window, plan_tiles, split_overlap, tile_starts

TileLike = Union[None, str, int]


class Enhancer:
    """Restore numpy images with a generator, keeping size, sample type and channels.

    ``tile``: ``"auto"`` (tile only what does not fit in memory), ``None`` (never tile) or a tile
    side in pixels. ``overlap``: ``"auto"`` (twice the measured receptive radius plus the ramp, so
    tiles equal the whole image) or pixels. ``normalizer``: a :class:`Normalizer`, a spec, or None
    for ``range`` (the mapping training used: the sample type's full range to [-1, 1]). ``per_channel``:
    restore each channel of an RGB image with a grayscale model (refused otherwise).
    """

    def __init__(
        self,
        generator: nn.Module,
        meta: Optional[Mapping[str, Any]] = None,
        device: DeviceLike = "auto",
        precision: str = "auto",
        tile: TileLike = "auto",
        overlap: Union[str, int] = "auto",
        normalizer: Union[Normalizer, str, Dict[str, Any], None] = None,
        per_channel: bool = False,
    ) -> None:
        self.device = resolve_device(device)
        self.generator = generator.to(self.device).eval()
        self.meta: Dict[str, Any] = dict(meta or {})
        self.precision = resolve_precision(precision, self.device)
        self.channels = model_channels(generator, self.meta)
        if self.channels not in (1, 3):
            raise MicroGANError(f"generator takes {self.channels} channels; only 1 (gray) or 3 (RGB) are images")
        self.multiple, self.min_size = size_multiple(generator)
        if not (tile in (None, "auto") or (isinstance(tile, int) and tile > 0)):
            raise MicroGANError(f"tile '{tile}': use auto, None or a positive number of pixels")
        if not (overlap == "auto" or (isinstance(overlap, int) and overlap >= 0)):
            raise MicroGANError(f"overlap '{overlap}': use auto or a number of pixels >= 0")
        self.tile = tile
        self._overlap = overlap
        self.normalizer = normalizer if isinstance(normalizer, Normalizer) else build_normalizer(normalizer)
        self.per_channel = per_channel
        self._radius: Optional[int] = None
        self._radius_known = False
        self._bytes_per_pixel: Optional[float] = None
        self._warned = False

    @classmethod
    def from_model(cls, model: Union[str, Path, None] = None, device: DeviceLike = "auto", **kwargs: Any) -> "Enhancer":
        """Load a checkpoint file, run folder or bundled model name (None: the bundled default)."""
        dev = resolve_device(device)
        net, meta = load_generator(model, dev)
        return cls(net, meta, device=dev, **kwargs)

    # ------------------------------------------------------------------ geometry, lazily measured

    @property
    def receptive_radius(self) -> Optional[int]:
        """Measured once per enhancer (see :func:`receptive_radius`); None when unbounded."""
        if not self._radius_known:
            self._radius = receptive_radius(self.generator, self.channels, self.device)
            self._radius_known = True
        return self._radius

    @property
    def overlap(self) -> int:
        """Pixels shared by neighbouring tiles. ``auto``: twice the receptive radius plus the ramp,
        capped at half a fixed tile (with a warning: tiles may then differ slightly)."""
        if self._overlap != "auto":
            return int(self._overlap)
        radius = self.receptive_radius
        wanted = FALLBACK_OVERLAP if radius is None else 2 * radius + DEFAULT_RAMP
        if isinstance(self.tile, int) and wanted >= self.tile:
            if not self._warned:
                warnings.warn(
                    f"tile {self.tile} is smaller than the overlap that covers the receptive field "
                    f"({wanted} pixels); using {self.tile // 2}: tiles may differ slightly from the whole image",
                    stacklevel=2,
                )
                self._warned = True
            return self.tile // 2
        return wanted

    def max_pixels(self) -> int:
        """Input pixels (batch included) one forward pass may take within the memory budget."""
        if self._bytes_per_pixel is None:
            self._bytes_per_pixel = activation_bytes_per_pixel(self.generator, self.channels, self.device)
        budget = available_memory(self.device) * MEMORY_FRACTION
        return max(int(budget / self._bytes_per_pixel), self.multiple * self.multiple)

    def _limit(self) -> Optional[int]:
        """Pixel budget of one pass for this call (None: no limit, ``tile=None`` or a fixed tile)."""
        return self.max_pixels() if self.tile == "auto" else None

    def tile_shape(
        self, height: int, width: int, count: int = 1, limit: Optional[int] = None
    ) -> Optional[Tuple[int, int]]:
        """Tile (height, width) for ``count`` padded canvases of ``height x width``, or None to
        run them whole. ``limit``: pixel budget of one pass (``tile="auto"``; default: measured now).
        """
        if self.tile is None:
            return None
        if self.tile == "auto":
            limit = self.max_pixels() if limit is None else limit
            if count * height * width <= limit:
                return None
            overlap = self.overlap
            floor = max(-(-(overlap + 2 * self.multiple) // self.multiple) * self.multiple, self.min_size)
            return plan_tiles(height, width, limit // count, overlap, self.multiple, floor)
        side = max(-(-int(self.tile) // self.multiple) * self.multiple, self.min_size)
        if height <= side and width <= side:
            return None
        if side <= self.overlap:
            raise MicroGANError(f"tile {self.tile} must be larger than the overlap ({self.overlap} pixels)")
        return min(side, height), min(side, width)

    # ------------------------------------------------------------------ channels and values

    def check(self, array: np.ndarray) -> None:
        """Raise a clear :class:`MicroGANError` for an array this enhancer cannot restore."""
        if not isinstance(array, np.ndarray):
            raise MicroGANError(f"expected a numpy array, got {type(array).__name__}")
        if array.dtype not in (np.uint8, np.uint16, np.float32, np.float64):
            raise MicroGANError(f"unsupported sample type {array.dtype} (expected uint8, uint16 or float32)")
        if array.ndim == 2 or (array.ndim == 3 and array.shape[2] == 1):
            pass
        elif array.ndim == 3 and array.shape[2] == 3:
            if self.channels == 1 and not self.per_channel:
                raise MicroGANError(
                    "RGB image given to a grayscale model: convert the image to gray first, or restore "
                    "each channel separately (per_channel=True, --per-channel)"
                )
        else:
            raise MicroGANError(f"expected an (H, W) or (H, W, 3) image, got shape {array.shape}")
        if array.shape[0] < 1 or array.shape[1] < 1:
            raise MicroGANError(f"empty image of shape {array.shape}")
        if array.dtype.kind == "f":
            low, high = float(array.min()), float(array.max())
            if not (np.isfinite(low) and np.isfinite(high)):
                raise MicroGANError("float image holds NaN or Inf values")
            if self.normalizer.name == "range" and (low < 0 or high > 1):
                raise MicroGANError(
                    f"float image values span [{low:.4g}, {high:.4g}], outside the [0, 1] that range "
                    "normalization expects: use the percentile normalizer (--normalize percentile)"
                )

    def _to_batch(self, arrays: Sequence[np.ndarray]) -> torch.Tensor:
        """Images of one shape -> (N, C_model, H, W) in [-1, 1]. Gray images on an RGB model are
        replicated to three channels; RGB images on a gray model (per_channel) become 3 images."""
        planes = []
        for array in arrays:
            x = self.normalizer.normalize(array)
            x = x.reshape(x.shape[0], x.shape[1], -1).transpose(2, 0, 1)  # (C_img, H, W)
            if self.channels == 3 and x.shape[0] == 1:
                x = np.repeat(x, 3, axis=0)
            planes.extend([x] if self.channels == 3 else list(x[:, None]))
        return torch.from_numpy(np.stack(planes)).mul_(2).sub_(1)

    def _from_batch(self, out: torch.Tensor, arrays: Sequence[np.ndarray]) -> List[np.ndarray]:
        """(N, C_model, H, W) in [-1, 1] -> arrays shaped and typed like ``arrays``.

        A gray image restored by an RGB model comes back as the mean of the three output channels:
        its three inputs were equal, so no channel deserves luminance weighting over another.
        Outputs are clipped to [-1, 1] (the architecture contract) under the range normalizer; a
        percentile normalizer's values may legitimately exceed its 0..1 bounds, and its
        denormalization clips to the sample type instead.
        """
        if not torch.isfinite(out).all():  # clipping or casting would turn it into a black image
            raise MicroGANError(
                "the model's output holds NaN or Inf values (non-finite weights, or an overflow: "
                "try precision fp32 / --precision fp32)"
            )
        if self.normalizer.name == "range":
            out.clamp_(-1, 1)
        values = out.add_(1).div_(2).numpy()  # in place: image-sized buffers add up on large fields
        results, i = [], 0
        for array in arrays:
            gray = array.ndim == 2 or array.shape[2] == 1
            if self.channels == 3:
                y = values[i].mean(axis=0, keepdims=True) if gray else values[i]
                i += 1
            else:
                n = 1 if gray else 3
                y = values[i : i + n, 0]
                i += n
            y = y.transpose(1, 2, 0)
            y = y[:, :, 0] if array.ndim == 2 else y
            results.append(self.normalizer.denormalize(y, array).astype(array.dtype, copy=False))
        return results

    # ------------------------------------------------------------------ forward passes

    @torch.no_grad()
    def _forward(self, x: torch.Tensor) -> torch.Tensor:
        """Generator on a canvas already padded to its multiple: [-1, 1] float32 on the CPU.
        (no_grad rather than inference_mode: the outputs are post-processed in place.)"""
        with autocast(self.device, self.precision):
            y = self.generator(x.to(self.device))
        return y.float().cpu()

    def _forward_tiled(self, canvas: torch.Tensor, tile: Tuple[int, int], limit: Optional[int]) -> torch.Tensor:
        """Blend tiles of ``tile`` = (height, width) over a padded canvas (module docstring)."""
        count, channels, height, width = canvas.shape
        overlap = self.overlap
        context, ramp = split_overlap(overlap)
        th, tw = tile
        boxes = [
            (r, c)
            for r in tile_starts(height, th, overlap, self.multiple)
            for c in tile_starts(width, tw, overlap, self.multiple)
        ]
        acc = torch.zeros(count, channels, height, width)
        weight_sum = torch.zeros(height, width)
        per_pass = max(1, limit // (th * tw * count)) if limit else 1
        for first in range(0, len(boxes), per_pass):
            chunk = boxes[first : first + per_pass]
            batch = torch.cat([canvas[:, :, r : r + th, c : c + tw] for r, c in chunk])
            out = self._forward(batch).view(len(chunk), count, channels, th, tw)
            for k, (r, c) in enumerate(chunk):
                wy = blend_window(th, r > 0, r + th < height, context, ramp)
                wx = blend_window(tw, c > 0, c + tw < width, context, ramp)
                w = torch.from_numpy(np.outer(wy, wx))
                acc[:, :, r : r + th, c : c + tw] += out[k] * w
                weight_sum[r : r + th, c : c + tw] += w
        return acc.div_(weight_sum)

    def _run(self, x: torch.Tensor, limit: Optional[int]) -> torch.Tensor:
        """(N, C, H, W) in [-1, 1] -> same, whole or tiled as ``tile`` and the budget decide."""
        canvas, pads = pad_to_multiple(x, self.multiple, self.min_size)
        tile = self.tile_shape(canvas.shape[-2], canvas.shape[-1], canvas.shape[0], limit)
        if tile is None:
            return crop(self._forward(canvas), pads)
        return crop(self._forward_tiled(canvas, tile, limit), pads)

    def _padded(self, size: int) -> int:
        return padded_size(size, self.multiple, self.min_size)

    # ------------------------------------------------------------------ public API

    def enhance(self, array: np.ndarray) -> np.ndarray:
        """Restore one image; the result has its shape and sample type."""
        self.check(array)
        return self._from_batch(self._run(self._to_batch([array]), self._limit()), [array])[0]

    def enhance_batch(self, arrays: Sequence[np.ndarray]) -> List[np.ndarray]:
        """Restore many images, running images of equal shape and type together in batches as
        large as the memory budget allows (images too large for one pass are tiled one by one)."""
        for array in arrays:
            self.check(array)
        budget = self.max_pixels()  # batches always respect memory, even when tiling is off
        limit = budget if self.tile == "auto" else None
        groups: Dict[Tuple[Any, ...], List[int]] = {}
        for i, array in enumerate(arrays):
            groups.setdefault((array.shape, array.dtype.str), []).append(i)
        results: List[Optional[np.ndarray]] = [None] * len(arrays)
        for indices in groups.values():
            shape = arrays[indices[0]].shape
            planes = 3 if (self.channels == 1 and len(shape) == 3 and shape[2] == 3) else 1
            pixels = self._padded(shape[0]) * self._padded(shape[1]) * planes
            per_pass = max(1, budget // pixels)
            for first in range(0, len(indices), per_pass):
                chunk = indices[first : first + per_pass]
                items = [arrays[i] for i in chunk]
                for i, y in zip(chunk, self._from_batch(self._run(self._to_batch(items), limit), items)):
                    results[i] = y
        return results  # type: ignore[return-value]
