"""PairedCropDataset over a prepared folder: network range and layout, native sizes or the
MicroGAN-FS resize, channel adaptation, and bad crops reported by id."""
from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from microgan.data.datasets import PairedCropDataset
from microgan.data.io import read_image
from microgan.data.manifest import read_manifest
from microgan.errors import ImageReadError, MicroGANError


def test_samples_are_native_size_pairs_in_network_range(tiny_prepared: Path) -> None:
    ds = PairedCropDataset(tiny_prepared, "train")
    records = [r for r in read_manifest(tiny_prepared) if r.split == "train"]
    assert len(ds) == len(records) > 0
    assert ds.sizes() == [(r.h, r.w) for r in records]
    for i, record in enumerate(records):
        sample = ds[i]
        assert sample["id"] == record.id
        assert sample["lr"].dtype == torch.float32 and sample["hr"].shape == sample["lr"].shape == (3, record.h, record.w)
        hr = read_image(tiny_prepared / record.hr_path).array
        expected = torch.from_numpy(hr.astype(np.float32) / 255.0 * 2 - 1).permute(2, 0, 1)
        torch.testing.assert_close(sample["hr"], expected)
        assert -1.0 <= float(sample["lr"].min()) and float(sample["lr"].max()) <= 1.0


def test_resize_to_gives_square_crops_for_microgan_fs(tiny_prepared: Path) -> None:
    ds = PairedCropDataset(tiny_prepared, "train", resize_to=32)
    sample = ds[0]
    assert sample["lr"].shape == sample["hr"].shape == (3, 32, 32)
    assert ds.sizes() == [(32, 32)] * len(ds)
    assert float(sample["hr"].abs().max()) <= 1.0  # cubic overshoot clipped


def test_channels_follow_the_model(tiny_prepared: Path) -> None:
    gray = PairedCropDataset(tiny_prepared, "val", channels=1)[0]
    assert gray["hr"].shape[0] == 1


def test_limit_keeps_evenly_spaced_crops(tiny_prepared: Path) -> None:
    full, capped = PairedCropDataset(tiny_prepared, "train"), PairedCropDataset(tiny_prepared, "train", limit=2)
    n = len(full)
    assert n > 2 and [r.id for r in capped.records] == [full.records[0].id, full.records[n // 2].id]
    assert len(PairedCropDataset(tiny_prepared, "train", limit=10 * n)) == n


def test_missing_and_corrupt_crops_are_reported_by_id(tiny_prepared: Path, tmp_path: Path) -> None:
    broken = shutil.copytree(tiny_prepared, tmp_path / "prep")
    records = [r for r in read_manifest(broken) if r.split == "train"]
    (broken / records[0].lr_path).write_bytes(b"\x89PNG\r\n\x1a\n truncated")
    with pytest.raises(ImageReadError, match=records[0].id):
        PairedCropDataset(broken, "train")[0]
    (broken / records[1].hr_path).unlink()
    with pytest.raises(MicroGANError, match=f"missing: {records[1].id}"):
        PairedCropDataset(broken, "train")


def test_empty_split_is_an_error(tiny_prepared: Path) -> None:
    with pytest.raises(MicroGANError, match="no crops in split 'nope'"):
        PairedCropDataset(tiny_prepared, "nope")


BLIND = {"type": "compose", "steps": [{"type": "blur", "sigma": [0.5, 3.0]}, {"type": "gaussian-noise", "sigma": [0.0, 0.03]}]}


def test_on_the_fly_degradation_is_a_function_of_the_key(tiny_prepared: Path) -> None:
    ds = PairedCropDataset(tiny_prepared, "train", degradation=BLIND, augment={"flips": True, "colour": 0.05}, seed=3)
    a, b, other_epoch = ds[(0, 7, 1)], ds[(0, 7, 1)], ds[(0, 7, 2)]
    torch.testing.assert_close(a["lr"], b["lr"])
    torch.testing.assert_close(a["hr"], b["hr"])
    assert not torch.equal(a["lr"], other_epoch["lr"])
    assert not torch.equal(a["lr"], ds[(0, 7, 1, 1)]["lr"])  # a second visit in the epoch (data.repeat) draws anew
    torch.testing.assert_close(ds[(0, 7, 1, 1)]["lr"], ds[(0, 7, 1, 1)]["lr"])
    fixed = PairedCropDataset(tiny_prepared, "train", degradation=BLIND, seed=3)
    torch.testing.assert_close(fixed[0]["lr"], fixed[0]["lr"])  # plain index: one fixed draw per crop id
    record = fixed.records[0]
    hr = read_image(tiny_prepared / record.hr_path).array
    expected = torch.from_numpy(hr.astype(np.float32) / 255.0 * 2 - 1).permute(2, 0, 1)
    torch.testing.assert_close(fixed[0]["hr"], expected)  # no augmentation outside training keys
    assert not torch.equal(fixed[0]["lr"], PairedCropDataset(tiny_prepared, "train")[0]["lr"])  # not the prepared LR


def test_resumed_stream_continues_the_same_degradations(tiny_prepared: Path) -> None:
    from microgan.data.samplers import BatchStream, BucketBatchSampler

    ds = PairedCropDataset(tiny_prepared, "train", degradation=BLIND, augment={"flips": True}, seed=1)
    sampler = BucketBatchSampler(ds.sizes(), 1, seed=4)
    stream = BatchStream(ds, sampler)
    first = [next(stream)["lr"] for _ in range(len(ds) + 3)]  # crosses an epoch end
    resumed = BatchStream(ds, sampler, epoch=1, index=1)
    for expected in first[len(ds) + 1 :]:
        torch.testing.assert_close(next(resumed)["lr"], expected)


def test_several_folders_read_as_one_and_identity(tiny_prepared: Path, tmp_path: Path) -> None:
    import csv

    other = shutil.copytree(tiny_prepared, tmp_path / "other")
    rows = list(csv.reader(open(other / "manifest.csv")))
    with open(other / "manifest.csv", "w", newline="") as fh:
        writer = csv.writer(fh, lineterminator="\n")
        writer.writerow(rows[0])
        for row in rows[1:]:
            writer.writerow(["b-" + row[0]] + row[1:])
    both = PairedCropDataset([tiny_prepared, other], "train")
    single = PairedCropDataset(tiny_prepared, "train")
    assert len(both) == 2 * len(single)
    ident = both.identity()
    assert ident["crops"] == len(both) and len(ident["folders"]) == 2
    assert ident["folders"][0]["images"] == sorted({r.source for r in single.records})
    assert ident["folders"][0]["source"]["type"] == "folder"
    assert ident["crop_ids_sha256"] != single.identity()["crop_ids_sha256"]
    assert both.per_crop([3, 1]) == [3] * len(single) + [1] * len(single)
    with pytest.raises(MicroGANError, match=r"1 value\(s\) for 2 data folder\(s\)"):
        both.per_crop([2])
    with pytest.raises(MicroGANError, match="distinct ids"):
        PairedCropDataset([tiny_prepared, tiny_prepared], "train")
    with pytest.raises(MicroGANError, match="needs data.degradation"):
        PairedCropDataset(tiny_prepared, "train", augment={"flips": True})
