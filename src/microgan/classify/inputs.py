"""Input kinds of ``microgan classify`` and the classifier's pre-processing.

Kinds: ``hr`` (the sharp crops), ``lr`` (the degraded crops), ``sr:MODEL`` (the LR crops restored
by a model) and ``classical:NAME`` (restored by a classical deconvolution, e.g. ``classical:wiener``,
with the crop's exact PSF and its parameters tuned for PSNR on validation crops: the comparison
the paper never made). LR crops are the prepared ones, or, with a degradation given, made from
the HR crops on the fly with a draw seeded by the crop id (:class:`LowRes`).

Restored crops are cached on disk under ``CACHE/<restorer key>/<LR sha1>.<ext>``, keyed by content
on both sides (the checkpoint's digest and inference precision, or the classical method with its
parameters; the LR pixels), so a retrained checkpoint or another degradation never reuses a stale
result, while re-running with other folds, classifiers or seeds skips the restoration entirely.
"""
from __future__ import annotations

import hashlib
import json
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Dict, Iterator, List, Optional, Union

import cv2
import numpy as np

from microgan.classify.data import LabelledCrop, LabelledData
from microgan.core.files import file_digest
from microgan.core.sampling import crop_to_scale
from microgan.data.degrade import Degradation
from microgan.data.io import read_image, to_float, write_image
from microgan.errors import ImageReadError, MicroGANError

PathLike = Union[str, Path]
RESIZE_MODES = ("stretch", "pad")


@dataclass(frozen=True)
class InputKind:
    """``spec`` as the user wrote it (the key in classify.json); ``checkpoint`` is the model of an
    ``sr`` kind or the method of a ``classical`` one."""

    spec: str
    kind: str
    checkpoint: Optional[str] = None
    #: a file-name-safe name for heat maps and tables
    slug: str = ""


def _slug(prefix: str, name: str) -> str:
    return prefix + "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in name)


def parse_input_kind(spec: str) -> InputKind:
    if spec in ("hr", "lr"):
        return InputKind(spec, spec, None, spec)
    if spec.startswith("sr:") and len(spec) > 3:
        ckpt = spec[3:]
        return InputKind(spec, "sr", ckpt, _slug("sr-", Path(ckpt).stem or Path(ckpt).name))
    if spec.startswith("classical:") and len(spec) > len("classical:"):
        from microgan.infer.classical import Baseline  # noqa: F401  (registers the methods)
        from microgan.registry import BASELINES

        name = spec.split(":", 1)[1]
        if name not in BASELINES or name == "identity":
            known = ", ".join(n for n in BASELINES if n != "identity")
            raise MicroGANError(f"unknown classical method '{name}' in input '{spec}' (known: {known})")
        return InputKind(spec, "classical", name, _slug("classical-", name))
    raise MicroGANError(f"unknown input kind '{spec}' (expected hr, lr, sr:MODEL or classical:METHOD)")


def check_input(kind: InputKind, data: LabelledData, lowres: "LowRes") -> None:
    """Fail before any work if an input kind cannot be served: no HR in the layout, missing image
    files (the first few are named) or a missing checkpoint."""
    if kind.kind in ("hr", "classical") and data.layout != "prepared":
        raise MicroGANError(
            f"{data.root}: input '{kind.spec}' needs a prepared folder (manifest.csv: HR crops and the "
            "degradation's PSF); a folder-per-class layout only has the images as given (input 'lr')"
        )
    if lowres.degradation is not None and data.layout != "prepared":
        raise MicroGANError(f"{data.root}: a degradation makes LR crops from HR crops, which only a prepared folder has")
    if kind.kind == "sr":
        from microgan.core.checkpoint import resolve_model_path

        resolve_model_path(kind.checkpoint)  # raises CheckpointError naming the missing file
    paths = [c.hr if kind.kind == "hr" else c.lr for c in data.crops]
    if lowres.degradation is not None:  # LR is made from HR
        paths = [c.hr for c in data.crops]
    missing = [p for p in paths if not p.is_file()]
    if missing:
        shown = ", ".join(str(p) for p in missing[:3])
        raise ImageReadError(
            f"input '{kind.spec}': {len(missing)} of {len(paths)} image files are missing ({shown}"
            f"{', ...' if len(missing) > 3 else ''})"
        )


class LowRes:
    """The LR crop of a labelled crop: the prepared file, or (``degradation`` given) the HR crop
    degraded with a draw seeded by ``(seed, crop id)``, the same for every input kind."""

    def __init__(self, degradation: Optional[Degradation] = None, seed: int = 0) -> None:
        self.degradation = degradation
        self.seed = seed

    def __call__(self, crop: LabelledCrop) -> np.ndarray:
        if self.degradation is None:
            return read_image(crop.lr).array
        rng = np.random.default_rng([self.seed, zlib.crc32(crop.id.encode())])
        return self.degradation(self.truth(crop), rng)

    def truth(self, crop: LabelledCrop) -> np.ndarray:
        """The HR crop the LR crop was made from: cut to multiples of a sampling degradation's scale
        (upscaling, ``down:S``: :func:`microgan.core.sampling.crop_to_scale`), else as stored."""
        hr = read_image(crop.hr).array
        scale = self.degradation.scale if self.degradation is not None else 1
        return np.ascontiguousarray(crop_to_scale(hr, scale)) if scale > 1 else hr

    def spec(self, crop: LabelledCrop) -> Dict[str, Any]:
        """The degradation that made this crop's LR (for a classical method's PSF)."""
        if self.degradation is not None:
            return self.degradation.spec()
        return json.loads(crop.degradation) if crop.degradation else {}


class _Cached:
    """Restores LR arrays with ``restore``, reading and filling the cache folder ``folder``."""

    def __init__(self, folder: Path, restore: Callable[[np.ndarray, LabelledCrop], np.ndarray]) -> None:
        self.folder = folder
        self.restore = restore

    def __call__(self, lr: np.ndarray, crop: LabelledCrop) -> np.ndarray:
        digest = hashlib.sha1(np.ascontiguousarray(lr).tobytes())
        digest.update(f"{lr.shape}{lr.dtype}".encode())
        key = digest.hexdigest()[:24]
        for cached in (self.folder / f"{key}.png", self.folder / f"{key}.tif"):
            if cached.is_file():
                return read_image(cached).array
        restored = np.asarray(self.restore(lr, crop))
        suffix = ".tif" if restored.dtype == np.float32 else ".png"
        write_image(self.folder / f"{key}{suffix}", restored, overwrite=True)
        return restored


def _model_restorer(checkpoint: str, cache_dir: Path, device: str, lowres: LowRes) -> _Cached:
    from microgan.core.checkpoint import resolve_model_path
    from microgan.infer import Enhancer

    path = resolve_model_path(checkpoint)
    enhancer = Enhancer.from_model(str(path), device=device)
    # the step after the network changes the pixels: its setting is part of what is cached
    step = "-consistency" if enhancer.consistency else ""
    folder = Path(cache_dir) / f"sr-{file_digest(path, 'sha256')[:20]}-{enhancer.precision}{step}"
    if enhancer.scale == 1:
        return _Cached(folder, lambda lr, _crop: enhancer.enhance(lr))
    from microgan.infer.classical import degradation_psf

    def told(lr: np.ndarray, crop: LabelledCrop) -> np.ndarray:
        # an upscaling model needs the PSF: each crop's own (its degradation's), as the classical methods get
        enhancer.set_psf(degradation_psf(lowres.spec(crop)))
        return enhancer.enhance(lr)

    return _Cached(folder.with_name(folder.name + "-told"), told)


def tune_classical(name: str, data: LabelledData, lowres: LowRes, limit: int = 24) -> Dict[str, Any]:
    """A classical method's parameters, tuned for PSNR on up to ``limit`` crops of the prepare's
    val split (evenly spaced; the whole set if it has no val split), as ``microgan evaluate`` does."""
    from microgan.infer.classical import tune

    pool = [c for c in data.crops if c.split == "val"] or list(data.crops)
    chosen = [pool[round(i)] for i in np.linspace(0, len(pool) - 1, min(limit, len(pool)))]
    pairs = [(lowres(c), lowres.truth(c), lowres.spec(c)) for c in chosen]
    return tune(name, pairs).params


def _classical_restorer(name: str, data: LabelledData, lowres: LowRes, cache_dir: Path) -> _Cached:
    from microgan.registry import BASELINES

    params = tune_classical(name, data, lowres)
    method = BASELINES.build({"type": name, **params})
    label = "-".join(f"{k}{v}" for k, v in sorted(params.items()))
    return _Cached(Path(cache_dir) / f"classical-{name}-{label}", lambda lr, crop: method(lr, lowres.spec(crop)))


def iter_images(
    kind: InputKind, data: LabelledData, cache_dir: PathLike, device: str = "auto", lowres: Optional[LowRes] = None
) -> Iterator[np.ndarray]:
    """The native arrays of ``kind`` for ``data.crops``, in order (``device`` restores ``sr`` inputs)."""
    lowres = lowres or LowRes()
    if kind.kind == "hr":
        for crop in data.crops:
            yield read_image(crop.hr).array
        return
    restore: Optional[_Cached] = None
    if kind.kind == "sr":
        restore = _model_restorer(kind.checkpoint, Path(cache_dir), device, lowres)
    elif kind.kind == "classical":
        restore = _classical_restorer(kind.checkpoint, data, lowres, Path(cache_dir))
    for crop in data.crops:
        lr = lowres(crop)
        yield lr if restore is None else restore(lr, crop)


def to_classifier_input(array: np.ndarray, size: int, mode: str = "stretch") -> np.ndarray:
    """``(3, size, size)`` float32 in [0, 1] for an ImageNet backbone.

    ``stretch`` resizes to a square as the paper does (it distorts elongated cells); ``pad`` keeps
    the aspect ratio, scales the longer side to ``size`` and fills the rest with the median colour
    of the crop's border, i.e. the slide background, so the padding adds no edge of its own.
    """
    if mode not in RESIZE_MODES:
        raise MicroGANError(f"unknown resize mode '{mode}' (expected one of {', '.join(RESIZE_MODES)})")
    img = to_float(array)
    if img.ndim == 2:
        img = np.repeat(img[:, :, None], 3, axis=2)
    h, w = img.shape[:2]
    if mode == "stretch":
        th, tw = size, size
    else:
        scale = size / max(h, w)
        th, tw = max(1, round(h * scale)), max(1, round(w * scale))
    interp = cv2.INTER_AREA if th * tw < h * w else cv2.INTER_LINEAR
    resized = cv2.resize(img, (tw, th), interpolation=interp)
    if mode == "pad":
        border = np.concatenate([img[0], img[-1], img[:, 0], img[:, -1]], axis=0)
        out = np.empty((size, size, 3), dtype=np.float32)
        out[:] = np.median(border, axis=0)
        top, left = (size - th) // 2, (size - tw) // 2
        out[top:top + th, left:left + tw] = resized
        resized = out
    return np.ascontiguousarray(np.clip(resized, 0.0, 1.0).transpose(2, 0, 1), dtype=np.float32)


def kinds_from_specs(specs: List[str]) -> List[InputKind]:
    """Parse and de-duplicate the ``--inputs`` list, keeping the user's order."""
    if not specs:
        raise MicroGANError("no input kinds given (e.g. --inputs hr lr sr:CHECKPOINT)")
    out: List[InputKind] = []
    slugs: set = set()
    for spec in dict.fromkeys(specs):
        kind = parse_input_kind(spec)
        slug, n = kind.slug, 1
        while slug in slugs:  # two checkpoints named best.safetensors in different run folders
            n += 1
            slug = f"{kind.slug}-{n}"
        slugs.add(slug)
        out.append(InputKind(kind.spec, kind.kind, kind.checkpoint, slug))
    return out
