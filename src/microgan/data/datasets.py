"""PairedCropDataset: the (LR, HR) crop pairs of one split of prepared folders, as network tensors.

LR crops come from disk (``microgan prepare`` made them with the paper's blur) or, with a
``degradation`` spec, are made from the HR crop on the fly: a fresh draw of a random degradation
each time a crop is visited, so a model meets many blurs, noise levels and compressions instead of
the one baked into the folder. The draw is a pure function of the sample's key: a training key
``(index, stream, epoch[, visit])`` from :class:`~microgan.data.samplers.BatchStream` seeds it, so a resumed
run continues the same stream of degradations; a plain integer index (validation, evaluation) gets
a fixed draw per crop id, so the validation set never changes. Training keys also draw the
augmentation (flips, colour jitter) applied to the HR crop before it is degraded.

Several prepared folders can be read as one data set (domains trained together); their crop ids
must be distinct.

Crops keep their native size (the point of MicroGAN); only MicroGAN-FS asks for ``resize_to=128``
because its critic ends in a fully connected layer. Both images of a pair are resized the same way:
``cv2.INTER_AREA`` when a side shrinks (it averages, so no aliasing) and ``cv2.INTER_CUBIC`` when it
grows (area interpolation degenerates to nearest neighbour when enlarging).

An unreadable or missing crop is an error naming the crop id and file rather than a silent skip:
a prepared folder is written by ``microgan prepare``, so a bad crop means the folder is damaged and
training on a quietly shrunken set would make runs incomparable. Missing files are found when the
dataset is built (before any training time is spent); decoding errors when the crop is read.
"""
from __future__ import annotations

import hashlib
import json
import zlib
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple, Union

import cv2
import numpy as np
import torch
from torch.utils.data import Dataset

from microgan.core.contract import from_network, to_network
from microgan.core.sampling import crop_to_scale
from microgan.data.augment import Augment, build_augment
from microgan.data.degrade import Degradation, build_degradation
from microgan.core.physics import network_input as physics_input
from microgan.data.io import from_float, read_image, to_float
from microgan.data.manifest import CropRecord, read_manifest
from microgan.errors import ImageReadError, MicroGANError

# ITU-R BT.601 luma, the usual RGB -> gray weights.
_LUMA = np.array([0.299, 0.587, 0.114], dtype=np.float32)


def _to_channels(array01: np.ndarray, channels: int) -> np.ndarray:
    """(H, W) or (H, W, 3) float -> (channels, H, W); gray is repeated for RGB models, RGB is
    reduced to luma for grayscale models."""
    if array01.ndim == 2:
        array01 = array01[:, :, None]
    have = array01.shape[2]
    if have == channels:
        out = array01
    elif have == 1 and channels == 3:
        out = np.repeat(array01, 3, axis=2)
    elif have == 3 and channels == 1:
        out = (array01 @ _LUMA)[:, :, None]
    else:
        raise MicroGANError(f"cannot feed a {have}-channel image to a {channels}-channel model")
    return np.ascontiguousarray(out.transpose(2, 0, 1))


def _resize(array01: np.ndarray, size: int) -> np.ndarray:
    h, w = array01.shape[:2]
    interp = cv2.INTER_AREA if size <= h and size <= w else cv2.INTER_CUBIC
    out = cv2.resize(array01, (size, size), interpolation=interp)
    # cubic can overshoot [0, 1]; keep the network range exact
    return np.clip(out, 0.0, 1.0) if interp == cv2.INTER_CUBIC else out


#: A training sample's key: (crop index, stream seed, epoch[, visit]) (the visit number only for a
#: crop repeated within an epoch, data.repeat); validation uses the plain index.
Key = Union[int, Tuple[int, ...]]
PathOrPaths = Union[str, Path, Sequence[Union[str, Path]]]


class PairedCropDataset(Dataset):
    """Samples ``{"lr", "hr": float32 (C, H, W) in [-1, 1], "id": str}`` of one split.

    ``prepared`` is one prepared folder or several. ``channels`` is the model's input channel count
    (None: as stored). ``limit`` keeps ``limit`` crops evenly spaced in manifest order: validation
    caps its cost this way, deterministically, while still covering many source images (the
    manifest lists crops image by image). ``degradation`` (a spec) makes LR from HR on the fly;
    ``augment`` (the config's ``data.augment``) needs it. ``seed`` seeds both. ``psf_input``: a
    model told the PSF is trained; each sample also holds ``input``, the network's input made with
    the PSF that blurred this very crop (:func:`microgan.core.physics.network_input`).
    """

    def __init__(
        self,
        prepared: PathOrPaths,
        split: str,
        resize_to: Optional[int] = None,
        channels: Optional[int] = None,
        limit: Optional[int] = None,
        degradation: Optional[Dict[str, Any]] = None,
        augment: Optional[Dict[str, Any]] = None,
        seed: int = 0,
        psf_input: bool = False,
    ) -> None:
        folders = [prepared] if isinstance(prepared, (str, Path)) else list(prepared)
        if not folders:
            raise MicroGANError("no prepared folder given")
        self.roots: List[Path] = [Path(f) for f in folders]
        self.root = self.roots[0]
        self.split = split
        self.resize_to = resize_to
        self.channels = channels
        self.seed = int(seed)
        self.degradation: Optional[Degradation] = build_degradation(degradation) if degradation else None
        self.augment: Augment = build_augment(augment)
        self.psf_input = bool(psf_input)
        #: upscaling: the LR crop is this many times coarser (the degradation samples, ``down:S``); the
        #: HR crop is cut to multiples of it and the LR crop enlarged onto its grid as ``lr``
        self.scale = self.degradation.scale if self.degradation is not None else 1
        if self.scale > 1 and not self.psf_input:
            raise MicroGANError("a degradation that samples (down:S) trains a model told the PSF (unet-psf): "
                                "its input is made on the fine grid by the physics")
        if self.psf_input and resize_to:
            raise MicroGANError("a model told the PSF trains at native crop sizes (resizing would change the blur)")
        if augment and self.degradation is None:
            raise MicroGANError("data.augment needs data.degradation: the LR crop is made from the augmented HR crop")
        entries: List[Tuple[Path, CropRecord]] = []
        for root in self.roots:
            found = [(root, r) for r in read_manifest(root) if r.split == split]
            if not found:
                raise MicroGANError(f"{root / 'manifest.csv'}: no crops in split '{split}'")
            entries += found
        if limit and limit < len(entries):
            entries = [entries[i * len(entries) // limit] for i in range(limit)]
        seen: Dict[str, Path] = {}
        for root, record in entries:
            if record.id in seen:
                raise MicroGANError(f"crop id '{record.id}' is in both {seen[record.id]} and {root}: prepared folders read together need distinct ids")
            seen[record.id] = root
        self.entries = entries
        self.records: List[CropRecord] = [r for _, r in entries]
        missing = [
            r.id for root, r in entries if not (root / r.hr_path).is_file() or (self.degradation is None and not (root / r.lr_path).is_file())
        ]
        if missing:
            shown = ", ".join(missing[:5]) + (f" and {len(missing) - 5} more" if len(missing) > 5 else "")
            where = ", ".join(str(r) for r in self.roots)
            raise MicroGANError(f"{where}: split '{split}' lists crops whose files are missing: {shown}")

    def __len__(self) -> int:
        return len(self.entries)

    def per_crop(self, per_folder: Sequence[int]) -> List[int]:
        """Spread one value per prepared folder (in the order given) over the crops."""
        if len(per_folder) != len(self.roots):
            raise MicroGANError(f"{len(per_folder)} value(s) for {len(self.roots)} data folder(s) ({', '.join(map(str, self.roots))})")
        return [per_folder[self.roots.index(root)] for root, _ in self.entries]

    def sizes(self) -> List[Tuple[int, int]]:
        """Each crop's ``(height, width)`` as the network sees it (from the manifest, no decoding)."""
        if self.resize_to:
            return [(self.resize_to, self.resize_to)] * len(self.records)
        s = self.scale
        return [(int(r.h) - int(r.h) % s, int(r.w) - int(r.w) % s) for r in self.records]

    def identity(self) -> Dict[str, Any]:
        """What this data set is, for checkpoint metadata: the folders with their source (from
        ``prepare.json``), the source images the crops come from (a classifier's leak check needs
        them) and digests of the crop ids, of all and per folder (``--resume`` refuses another crop set
        of the same size, or the folders in another order)."""
        folders = []
        for root in self.roots:
            source: Dict[str, Any] = {}
            settings = root / "prepare.json"
            if settings.is_file():
                try:
                    source = dict(json.loads(settings.read_text()).get("source") or {})
                except (ValueError, AttributeError, UnicodeDecodeError):
                    source = {}
            mine = [r for rr, r in self.entries if rr == root]
            folders.append({
                "path": str(root), "source": source, "images": sorted({r.source for r in mine}), "crops": len(mine),
                "crop_ids_sha256": hashlib.sha256("\n".join(sorted(r.id for r in mine)).encode()).hexdigest(),
            })
        digest = hashlib.sha256("\n".join(sorted(r.id for r in self.records)).encode()).hexdigest()
        return {"split": self.split, "crops": len(self.records), "crop_ids_sha256": digest, "folders": folders}

    def _read(self, root: Path, record: CropRecord, rel: str) -> np.ndarray:
        try:
            return read_image(root / rel).array
        except MicroGANError as exc:
            raise ImageReadError(f"crop '{record.id}' ({root / rel}): {exc}") from None

    def _tensor(self, array01: np.ndarray) -> torch.Tensor:
        if self.resize_to:
            array01 = _resize(array01, self.resize_to)
        chw = _to_channels(array01, self.channels or (1 if array01.ndim == 2 else array01.shape[2]))
        return to_network(torch.from_numpy(chw))

    def _rng(self, key: Key, record: CropRecord) -> np.random.Generator:
        if isinstance(key, tuple):  # (index, stream, epoch[, visit]): see data.samplers.BatchStream
            index, stream, epoch, *visit = key
            return np.random.default_rng([self.seed, stream, epoch, index, *visit])
        return np.random.default_rng([self.seed, zlib.crc32(record.id.encode())])

    def _stored_psf(self, record: CropRecord) -> Optional[np.ndarray]:
        """The PSF that made a stored LR crop (its manifest row's degradation), for a model told it."""
        try:
            return build_degradation(json.loads(record.degradation)).psf()
        except (ValueError, TypeError, MicroGANError) as exc:
            raise MicroGANError(f"crop '{record.id}': no single PSF in its degradation {record.degradation!r} ({exc})") from None

    def __getitem__(self, key: Key) -> Dict[str, object]:
        index = key[0] if isinstance(key, tuple) else key
        root, record = self.entries[index]
        hr = self._read(root, record, record.hr_path)
        if self.degradation is None:
            lr = self._read(root, record, record.lr_path)
            kernel = self._stored_psf(record) if self.psf_input else None
        else:
            rng = self._rng(key, record)
            hr = np.ascontiguousarray(crop_to_scale(hr, self.scale))
            if hr.shape[0] < self.scale or hr.shape[1] < self.scale:
                raise ImageReadError(f"crop '{record.id}' ({root / record.hr_path}): smaller than the scale {self.scale}")
            if isinstance(key, tuple) and self.augment != Augment(flips=False):
                hr = from_float(self.augment(to_float(hr), rng), hr.dtype) if hr.dtype.kind != "f" else self.augment(hr, rng)
            lr, kernel = self.degradation.apply(hr, rng)
        if lr.shape[:2] != (hr.shape[0] // self.scale, hr.shape[1] // self.scale) or lr.shape[2:] != hr.shape[2:]:
            raise ImageReadError(f"crop '{record.id}': LR {lr.shape} and HR {hr.shape} differ in {root}")
        lr_tensor = self._tensor(to_float(lr))
        sample: Dict[str, object] = {"lr": lr_tensor, "hr": self._tensor(to_float(hr)), "id": record.id}
        if self.psf_input:
            image = from_network(lr_tensor.numpy().transpose(1, 2, 0))
            stack = physics_input(image, _DELTA if kernel is None else kernel, scale=self.scale)
            sample["input"] = torch.from_numpy(np.ascontiguousarray(stack.transpose(2, 0, 1)))
            if self.scale > 1:  # the LR crop as the HR grid sees it (the input's own scores, the sample images)
                sample["lr"] = sample["input"][: lr_tensor.shape[0]].clone()
        return sample


#: The PSF of a crop that was not blurred (an ``identity`` step): a single pixel.
_DELTA = np.ones((1, 1))


def network_input(sample: Dict[str, Any]) -> torch.Tensor:
    """What the generator is given for a sample or batch: the LR image, or for a model told the PSF
    the stack of the image, its deconvolution and the noise level (``input``)."""
    return sample["input"] if sample.get("input") is not None else sample["lr"]
