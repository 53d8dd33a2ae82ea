"""The Enhancer: restore numpy images of any size with a trained generator (``microgan.load``).

An :class:`Enhancer` wraps a generator and keeps everything about an image that is not the
restoration itself: its size, sample type (uint8 / uint16 / float32) and channels. Four things
make that hold, fast and in bounded memory, for a 9x5 crop as well as a 4096x3072 field:

* **Padding by index, once.** The image is reflected 8 px beyond its edges (the networks'
  convolutions pad with zeros, which reads as a mid-grey frame: :data:`~microgan.core.portable.EDGE_MARGIN`)
  and padded to the generator's size multiple with the generator's own rule (reflect, split evenly;
  the indices come from :func:`microgan.core.portable.padding_index`), as exported graphs pad it.
  Tiles gather their pixels through the same indices from the native image: no image-sized float
  copy is ever made, only tile-sized ones.
* **Exact tiles.** Each tile is computed with a halo of context (the generator's measured tile
  margin, rounded up to its stride) and only its centre is kept (:mod:`microgan.infer.tiles`), so
  tiled output equals whole-image output; the only extra work is the halos, and the planner picks
  the grid that computes the fewest pixels.
* **A memory budget.** ``max_memory`` bounds the whole process (the GPU's allocations on CUDA);
  the planner (:attr:`Enhancer.planner`, :mod:`microgan.infer.planner`) plans the tiles from what
  the process already holds and the measured memory of one pass per pixel; the Enhancer is the
  runner that executes its plan.
* **The faster backend.** PyTorch in channels_last, or ONNX Runtime on the exported graph
  (:mod:`microgan.infer.backends`); ``auto`` races them once per model and machine.

``self_ensemble=True`` averages every pass over the image's eight rotations and mirror images
(:mod:`microgan.infer.ensemble`): a little better, eight times slower. ``consistency`` corrects the
network's output against its input with a fitted PSF (:mod:`microgan.infer.consistency`): on by
default for models trained blind, whose clean-image output it sharpens to what the input supports.
"""
from __future__ import annotations

import contextlib
import copy
import math
import warnings
from pathlib import Path
from typing import Any, Callable, Dict, List, Mapping, Optional, Sequence, Tuple, Union

import numpy as np
import torch
from torch import nn

from microgan.core.checkpoint import load_generator
from microgan.core.contract import NETWORK_RANGE, contract_of, from_network_, model_scale, to_network_
from microgan.core.device import DeviceLike, resolve_device, resolve_precision
from microgan.core.geometry import ReceptiveField, model_channels, padded_size, size_multiple
from microgan.core.fourier import solve_regions
from microgan.core.physics import NOISE_SCALE, consistent, deconvolution, discrepancy_weight, enlarged, estimate_noise
from microgan.core.portable import OUTPUT_LIMIT, edge_margin, padding_index
from microgan.core.psf import PsfLike, resolve_psf, second_moment_sigma
from microgan.data.normalize import Normalizer, build_normalizer
from microgan.errors import MicroGANError
from microgan.infer import calibrate
from microgan.infer.consistency import PsfFit, fit_psf, fit_window, refine
from microgan.infer.backends import BACKENDS, build_candidate, candidates_for, weights_digest
from microgan.infer.ensemble import dihedral_mean
from microgan.infer.memory import (
    DEFAULT_MAX_MEMORY,
    PeakMeter,
    release_free_memory,
)
from microgan.infer.planner import TilePlanner, TileLike
from microgan.infer.tiles import TilePlan



class Enhancer:
    """Restore numpy images with a generator, keeping size, sample type and channels.

    ``tile``: ``"auto"`` (tile only what does not fit ``max_memory``), ``None`` (never tile) or the
    side in pixels of the square a tile may take, halo included (raised, with a warning, to four
    halos when smaller: a tile must keep at least what it recomputes). ``halo``: ``"auto"`` (the
    measured tile margin, rounded up to the stride: tiles equal the whole image) or pixels.
    ``backend``: ``"auto"``, ``"torch"`` or ``"onnxruntime"``. ``max_memory``: bytes the process
    may use (None: no limit). ``normalizer``: a :class:`Normalizer`, a spec, or None for ``auto``
    (the range the data uses: :class:`~microgan.data.normalize.AutoNormalizer`; for data that fills
    its type, the ``range`` mapping training used). ``per_channel``: restore
    each channel of an RGB image with a grayscale model (refused otherwise). ``self_ensemble``:
    average eight passes, over the rotations and mirror images of each tile (8x the time).
    ``consistency``: ``"auto"`` (on for a model trained blind, :func:`trained_blind`), True or False:
    correct each whole restored image against its input with a fitted PSF (after the tiles, so tiled
    and whole-image results stay equal); the fits of the last call are in :attr:`fits`.

    A model told the PSF (``unet-psf``, :mod:`microgan.core.physics`) is given each image's
    deconvolution with ``psf`` (a kernel, a spec such as ``gauss:2.6``, a PSF image file:
    :func:`microgan.core.psf.resolve_psf`) and its noise level, computed on the whole image before
    the tiles; ``consistency`` then means a final data-consistency solve with that PSF, its weight
    chosen per image by the discrepancy principle (:func:`microgan.core.physics.discrepancy_weight`). Without
    ``psf`` the PSF is estimated per image: the blind model ``psf_estimator`` restores the image
    and the blur that maps its restoration back onto the input is fitted
    (:mod:`microgan.infer.consistency`). :attr:`fits` then holds the PSF each image was restored
    with (``kind`` ``given`` or the fitted family) and the noise read off it.

    An upscaling model (:attr:`scale` > 1, trained with the camera's sampling ``down:S``) returns
    images ``scale`` times larger: its network input is made on the fine grid (the image enlarged by
    bicubic interpolation, the Tikhonov solve with PSF and sampling, :mod:`microgan.core.physics`), the
    tiles run there, and the data-consistency solve uses the sampled forward model. It must be told
    the PSF (estimating it from a coarse image is not done yet).
    """

    def __init__(
        self,
        generator: nn.Module,
        meta: Optional[Mapping[str, Any]] = None,
        device: DeviceLike = "auto",
        precision: str = "auto",
        tile: TileLike = "auto",
        halo: Union[str, int] = "auto",
        normalizer: Union[Normalizer, str, Dict[str, Any], None] = None,
        per_channel: bool = False,
        backend: str = "auto",
        max_memory: Optional[int] = DEFAULT_MAX_MEMORY,
        self_ensemble: bool = False,
        consistency: Union[str, bool] = "auto",
        psf: Optional[PsfLike] = None,
        psf_estimator: Union[str, Path, None] = "microgan-blind",
    ) -> None:
        self._noted: set = set()
        self.device = resolve_device(device)
        self.generator = generator.to(self.device).eval()
        self.meta: Dict[str, Any] = dict(meta or {})
        self.precision = resolve_precision(precision, self.device)
        #: a model told the PSF: its input is the image, its deconvolution and the noise level
        self.takes_psf = bool(getattr(generator, "takes_psf", False))
        #: the network's input channels, and the image channels it restores
        self.net_channels = model_channels(generator, self.meta)
        self.channels = int(getattr(generator, "image_channels")) if self.takes_psf else self.net_channels
        if self.channels not in (1, 3):
            raise MicroGANError(f"generator takes {self.channels} channels; only 1 (gray) or 3 (RGB) are images")
        self.psf: Optional[np.ndarray] = None
        self.set_psf(psf)
        self.psf_estimator = psf_estimator
        self._estimator: Optional["Enhancer"] = None
        self.multiple, self.min_size = size_multiple(generator)
        #: image reflected beyond each edge before the network (core.portable.EDGE_MARGIN)
        self.edge_margin = edge_margin(generator)
        if backend not in BACKENDS:
            raise MicroGANError(f"backend '{backend}': choose one of {', '.join(BACKENDS)}")
        if getattr(generator, "pads_itself", False) and tile is not None:
            # it pads each input for its network itself, so tiles would each get their own grid
            raise MicroGANError("a model with its PSF built in (an export) runs whole images here (tile=None); "
                                "for tiled restoration load the model told the PSF with psf=...")
        #: halo, memory budget and tiles (infer.planner): public, for benchmarks and front ends
        self.planner = TilePlanner(generator, self.net_channels, self.device, self.precision, self.multiple,
                                   self.min_size, self, tile=tile, halo=halo, max_memory=max_memory,
                                   self_ensemble=self_ensemble, note=self._note)
        self._backend_choice = backend
        self._backend: Any = None
        self.normalizer = normalizer if isinstance(normalizer, Normalizer) else build_normalizer(normalizer)
        self.per_channel = per_channel
        if consistency not in ("auto", True, False):
            raise MicroGANError(f"consistency '{consistency}': use auto, True or False")
        auto = self.takes_psf or trained_blind(self.meta)
        self.consistency = auto if consistency == "auto" else bool(consistency)
        #: the PSF fitted to each image of the last enhance/enhance_batch call (with consistency)
        self.fits: List[PsfFit] = []
        self._digest: Optional[str] = None
        #: how the model's values map (core.contract): recorded by training, else the one there has been
        self.contract, recorded = contract_of(self.meta or {})
        if tuple(self.contract.get("network_range", ())) != NETWORK_RANGE:
            raise MicroGANError(f"the model maps values to {self.contract.get('network_range')}, not the "
                                f"{list(NETWORK_RANGE)} this version of microgan runs (core.contract)")
        #: upscaling: the output is this many times larger than the input (the model's training sampling)
        self.scale = model_scale(self.contract)
        #: how many times larger than its input the network itself returns: 1, but for an upscaling model
        #: with its PSF built in (an export's generator, whole images only), which enlarges by itself
        self.network_scale = 1 if self.takes_psf else int(getattr(generator, "scale", 1))
        if self.scale > 1 and not self.takes_psf and self.network_scale != self.scale:
            raise MicroGANError(f"an upscaling model (x{self.scale}) must be told the PSF (unet-psf) or have it built in")
        if not recorded and (self.meta or {}).get("config"):
            self._note("contract", f"{self.meta.get('path') or 'the checkpoint'} records no value contract (written "
                       "before 2026-12-07): the one every model had then is assumed (core.contract)")
        #: called before every network pass (each tile of each batch; eight per tile with
        #: self_ensemble), whatever the backend: a front end raises from one to cancel between
        #: passes (the napari plugin does)
        self.pass_hooks: List[Callable[[], None]] = []

    def __copy__(self) -> "Enhancer":
        """A shallow copy (the network, its backend and measurements shared) with its own planner, so
        settings changed on the copy (``self_ensemble``, ``tile``, ``max_memory``) stay its own."""
        clone = object.__new__(type(self))
        clone.__dict__.update(self.__dict__)
        clone.planner = copy.copy(self.planner)
        clone.planner.runner = clone
        return clone

    @classmethod
    def from_model(cls, model: Union[str, Path, None] = None, device: DeviceLike = "auto", **kwargs: Any) -> "Enhancer":
        """Load a checkpoint file, run folder or bundled model name (None: the bundled default)."""
        dev = resolve_device(device)
        net, meta = load_generator(model, dev)
        return cls(net, meta, device=dev, **kwargs)

    def require_scale(self, scale: int) -> None:
        """Refuse, in one line, a model that does not upscale by ``scale`` (``--scale``, ``scale=``)."""
        if int(scale) != self.scale:
            name = self.meta.get("path") or "the model"
            does = f"upscales by {self.scale}" if self.scale > 1 else "restores at the input's size"
            raise MicroGANError(f"{name} {does}, not by {scale}: give a model trained for x{scale} "
                                f"(microgan-psf-x{scale}) or leave the scale out")

    def _note(self, key: str, message: str) -> None:
        if key not in self._noted:
            self._noted.add(key)
            warnings.warn(message, stacklevel=3)

    # ------------------------------------------------------------------ backend, lazily chosen

    @property
    def digest(self) -> str:
        """The weights' digest (the key of every per-model cache)."""
        if self._digest is None:
            self._digest = weights_digest(self.generator)
        return self._digest

    @property
    def backend(self) -> Any:
        """The backend that runs passes, built on first use (``auto``: raced once, cached)."""
        if self._backend is None:
            self._backend = self._build_backend()
        return self._backend

    def use_backend(self, candidate: str) -> None:
        """Run passes with ``candidate`` (``backend.candidate`` of another Enhancer of this model):
        the ranks restoring one slide must all run the backend rank 0 raced, or its tiles would mix
        two runtimes' rounding."""
        if self._backend is None or self._backend.candidate != candidate:
            self._backend = build_candidate(candidate, self.generator, self.meta, self.device, self.precision, self.digest)

    @property
    def backend_name(self) -> str:
        """``torch`` or ``onnxruntime`` (``backend.candidate`` adds PyTorch's layout)."""
        return self.backend.name

    def _build_backend(self) -> Any:
        """The candidate the choice allows, or the fastest of them: raced once per model, precision
        and machine, each candidate on its own copy of the generator, and remembered."""
        names = candidates_for(self._backend_choice, self.device, self.precision)
        if len(names) == 1:
            return build_candidate(names[0], self.generator, self.meta, self.device, self.precision, self._digest)
        key = f"speed|{self.digest}|{self.precision}|{'+'.join(names)}|{calibrate.machine(self.device)}"
        known = calibrate.recall(key)
        if known and isinstance(known.get("winner"), str) and known["winner"] in names:
            try:
                return build_candidate(known["winner"], self.generator, self.meta, self.device, self.precision, self.digest)
            except MicroGANError:
                pass  # e.g. the cached graph was deleted and cannot be exported again: race anew
        racers = {}
        for name in names:
            try:
                racers[name] = build_candidate(name, copy.deepcopy(self.generator), self.meta, self.device,
                                               self.precision, self.digest)
            except Exception as exc:  # noqa: BLE001 - an export failure leaves PyTorch, which always works
                if name != "onnxruntime":
                    raise
                self._note("export", f"backend auto: ONNX export failed ({exc}); racing PyTorch only")
        side = padded_size(calibrate.SPEED_SIDE, self.multiple, self.min_size)
        seconds = calibrate.race(racers, calibrate.probe_input(1, self.net_channels, side))
        winner = min(seconds, key=seconds.get)
        calibrate.remember(key, {"winner": winner, "seconds": seconds, "side": side})
        del racers
        return build_candidate(winner, self.generator, self.meta, self.device, self.precision, self.digest)

    # ------------------------------------------------------------------ the plan (infer.planner)

    tile = property(lambda self: self.planner.tile, lambda self, value: setattr(self.planner, "tile", value),
                    doc="``auto``, None (whole images) or a tile side: the planner's setting")
    max_memory = property(lambda self: self.planner.max_memory,
                          lambda self, value: setattr(self.planner, "max_memory", value),
                          doc="bytes the whole process may hold (None: unbounded): the planner's budget")
    self_ensemble = property(lambda self: self.planner.self_ensemble,
                             lambda self, value: setattr(self.planner, "self_ensemble", bool(value)),
                             doc="average every pass over the eight symmetries (the planner counts its buffers)")

    @property
    def field(self) -> Optional[ReceptiveField]:
        """The generator's measured receptive field (:attr:`TilePlanner.field`)."""
        return self.planner.field

    @property
    def halo(self) -> int:
        """Context pixels a tile computes beyond the part it keeps (:attr:`TilePlanner.halo`)."""
        return self.planner.halo

    def plan(self, height: int, width: int, planes: int = 1, reserve: int = 0) -> TilePlan:
        """Tiles for a padded canvas (:meth:`TilePlanner.plan`)."""
        return self.planner.plan(height, width, planes, reserve)

    def bytes_per_pixel_bound(self) -> float:
        """Upper bound of a pass's bytes per pixel (:meth:`TilePlanner.bytes_per_pixel_bound`)."""
        return self.planner.bytes_per_pixel_bound()

    def bytes_per_pixel(self, budget: float = math.inf) -> float:
        """Measured bytes per pixel of a pass (:meth:`TilePlanner.bytes_per_pixel`)."""
        return self.planner.bytes_per_pixel(budget)

    def release_backend(self) -> None:
        """Let the backend drop what it caches between passes, if it was built (the planner reads
        the process's memory after this)."""
        if self._backend is not None:
            self._backend.release()

    # ------------------------------------------------------------------ channels and values

    def check(self, array: np.ndarray) -> None:
        """Raise a clear :class:`MicroGANError` for an array this enhancer cannot restore."""
        if not isinstance(array, np.ndarray):
            raise MicroGANError(f"expected a numpy array, got {type(array).__name__}")
        if isinstance(array, np.ma.MaskedArray):  # its masked values would be restored as data
            raise MicroGANError("a masked array: fill its masked values first (array.filled(value)) or pass array.data")
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
            if self.normalizer.name == "range" and (low < 0 or high > 1):  # auto maps such data by its own range
                raise MicroGANError(
                    f"float image values span [{low:.4g}, {high:.4g}], outside the [0, 1] that range "
                    "normalization expects: use the percentile normalizer (--normalize percentile)"
                )

    def _planes(self, array: np.ndarray) -> int:
        """Images one array becomes in a pass: 3 for RGB restored per channel by a gray model."""
        return 3 if (self.channels == 1 and array.ndim == 3 and array.shape[2] == 3) else 1

    def _to_batch(self, crops: Sequence[np.ndarray], bounds: Sequence[Tuple[float, float]]) -> np.ndarray:
        """Crops of one shape -> (N, C_model, H, W) float32 in [-1, 1]. Gray crops on an RGB model
        are replicated to three channels; RGB crops on a gray model (per_channel) become 3 planes."""
        planes = []
        for crop, bound in zip(crops, bounds):
            x = self.normalizer.normalize(crop, bound)
            x = x.reshape(x.shape[0], x.shape[1], -1).transpose(2, 0, 1)  # (C_img, H, W)
            if self.channels == 3 and x.shape[0] == 1:
                x = np.repeat(x, 3, axis=0)
            planes.extend([x] if self.channels == 3 else list(x[:, None]))
        return to_network_(np.stack(planes))

    def _from_batch(
        self, out: np.ndarray, likes: Sequence[np.ndarray], bounds: Sequence[Tuple[float, float]]
    ) -> List[np.ndarray]:
        """(N, C_model, H, W) in [-1, 1] -> arrays shaped and typed like ``likes`` (their kept part).

        A gray image restored by an RGB model comes back as the mean of the three output channels:
        its three inputs were equal, so no channel deserves luminance weighting over another.
        Outputs are clipped to [-1, 1] (the architecture contract) under the range normalizer; a
        percentile normalizer's values may legitimately exceed its 0..1 bounds, and its
        denormalization clips to the sample type instead.
        """
        if not np.isfinite(out).all():  # clipping or casting would turn it into a black image
            raise MicroGANError(
                "the model's output holds NaN or Inf values (non-finite weights, or an overflow: "
                "try precision fp32 / --precision fp32)"
            )
        peak = float(np.abs(out).max()) if out.size else 0.0
        if peak > OUTPUT_LIMIT:  # clipping would write a saturated image as if it were a restoration
            raise MicroGANError(f"the model's output reaches {peak:.3g}, far outside its [-1, 1] range: its weights are "
                                "broken or overflow (try precision fp32 / --precision fp32)")
        values = from_network_(np.clip(out, *NETWORK_RANGE) if self.normalizer.bounded else out.copy())
        results, i = [], 0
        for like, bound in zip(likes, bounds):
            gray = like.ndim == 2 or like.shape[2] == 1
            if self.channels == 3:
                y = values[i].mean(axis=0, keepdims=True) if gray else values[i]
                i += 1
            else:
                n = 1 if gray else 3
                y = values[i : i + n, 0]
                i += n
            y = y.transpose(1, 2, 0)
            y = y[:, :, 0] if like.ndim == 2 else y
            results.append(self.normalizer.denormalize(y, like, bound).astype(like.dtype, copy=False))
        return results

    # ------------------------------------------------------------------ passes

    def canvas(self, height: int, width: int) -> Tuple[np.ndarray, int, np.ndarray, int]:
        """(row indices, rows padded before, column indices, columns padded before) of the padded canvas
        of an image of ``height`` x ``width``: the image pixel each canvas pixel is (public for
        :mod:`microgan.infer.slide`, which runs the same canvas a tile at a time)."""
        rows, top = padding_index(torch.tensor(height), self.multiple, self.min_size, self.edge_margin)
        cols, left = padding_index(torch.tensor(width), self.multiple, self.min_size, self.edge_margin)
        return rows.numpy(), int(top), cols.numpy(), int(left)

    def run_network(self, arrays: Sequence[np.ndarray], reserve: int,
                    psf_inputs: Optional[Sequence[Tuple[np.ndarray, float]]] = None,
                    bounds: Optional[Sequence[Tuple[float, float]]] = None) -> List[np.ndarray]:
        """The network alone on arrays of one shape and type (one pass per tile of their canvas): no
        data-consistency step, no deconvolution made here (what the benchmarks time as "the network").
        ``psf_inputs``: for a model told the PSF, each array's deconvolution channels and noise level
        (:func:`microgan.core.physics.deconvolution`), which each tile's batch adds to the image's.
        ``bounds``: each array's normalization bounds when it is a window of a larger image (the
        image's, so the window maps its values as the whole image does); default: its own."""
        height, width = arrays[0].shape[:2]
        rows, top, cols, left = self.canvas(height, width)
        k = self.network_scale
        outputs = [np.empty((a.shape[0] * k, a.shape[1] * k) + a.shape[2:], dtype=a.dtype) for a in arrays]
        held = reserve + sum(o.nbytes for o in outputs)  # outputs fill up page by page: count them now
        planes = sum(self._planes(a) for a in arrays)
        plan = self.plan(len(rows), len(cols), planes, held)
        if len(arrays) > 1 and len(plan) > 1:
            return [out for i, a in enumerate(arrays)
                    for out in self.run_network([a], reserve, None if psf_inputs is None else [psf_inputs[i]],
                                                None if bounds is None else [bounds[i]])]
        bounds = list(bounds) if bounds is not None else [self.normalizer.bounds(a) for a in arrays]
        # learnt only from plain passes: the cache serves enhancers with and without the ensemble
        observe = self.planner.observes(plan)
        with PeakMeter(self.device) if observe else contextlib.nullcontext() as meter:
            self.run_tiles(arrays, plan, bounds, outputs, rows, top, cols, left, psf_inputs)
        if observe and meter.growth is not None:
            self.planner.learn_bytes_per_pixel(meter.growth - sum(o.nbytes for o in outputs), plan.tile_pixels * planes)
        return outputs

    def run_tiles(self, arrays, plan: TilePlan, bounds, outputs, rows, top: int, cols, left: int, psf_inputs=None) -> None:
        """Run every tile of ``plan`` and write its kept part into ``outputs`` (each tile's batch
        completed with the same tile of ``psf_inputs`` for a model told the PSF). ``rows``/``cols``
        index ``arrays`` and ``top``/``left`` say where ``arrays`` start on the canvas: a slide passes
        the canvas indices rebased onto the window it read, and a one-tile plan."""
        height, width = arrays[0].shape[:2]
        k = self.network_scale  # an upscaler with its PSF built in returns k times the tile (whole images only)
        for r, c in plan:
            # kept part, clipped to the image (padding is computed but never written back)
            r0, r1 = max(r.keep_start, top), min(r.keep_stop, top + height)
            c0, c1 = max(c.keep_start, left), min(c.keep_stop, left + width)
            if r0 >= r1 or c0 >= c1:
                continue
            index = np.ix_(rows[r.start : r.stop], cols[c.start : c.stop])
            crops = [a[index] for a in arrays]
            batch = self._to_batch(crops, bounds)
            if psf_inputs is not None:
                batch = self._with_psf_channels(batch, [(part[0][index], part[1]) + tuple(p[index] for p in part[2:])
                                                        for part in psf_inputs])
            y = dihedral_mean(self._pass, batch) if self.self_ensemble else self._pass(batch)
            y = y[:, :, k * (r0 - r.start) : k * (r1 - r.start), k * (c0 - c.start) : k * (c1 - c.start)]
            likes = [crop[r0 - r.start : r1 - r.start, c0 - c.start : c1 - c.start] for crop in crops]
            for out, piece in zip(outputs, self._from_batch(y, likes, bounds)):
                out[k * (r0 - top) : k * (r1 - top), k * (c0 - left) : k * (c1 - left)] = piece
            if len(plan) > 1:
                del y, batch, crops, likes
                release_free_memory()  # so the next tile finds the room the plan counted on

    def _with_psf_channels(self, batch: np.ndarray, parts: Sequence[Tuple[Any, ...]]) -> np.ndarray:
        """A model told the PSF: each image's tile (N, C, h, w) in [-1, 1] followed by its
        deconvolution channels (gray ones repeated for an RGB model) and its noise channel, the
        channels :func:`microgan.core.physics.network_input` makes for training. A part of three
        (upscaling): its third, the enlarged image in network units, replaces the tile's image channels
        (the float interpolation training saw, not its rounding to the sample type)."""
        out = np.empty((batch.shape[0], self.net_channels) + batch.shape[2:], np.float32)
        c = self.channels
        out[:, :c] = batch
        for i, (z, sigma, *image) in enumerate(parts):
            if image:
                out[i, :c] = image[0].transpose(2, 0, 1)
            out[i, c : 2 * c] = z.transpose(2, 0, 1)  # (1, h, w) broadcasts over an RGB model's channels
            out[i, 2 * c] = NOISE_SCALE * sigma
        return out

    def _pass(self, batch: np.ndarray) -> np.ndarray:
        """One network pass, after the front end's hooks (which may cancel between passes)."""
        for hook in self.pass_hooks:
            hook()
        return self.backend(batch)

    # ------------------------------------------------------------------ public API

    def prepare(self, pixels: int = 0) -> None:
        """Take now the measurements a run will need (the backend race; the memory per pixel when
        an image of ``pixels`` pixels may need tiles), rather than while other threads work."""
        self.backend
        self.planner.prepare(pixels)

    def enhance(self, array: np.ndarray, reserve: int = 0) -> np.ndarray:
        """Restore one image; the result has its shape and sample type. ``reserve``: bytes other
        work of this process will hold meanwhile (images being read or written)."""
        self.check(array)
        if _constant(array):  # any blur of a flat field is the flat field: it is its own restoration
            self.fits = []
            return _flat(array, self.scale)
        if self.takes_psf:
            return self._told([array], reserve)[0]
        return self._consistent([array], self.run_network([array], reserve))[0]

    def enhance_batch(self, arrays: Sequence[np.ndarray], reserve: int = 0) -> List[np.ndarray]:
        """Restore many images, running images of equal shape and type together in passes as
        large as the memory budget allows (images too large for one pass are tiled one by one)."""
        for array in arrays:
            self.check(array)
        if self.takes_psf:  # each image has its own network input: one by one
            return _flat_kept(arrays, self._told(arrays, reserve), self.scale)
        groups: Dict[Tuple[Any, ...], List[int]] = {}
        for i, array in enumerate(arrays):
            groups.setdefault((array.shape, array.dtype.str), []).append(i)
        results: List[Optional[np.ndarray]] = [None] * len(arrays)
        for indices in groups.values():
            first = arrays[indices[0]]
            pixels = self._padded(first.shape[0]) * self._padded(first.shape[1]) * self._planes(first)
            out_bytes = sum(arrays[i].nbytes for i in indices)
            limit = self.planner.pixel_limit(self.planner.budget(reserve + out_bytes), pixels * len(indices))
            per_pass = len(indices) if math.isinf(limit) else max(1, int(limit // pixels))
            for start in range(0, len(indices), per_pass):
                chunk = indices[start : start + per_pass]
                for i, y in zip(chunk, self.run_network([arrays[i] for i in chunk], reserve)):
                    results[i] = y
        return _flat_kept(arrays, self._consistent(arrays, results))  # type: ignore[arg-type]

    def _consistent(self, arrays: Sequence[np.ndarray], outputs: List[np.ndarray]) -> List[np.ndarray]:
        """With ``consistency``: each output corrected against its input (in place of it)."""
        self.fits = []
        if not self.consistency:
            return outputs
        norm = self.normalizer
        # under range normalization results stay in [0, 1] as the network's do (_from_batch);
        # a percentile normalizer's may exceed its bounds, and denormalization clips to the type
        clip = (lambda v: np.clip(v, 0, 1, out=v)) if norm.bounded else (lambda v: v)
        for i, (array, output) in enumerate(zip(arrays, outputs)):
            bound = norm.bounds(array)
            # tile by tile in the normalized range, never an image-sized float copy (consistency.correct)
            outputs[i], fit = refine(output, array, lambda a, b=bound: norm.normalize(a, b),
                                     lambda v, like, b=bound: norm.denormalize(clip(v), like, b).astype(like.dtype, copy=False))
            self.fits.append(fit)
        return outputs

    def _padded(self, size: int) -> int:
        """The canvas side a pass runs on for an image side of ``size`` (the edge margin included)."""
        return padded_size(size + 2 * self.edge_margin, self.multiple, self.min_size)

    # ------------------------------------------------------------------ a model told the PSF

    def set_psf(self, psf: Optional[PsfLike]) -> None:
        """Tell this model (one told the PSF) the PSF of the images that follow (None: estimate it)."""
        kernel = resolve_psf(psf)
        if kernel is not None and not self.takes_psf:
            raise MicroGANError("this model was trained blind and cannot be told a PSF: use a PSF-aware model "
                                "(microgan-psf) with --psf, or leave --psf out")
        self.psf = kernel

    @property
    def estimator(self) -> "Enhancer":
        """The blind model whose restoration the PSF is fitted to when none is given (loaded once)."""
        if self._estimator is None:
            if self.psf_estimator is None:
                raise MicroGANError("this model needs a PSF: give one (--psf), or a blind model to estimate it from")
            self._estimator = Enhancer.from_model(
                self.psf_estimator, device=self.device, precision=self.precision, tile=self.tile,
                backend=self._backend_choice, max_memory=self.max_memory, consistency=True, normalizer=self.normalizer,
                per_channel=self.channels == 1)
        return self._estimator

    def _kernel_for(self, array: np.ndarray, reserve: int) -> Tuple[np.ndarray, Optional[PsfFit]]:
        """The PSF to restore ``array`` with: the given one, or the best fit to the blind model's
        restoration. An uninformative fit is used too: with camera noise the fit's errors barely
        differ between widths (it is "uninformative" by the consistency step's rule), yet its best
        width is still the best guess; a featureless image is unharmed by any kernel."""
        if self.psf is not None:
            return self.psf, None
        estimator = self.estimator
        estimator.check(array)
        bound = self.normalizer.bounds(array)
        to_unit = lambda a: self.normalizer.normalize(a, bound)  # noqa: E731
        # only the window the fit is scored on is restored, with the blind model's halo around it
        # (exact tiles: its pixels equal the whole image's restoration there): on a 4096x3072
        # field that is one 1024-px pass instead of the whole field
        region, margins = fit_window(array, to_unit)
        halo = estimator.halo
        grown = tuple(slice(max(s.start - halo, 0), min(s.stop + halo, n)) for s, n in zip(region, array.shape[:2]))
        inner = tuple(slice(s.start - g.start, s.stop - g.start) for s, g in zip(region, grown))
        restored = estimator.run_network([np.ascontiguousarray(array[grown])], reserve, bounds=[bound])[0]
        fit = fit_psf(to_unit(restored[inner]), to_unit(array[region]), margins)
        return fit.kernel.astype(np.float64), fit

    def _told(self, arrays: Sequence[np.ndarray], reserve: int) -> List[np.ndarray]:
        """Restore each image with a model told the PSF: its network input on the whole image, the
        network in tiles over it, then (``consistency``) the data-consistency solve with the PSF at
        the weight the discrepancy principle picks on the image's most textured window."""
        norm = self.normalizer
        clip = (lambda v: np.clip(v, 0, 1, out=v)) if norm.bounded else (lambda v: v)
        results, self.fits = [], []
        s = self.scale
        if s > 1 and self.psf is None:
            raise MicroGANError(f"an upscaling model (x{s}) needs the PSF of the images (--psf, psf=...): "
                                "estimating it from a coarse image is not supported yet")
        for array in arrays:
            kernel, fit = self._kernel_for(array, reserve)
            bound = norm.bounds(array)
            to_unit = lambda a, b=bound: norm.normalize(a, b)  # noqa: E731
            sigma = estimate_noise(to_unit(array))  # at least NOISE_FLOOR; one float copy, freed before the passes
            z = deconvolution(array, kernel, sigma, to_unit=to_unit, scale=s)  # region by region from the native pixels
            if s == 1:
                out = self.run_network([array], reserve + z.nbytes, [(z, sigma)])[0]
            else:  # the tiles run on the fine grid: the enlarged image (exact floats, and natively for the output's type)
                image = to_network_(enlarged(to_unit(array), s).reshape(z.shape[:2] + (-1,)))
                fine = norm.denormalize(from_network_(image.copy()), array, bound).reshape(image.shape[:2] + array.shape[2:])
                out = self.run_network([fine], reserve + z.nbytes + image.nbytes, [(z, sigma, image)], bounds=[bound])[0]
                del image, fine
            del z
            lam = None
            if self.consistency:
                region, margin = fit_window(array, to_unit)
                fine_region = tuple(slice(r.start * s, r.stop * s) for r in region)
                lam = discrepancy_weight(to_unit(out[fine_region]), to_unit(array[region]), kernel, sigma, margin, scale=s)
            if lam is not None and s == 1:
                out = solve_regions(array, kernel, lam, prior=out, to_unit=to_unit,
                                    from_unit=lambda v, like, b=bound: norm.denormalize(clip(v), like, b).astype(like.dtype, copy=False))
            elif lam is not None:
                out = norm.denormalize(clip(consistent(to_unit(array), kernel, lam, to_unit(out), s)), out, bound).astype(out.dtype, copy=False)
                out = out.reshape((array.shape[0] * s, array.shape[1] * s) + array.shape[2:])
            results.append(out)
            used = fit if fit is not None else PsfFit("given", second_moment_sigma(kernel), kernel)
            self.fits.append(PsfFit(used.kind, used.width, kernel, sigma**2, informative=used.informative))
        return results


def _constant(array: np.ndarray) -> bool:
    """A flat field (every sample equal): the network's zero-padded convolutions would draw a frame
    into it (24 grey levels at the border of an all-black image, issue 30)."""
    return array.size > 0 and bool(array.min() == array.max())


def _flat(array: np.ndarray, scale: int = 1) -> np.ndarray:
    """A flat field's restoration: itself, on the output's grid."""
    if scale == 1:
        return array.copy()
    return np.full((array.shape[0] * scale, array.shape[1] * scale) + array.shape[2:], array.flat[0], array.dtype)


def _flat_kept(arrays: Sequence[np.ndarray], outputs: List[np.ndarray], scale: int = 1) -> List[np.ndarray]:
    """Each flat input comes back as itself (see :func:`_constant`), the others as restored."""
    return [_flat(array, scale) if _constant(array) else out for array, out in zip(arrays, outputs)]


def trained_blind(meta: Mapping[str, Any]) -> bool:
    """Whether a checkpoint's model was trained on degradations drawn per crop (a ``data.degradation``
    pipeline, as ``microgan-blind`` and its fine-tunes): such a model was never told the blur, and
    :mod:`microgan.infer.consistency` recovers what that costs on clean images. A model trained on
    prepared pairs (``microgan-bccd``, the paper's recipe) learnt its one blur exactly."""
    data = ((meta or {}).get("config") or {}).get("data") or {}
    return bool(data.get("degradation"))
