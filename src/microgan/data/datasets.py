"""PairedCropDataset: the (LR, HR) crop pairs of one split of a prepared folder, as network tensors.

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

from pathlib import Path
from typing import Dict, List, Optional, Tuple, Union

import cv2
import numpy as np
import torch
from torch.utils.data import Dataset

from microgan.data.io import read_image, to_float
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


class PairedCropDataset(Dataset):
    """Samples ``{"lr", "hr": float32 (C, H, W) in [-1, 1], "id": str}`` of one split.

    ``channels`` is the model's input channel count (None: as stored). ``limit`` keeps ``limit``
    crops evenly spaced in manifest order: validation caps its cost this way, deterministically,
    while still covering many source images (the manifest lists crops image by image).
    """

    def __init__(
        self,
        prepared: Union[str, Path],
        split: str,
        resize_to: Optional[int] = None,
        channels: Optional[int] = None,
        limit: Optional[int] = None,
    ) -> None:
        self.root = Path(prepared)
        self.split = split
        self.resize_to = resize_to
        self.channels = channels
        records = [r for r in read_manifest(self.root) if r.split == split]
        if not records:
            raise MicroGANError(f"{self.root / 'manifest.csv'}: no crops in split '{split}'")
        if limit and limit < len(records):
            records = [records[i * len(records) // limit] for i in range(limit)]
        self.records: List[CropRecord] = records
        missing = [r.id for r in self.records if not (self.root / r.hr_path).is_file() or not (self.root / r.lr_path).is_file()]
        if missing:
            shown = ", ".join(missing[:5]) + (f" and {len(missing) - 5} more" if len(missing) > 5 else "")
            raise MicroGANError(f"{self.root}: split '{split}' lists crops whose files are missing: {shown}")

    def __len__(self) -> int:
        return len(self.records)

    def sizes(self) -> List[Tuple[int, int]]:
        """Each crop's ``(height, width)`` as the network sees it (from the manifest, no decoding)."""
        if self.resize_to:
            return [(self.resize_to, self.resize_to)] * len(self.records)
        return [(int(r.h), int(r.w)) for r in self.records]

    def _load(self, record: CropRecord, rel: str) -> np.ndarray:
        try:
            array = to_float(read_image(self.root / rel).array)
        except MicroGANError as exc:
            raise ImageReadError(f"crop '{record.id}' ({rel}): {exc}") from None
        if self.resize_to:
            array = _resize(array, self.resize_to)
        return _to_channels(array, self.channels or (1 if array.ndim == 2 else array.shape[2]))

    def __getitem__(self, index: int) -> Dict[str, object]:
        record = self.records[index]
        lr, hr = self._load(record, record.lr_path), self._load(record, record.hr_path)
        if lr.shape != hr.shape:
            raise ImageReadError(f"crop '{record.id}': LR {lr.shape[1:]} and HR {hr.shape[1:]} sizes differ in {self.root}")
        return {
            "lr": torch.from_numpy(lr) * 2.0 - 1.0,
            "hr": torch.from_numpy(hr) * 2.0 - 1.0,
            "id": record.id,
        }
