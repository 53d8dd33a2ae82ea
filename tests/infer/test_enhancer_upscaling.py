"""The Enhancer with an upscaling model (its training degradation samples, ``down:S``): the network
input on the fine grid, exact tiles there, the data term with the sampling, the shape, the refusals."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from microgan.archs import build_generator
from microgan.core import physics
from microgan.core.contract import contract_for
from microgan.errors import MicroGANError
from microgan.infer import Enhancer

SPEC = {"type": "unet-psf", "channels": [4, 8, 16], "image_channels": 3}
DEGRADATION = {"type": "compose", "steps": [{"type": "blur", "sigma": [0.5, 3.0]}, {"type": "downsample", "factor": 2}]}


def _meta(scale: int = 2) -> dict:
    config = {"generator": SPEC, "data": {"degradation": DEGRADATION if scale > 1 else None}}
    return {"config": config, "io": contract_for(config)}


def _net(seed: int = 0) -> torch.nn.Module:
    torch.manual_seed(seed)
    net = build_generator(SPEC).eval()
    with torch.no_grad():
        net.body.head.weight.mul_(0.05)
    return net


def _enh(net, **kw) -> Enhancer:
    return Enhancer(net, _meta(), device="cpu", precision="fp32", **{"tile": None, "backend": "torch", **kw})


def _image(shape=(40, 46, 3), seed: int = 0) -> np.ndarray:
    import cv2

    rng = np.random.default_rng(seed)
    x = cv2.GaussianBlur(rng.random(shape[:2]).astype(np.float32), (0, 0), 1.5)
    x = (x - x.min()) / (x.max() - x.min())
    x = np.stack([x, x**2, 1 - x], axis=2) if len(shape) == 3 else x
    return np.round(x * 255).astype(np.uint8)


def test_the_contract_records_the_training_scale():
    assert _meta()["io"]["scale"] == 2 and _meta(1)["io"]["scale"] == 1
    assert _enh(_net(), psf="gauss:1").scale == 2


@pytest.mark.parametrize("shape", [(40, 46, 3), (21, 17)])
def test_output_is_the_fine_grid_in_the_input_type(shape):
    image = _image(shape)
    out = _enh(_net(), psf="gauss:1.5").enhance(image)
    assert out.shape == (2 * shape[0], 2 * shape[1]) + shape[2:] and out.dtype == np.uint8
    flat = np.full(shape, 77, np.uint8)
    assert np.array_equal(_enh(_net(), psf="gauss:1.5").enhance(flat), np.full(out.shape, 77, np.uint8))


def test_equals_the_pipeline_by_hand(edge_padded):
    """The fine-grid network input of training (physics.network_input with the scale), one pass, the
    data-consistency solve with the sampled forward model at the discrepancy weight."""
    net, image = _net(1), _image()
    enh = _enh(net, psf="gauss:1.5")
    out = enh.enhance(image)
    k = enh.psf
    y = image.astype(np.float32) / 255
    sigma = physics.estimate_noise(y)
    stack = physics.network_input(y, k, sigma, scale=2)
    x = edge_padded(net, torch.from_numpy(stack.transpose(2, 0, 1))[None]).clamp(-1, 1)[0].numpy().transpose(1, 2, 0)
    x = np.round(np.clip((x + 1) / 2, 0, 1) * 255).astype(np.uint8)
    lam = physics.discrepancy_weight(x.astype(np.float32) / 255, y, k, sigma, scale=2)
    if lam is not None:
        z = physics.consistent(y, k, lam, x.astype(np.float32) / 255, 2)
        x = np.round(np.clip(z, 0, 1) * 255).astype(np.uint8)
    assert np.abs(out.astype(int) - x).max() <= 1


def test_tiles_on_the_fine_grid_equal_the_whole_image():
    net = _net(2)
    image = _image((70, 80, 3), seed=3)
    whole = _enh(net, psf="gauss:2").enhance(image)
    tiled = _enh(net, psf="gauss:2", tile=48)
    assert len(tiled.plan(142, 162)) > 1
    assert np.abs(tiled.enhance(image).astype(int) - whole).max() <= 1


def test_an_upscaling_model_needs_the_psf():
    with pytest.raises(MicroGANError, match="needs the PSF"):
        _enh(_net()).enhance(_image())
