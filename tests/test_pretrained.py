"""The bundled pretrained model: it ships, loads without a path, and restores real blurred BCCD cells
better than the blurred input."""
from __future__ import annotations

from pathlib import Path

import numpy as np

import microgan
from microgan.data.degrade import GaussianBlur
from microgan.data.io import read_image
from microgan.data.sources import BCCDSource
from microgan.core.metrics import psnr
from microgan.core.checkpoint import BUNDLED_DIR, BUNDLED_DEFAULT, load_checkpoint


def test_bundled_model_is_small_generator_only_and_documented() -> None:
    path = BUNDLED_DIR / f"{BUNDLED_DEFAULT}.safetensors"
    assert path.stat().st_size < 30e6
    ckpt = load_checkpoint(path)
    assert ckpt.critic is None and not ckpt.optimizers
    assert ckpt.meta["config"]["generator"]["type"] == "unet-trimmed"
    assert ckpt.meta["bundle"]["fp16_storage_loss"]["max_abs_diff_8bit"] <= 1


def test_bundled_model_says_it_is_the_l1_trained_generator() -> None:
    # the name microgan-bccd stays (users refer to it); its metadata says it never saw a critic
    training = microgan.load(device="cpu").meta["training"]
    assert training["objective"] == "l1" and training["adversarial_steps"] == 0 and training["pixel_steps"] == 12000


def test_bundled_model_restores_blurred_bccd_cells_better_than_the_input(bccd_root: Path) -> None:
    enhancer = microgan.load()  # no path: the bundled model
    test_images = [im for im in BCCDSource(bccd_root).images() if im.split_hint == "test"][:2]
    blur = GaussianBlur()
    gains = []
    for image in test_images:
        field = read_image(image.path).array
        for box in image.boxes[:4]:
            hr = field[box.y : box.y + box.h, box.x : box.x + box.w]
            lr = blur(hr, np.random.default_rng(0))
            gains.append(psnr(enhancer.enhance(lr), hr) - psnr(lr, hr))
    assert len(gains) >= 4
    # measured: +5.34 dB mean, +3.99 dB worst over these 8 crops; the old 75-minute model gave ~+3
    assert np.mean(gains) > 4.0 and min(gains) > 2.0, gains
