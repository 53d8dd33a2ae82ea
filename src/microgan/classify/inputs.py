"""Input kinds of ``microgan classify`` (``hr``, ``lr``, ``sr:CHECKPOINT``) and the classifier's pre-processing.

An ``sr:`` input restores each LR crop with a model. Restored crops are cached on disk under
``CACHE/sr-<checkpoint sha256>/<LR file sha1>.<ext>``: keyed by content on both sides, so a retrained
checkpoint or an edited crop never reuses a stale result, while re-running with other folds,
classifiers or seeds skips the restoration entirely.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator, List, Optional, Union

import cv2
import numpy as np

from microgan.core.files import file_digest
from microgan.data.io import read_image, to_float, write_image
from microgan.errors import ImageReadError, MicroGANError
from microgan.classify.data import LabelledData

PathLike = Union[str, Path]
RESIZE_MODES = ("stretch", "pad")


@dataclass(frozen=True)
class InputKind:
    """``spec`` as the user wrote it (the key in classify.json); ``checkpoint`` only for ``sr``."""

    spec: str
    kind: str
    checkpoint: Optional[str] = None
    #: a file-name-safe name for heat maps and tables
    slug: str = ""


def parse_input_kind(spec: str) -> InputKind:
    if spec in ("hr", "lr"):
        return InputKind(spec, spec, None, spec)
    if spec.startswith("sr:") and len(spec) > 3:
        ckpt = spec[3:]
        stem = Path(ckpt).stem or Path(ckpt).name
        slug = "sr-" + "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in stem)
        return InputKind(spec, "sr", ckpt, slug)
    raise MicroGANError(f"unknown input kind '{spec}' (expected hr, lr or sr:CHECKPOINT)")


def check_input(kind: InputKind, data: LabelledData) -> None:
    """Fail before any work if an input kind cannot be served: no HR in the layout, missing image
    files (the first few are named) or a missing checkpoint."""
    if kind.kind == "hr" and data.layout != "prepared":
        raise MicroGANError(
            f"{data.root}: input 'hr' needs a prepared folder (manifest.csv); a folder-per-class layout "
            "only has the images as given (input 'lr')"
        )
    if kind.kind == "sr":
        from microgan.core.checkpoint import resolve_model_path

        resolve_model_path(kind.checkpoint)  # raises CheckpointError naming the missing file
    paths = [c.hr if kind.kind == "hr" else c.lr for c in data.crops]
    missing = [p for p in paths if not p.is_file()]
    if missing:
        shown = ", ".join(str(p) for p in missing[:3])
        raise ImageReadError(
            f"input '{kind.spec}': {len(missing)} of {len(paths)} image files are missing ({shown}"
            f"{', ...' if len(missing) > 3 else ''})"
        )


class _Restorer:
    """Restores LR crops with one checkpoint, reading and filling the on-disk cache."""

    def __init__(self, checkpoint: str, cache_dir: Path, device: str) -> None:
        from microgan.infer import Enhancer
        from microgan.core.checkpoint import resolve_model_path

        path = resolve_model_path(checkpoint)
        self.folder = Path(cache_dir) / f"sr-{file_digest(path, 'sha256')[:20]}"
        self.enhancer = Enhancer.from_model(str(path), device=device)

    def __call__(self, lr_path: Path) -> np.ndarray:
        key = file_digest(lr_path, "sha1")[:24]
        for cached in (self.folder / f"{key}.png", self.folder / f"{key}.tif"):
            if cached.is_file():
                return read_image(cached).array
        restored = np.asarray(self.enhancer.enhance(read_image(lr_path).array))
        suffix = ".tif" if restored.dtype == np.float32 else ".png"
        write_image(self.folder / f"{key}{suffix}", restored, overwrite=True)
        return restored


def iter_images(kind: InputKind, data: LabelledData, cache_dir: PathLike, device: str = "auto") -> Iterator[np.ndarray]:
    """The native arrays of ``kind`` for ``data.crops``, in order (``device`` restores ``sr`` inputs)."""
    if kind.kind == "sr":
        restore: Callable[[Path], np.ndarray] = _Restorer(kind.checkpoint, Path(cache_dir), device)
        for crop in data.crops:
            yield restore(crop.lr)
        return
    for crop in data.crops:
        yield read_image(crop.hr if kind.kind == "hr" else crop.lr).array


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
