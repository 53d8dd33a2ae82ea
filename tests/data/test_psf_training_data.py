"""What a model told the PSF trains on: each degradation reports the kernel it drew, and the data set
builds the network input with that very kernel."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from microgan.core import physics
from microgan.core.psf import airy_kernel, disk_kernel
from microgan.data.datasets import PairedCropDataset, network_input
from microgan.data.degrade import AiryBlur, Blur, DefocusBlur, build_degradation
from microgan.data.degrade.presets import parse_degradation_text
from microgan.data.samplers import pad_collate
from microgan.errors import MicroGANError

RANDOM = {
    "type": "compose",
    "steps": [
        {"type": "random-choice", "weights": [0.4, 0.3, 0.2, 0.1], "options": [
            {"type": "blur", "sigma": [0.5, 4.0], "anisotropy": [1.0, 2.0], "angle": [0.0, 180.0]},
            {"type": "defocus-blur", "radius": [1.0, 5.0]},
            {"type": "airy-blur", "radius": [1.5, 5.0]},
            {"type": "identity"}]},
        {"type": "maybe", "p": 0.5, "step": {"type": "gaussian-noise", "sigma": [0.0, 0.03]}},
    ],
}


def _image(seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (41, 37, 3), dtype=np.uint8)


@pytest.mark.parametrize("seed", range(12))
def test_apply_draws_what_call_draws_and_reports_the_kernel_it_used(seed: int) -> None:
    d = build_degradation(RANDOM)
    image = _image(seed)
    lr, kernel = d.apply(image, np.random.default_rng(seed))
    np.testing.assert_array_equal(lr, d(image, np.random.default_rng(seed)))
    if kernel is None:  # identity (+ noise): nothing was blurred
        return
    assert kernel.sum() == pytest.approx(1.0)
    # the kernel explains the image: blurring with it and adding the same noise gives the same LR
    noiseless = build_degradation({"type": "compose", "steps": [RANDOM["steps"][0]]})
    blurred, again = noiseless.apply(image, np.random.default_rng(seed))
    np.testing.assert_allclose(again, kernel)
    import cv2

    np.testing.assert_array_equal(blurred, cv2.filter2D(image, -1, kernel.astype(np.float32), borderType=cv2.BORDER_REFLECT_101))


@pytest.mark.parametrize("text", ["paper", "gauss:1.5+noise:0.01", "defocus:4", "gauss:2+jpeg:80"])
def test_fixed_degradations_report_their_psf(text: str) -> None:
    d = parse_degradation_text(text)
    _, kernel = d.apply(_image(), np.random.default_rng(0))
    np.testing.assert_allclose(kernel, d.psf())


def test_airy_blur_is_registered_and_scales() -> None:
    d = build_degradation({"type": "airy-blur", "radius": 3.0})
    assert isinstance(d, AiryBlur) and d.fixed
    np.testing.assert_allclose(d.psf(), airy_kernel(3.0))
    np.testing.assert_allclose(d.scaled(1.5).psf(), airy_kernel(4.5))
    assert not build_degradation({"type": "airy-blur", "radius": [2, 4]}).fixed
    assert isinstance(Blur(), Blur) and np.allclose(DefocusBlur(2.0).psf(), disk_kernel(2.0))


def test_dataset_gives_a_psf_model_its_input_made_with_the_drawn_kernel(tiny_prepared: Path) -> None:
    ds = PairedCropDataset(tiny_prepared, "train", channels=3, degradation=RANDOM, seed=3, psf_input=True)
    for key in [(i, 0, 0) for i in range(len(ds))]:
        sample = ds[key]
        record = ds.records[key[0]]
        lr_native, kernel = build_degradation(RANDOM).apply(ds._read(tiny_prepared, record, record.hr_path), ds._rng(key, record))
        image = sample["lr"].numpy().transpose(1, 2, 0) * 0.5 + 0.5
        expected = physics.network_input(image, np.ones((1, 1)) if kernel is None else kernel)
        assert sample["input"].shape == (7,) + sample["lr"].shape[1:]
        np.testing.assert_allclose(sample["input"].numpy().transpose(1, 2, 0), expected, atol=1e-5)
        assert network_input(sample) is sample["input"]


def test_stored_pairs_are_given_their_manifest_psf(tiny_prepared: Path) -> None:
    ds = PairedCropDataset(tiny_prepared, "val", channels=3, psf_input=True)
    sample = ds[0]
    image = sample["lr"].numpy().transpose(1, 2, 0) * 0.5 + 0.5
    expected = physics.network_input(image, parse_degradation_text("paper").psf())
    np.testing.assert_allclose(sample["input"].numpy().transpose(1, 2, 0), expected, atol=1e-5)
    plain = PairedCropDataset(tiny_prepared, "val", channels=3)[0]
    assert "input" not in plain and network_input(plain) is plain["lr"]


def test_collate_pads_the_input_like_the_images(tiny_prepared: Path) -> None:
    ds = PairedCropDataset(tiny_prepared, "train", channels=3, degradation=RANDOM, psf_input=True)
    batch = pad_collate([ds[(0, 0, 0)], ds[(1, 0, 0)], ds[(2, 0, 0)]])
    assert batch["input"].shape[0] == 3 and batch["input"].shape[1] == 7
    assert batch["input"].shape[2:] == batch["lr"].shape[2:] == batch["hr"].shape[2:]
    assert torch.equal(network_input(batch), batch["input"])


def test_resizing_is_refused_for_a_psf_model(tiny_prepared: Path) -> None:
    with pytest.raises(MicroGANError, match="native crop sizes"):
        PairedCropDataset(tiny_prepared, "train", resize_to=32, degradation=RANDOM, psf_input=True)


def test_a_sampling_degradation_trains_on_the_fine_grid(tiny_prepared: Path) -> None:
    """``down:2`` after the blur: the HR crop cut to even sides, the network input made on the fine grid
    from the coarse LR crop (enlarged image, solve with the sampling), ``lr`` its enlarged image."""
    from microgan.core.contract import from_network
    from microgan.core.sampling import crop_to_scale
    from microgan.data.io import from_float, to_float

    sampled = {"type": "compose", "steps": [RANDOM["steps"][0], {"type": "downsample", "factor": 2}, RANDOM["steps"][1]]}
    ds = PairedCropDataset(tiny_prepared, "train", channels=3, degradation=sampled, seed=3, psf_input=True)
    assert ds.scale == 2
    assert all(h % 2 == 0 and w % 2 == 0 for h, w in ds.sizes())
    for index in range(min(len(ds), 4)):
        key = (index, 0, 0)
        sample = ds[key]
        record = ds.records[index]
        hr = crop_to_scale(ds._read(tiny_prepared, record, record.hr_path), 2)
        lr_native, kernel = build_degradation(sampled).apply(np.ascontiguousarray(hr), ds._rng(key, record))
        assert sample["hr"].shape[1:] == hr.shape[:2] == ds.sizes()[index]
        assert sample["input"].shape == (7,) + hr.shape[:2] and sample["lr"].shape == sample["hr"].shape
        expected = physics.network_input(to_float(lr_native), np.ones((1, 1)) if kernel is None else kernel, scale=2)
        np.testing.assert_allclose(sample["input"].numpy().transpose(1, 2, 0), expected, atol=1e-5)
        assert np.array_equal(from_float(from_network(sample["lr"].numpy()).transpose(1, 2, 0), np.uint8),
                              from_float((expected[..., :3] + 1) / 2, np.uint8))
    with pytest.raises(MicroGANError, match="told the PSF"):
        PairedCropDataset(tiny_prepared, "train", channels=3, degradation=sampled)
