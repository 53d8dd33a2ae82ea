"""The Enhancer with a model told the PSF: the network input on the whole image, exact tiles with the
data term on, the final solve at the discrepancy principle's weight, the estimated PSF when none is given."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from microgan.archs import build_generator
from microgan.core import physics
from microgan.core.checkpoint import Checkpoint, save_checkpoint
from microgan.core.fourier import solve_regions
from microgan.core.psf import gaussian_kernel
from microgan.errors import MicroGANError, PsfError
from microgan.infer import Enhancer

SPEC = {"type": "unet-psf", "channels": [4, 8, 16], "image_channels": 3}


def _net(seed: int = 0) -> torch.nn.Module:
    torch.manual_seed(seed)
    net = build_generator(SPEC).eval()
    with torch.no_grad():
        net.body.head.weight.mul_(0.05)  # a small correction: outputs stay in range, differences show
    return net


def _enh(net: torch.nn.Module, **kw) -> Enhancer:
    return Enhancer(net, {}, device="cpu", precision="fp32", **{"tile": None, "backend": "torch", **kw})


def _image(shape=(70, 90, 3), seed: int = 0) -> np.ndarray:
    import cv2

    rng = np.random.default_rng(seed)
    x = rng.random(shape[:2]).astype(np.float32)
    x = cv2.GaussianBlur(x, (0, 0), 2.0)
    x = (x - x.min()) / (x.max() - x.min())
    x = np.stack([x, x**2, 1 - x], axis=2) if len(shape) == 3 else x
    return np.round(x * 255).astype(np.uint8)


def _reference(net: torch.nn.Module, image: np.ndarray, kernel: np.ndarray, consistency: bool, run) -> np.ndarray:
    """The whole pipeline by hand: the network input, one network pass (its edges reflected as the
    Enhancer reflects them: ``run``, the ``edge_padded`` fixture), the discrepancy solve."""
    y = image.astype(np.float32) / 255
    y3 = y if y.ndim == 3 else np.repeat(y[..., None], 3, axis=2)
    sigma = physics.estimate_noise(y3)
    stack = physics.network_input(y3, kernel, sigma)
    out = run(net, torch.from_numpy(stack.transpose(2, 0, 1))[None]).clamp(-1, 1)[0].numpy().transpose(1, 2, 0)
    x = (out + 1) / 2
    x = x if image.ndim == 3 else x.mean(axis=2)
    x = np.round(np.clip(x, 0, 1) * 255).astype(np.uint8)
    lam = physics.discrepancy_weight(x.astype(np.float32) / 255, y, kernel, sigma) if consistency else None
    if lam is None:
        return x
    z = solve_regions(y, kernel, lam, prior=x.astype(np.float32) / 255)
    return np.round(np.clip(z, 0, 1) * 255).astype(np.uint8)


@pytest.mark.parametrize("consistency", [True, False])
@pytest.mark.parametrize("shape", [(70, 90, 3), (33, 47)])
def test_told_psf_equals_the_pipeline_by_hand(consistency: bool, shape, edge_padded) -> None:
    net, image, k = _net(), _image(shape), gaussian_kernel(2.0)
    enh = _enh(net, psf="gauss:2", consistency="auto" if consistency else False)
    assert enh.consistency == consistency  # auto: on for a model told the PSF
    out = enh.enhance(image)
    assert out.shape == image.shape and out.dtype == image.dtype
    assert np.abs(out.astype(int) - _reference(net, image, k, consistency, edge_padded)).max() <= 1
    fit = enh.fits[0]
    assert fit.kind == "given" and fit.width == pytest.approx(2.0, rel=0.03)
    assert fit.noise == pytest.approx(physics.estimate_noise(image.astype(np.float32) / 255), rel=1e-5)


def test_tiles_equal_the_whole_image_with_the_data_term_on() -> None:
    net = _net(1)
    image = _image((150, 170, 3), seed=2)
    whole = _enh(net, psf="gauss:2.6").enhance(image)
    tiled = _enh(net, psf="gauss:2.6", tile=48)
    assert len(tiled.plan(152, 172)) > 1
    assert np.abs(tiled.enhance(image).astype(int) - whole).max() <= 1  # the network's summation order only
    x = image.astype(np.float32) / 255
    exact = np.abs(_enh(net, psf="gauss:2.6", tile=48).enhance(x) - _enh(net, psf="gauss:2.6").enhance(x)).max()
    assert exact < 1e-4


def test_sample_types_are_kept() -> None:
    net = _net()
    image16 = _image().astype(np.uint16) * 257
    out = _enh(net, psf="disk:3").enhance(image16)
    assert out.dtype == np.uint16 and out.shape == image16.shape
    ref = _enh(net, psf="disk:3").enhance(_image())
    assert np.abs(out / 257.0 - ref).max() <= 1.5


def test_a_blind_model_cannot_be_told_a_psf() -> None:
    torch.manual_seed(0)
    plain = build_generator({"type": "unet", "channels": [4, 8, 16]}).eval()
    with pytest.raises(MicroGANError, match="trained blind"):
        _enh(plain, psf="gauss:2")
    enh = _enh(plain)
    assert not enh.takes_psf
    with pytest.raises(MicroGANError, match="trained blind"):
        enh.set_psf("gauss:2")


def test_bad_psf_is_one_clear_error() -> None:
    with pytest.raises(PsfError, match="even|odd"):
        _enh(_net(), psf=np.ones((4, 4)))


def test_without_a_psf_it_is_estimated_with_the_blind_model(tmp_path: Path) -> None:
    """No PSF given: the estimator restores the image, the PSF is fitted to the pair, and the model
    is told that PSF (the same output as telling it the fitted kernel by hand)."""
    torch.manual_seed(0)
    spec = {"type": "unet", "channels": [4, 8, 16], "identity_init": True}
    blind = tmp_path / "blind.safetensors"
    save_checkpoint(blind, Checkpoint(meta={"config": {"name": "b", "generator": spec}, "step": 1, "epoch": 0},
                                      generator=build_generator(spec).state_dict()))
    net = _net()
    image = _image((64, 64, 3), seed=5)
    enh = _enh(net, psf_estimator=blind)
    out = enh.enhance(image)
    fit = enh.fits[0]
    assert fit.kind in ("gaussian", "disk")
    told = _enh(net, psf=fit.kernel).enhance(image)
    np.testing.assert_array_equal(out, told)
    with pytest.raises(MicroGANError, match="needs a PSF"):
        _enh(net, psf_estimator=None).enhance(image)


def test_the_estimate_on_a_large_image_restores_only_the_fit_window(tmp_path: Path, monkeypatch) -> None:
    """On an image larger than the fit window the blind model restores that window with its halo,
    not the whole image, and the fit equals the one made on the whole image's restoration."""
    from microgan.infer import consistency

    torch.manual_seed(1)
    spec = {"type": "unet", "channels": [4, 8, 16], "identity_init": True}
    blind = tmp_path / "blind.safetensors"
    save_checkpoint(blind, Checkpoint(meta={"config": {"name": "b", "generator": spec}, "step": 1, "epoch": 0},
                                      generator=build_generator(spec).state_dict()))
    image = _image((160, 700, 3), seed=3)  # wider than FIT_WINDOW + 2 CONTEXT: a window is chosen
    region, _ = consistency.fit_window(image, lambda a: a.astype(np.float32) / 255)
    assert region[1].stop - region[1].start < image.shape[1]
    enh = _enh(_net(), psf_estimator=blind)
    seen = []
    restore = Enhancer.run_network

    def spy(self, arrays, *args, **kwargs):
        seen.append((self is enh.estimator, arrays[0].shape))
        return restore(self, arrays, *args, **kwargs)

    monkeypatch.setattr(Enhancer, "run_network", spy)
    enh.enhance(image)
    widths = [shape[1] for by_estimator, shape in seen if by_estimator]
    assert widths and max(widths) < image.shape[1]
    whole = _enh(_net(), psf_estimator=blind)
    whole.estimator.enhance(image)  # the blind model's own consistency step fits on the whole restoration
    assert enh.fits[0].kind == whole.estimator.fits[0].kind
    assert enh.fits[0].width == pytest.approx(whole.estimator.fits[0].width)


def test_the_estimate_window_maps_values_as_the_whole_image(tmp_path: Path) -> None:
    """A float image mapped by its own range: the window restored for the PSF fit uses the whole
    image's bounds (its own maximum would map it differently), so the fit is the whole image's."""
    torch.manual_seed(2)
    spec = {"type": "unet", "channels": [4, 8, 16], "identity_init": True}
    blind = tmp_path / "blind.safetensors"
    save_checkpoint(blind, Checkpoint(meta={"config": {"name": "b", "generator": spec}, "step": 1, "epoch": 0},
                                      generator=build_generator(spec).state_dict()))
    image = _image((160, 700, 3), seed=4).astype(np.float32) * (1000 / 255)
    image[:, :40] *= 3  # the brightest part lies outside the fit window
    enh = _enh(_net(), psf_estimator=blind)
    enh.enhance(image)
    whole = _enh(_net(), psf_estimator=blind)
    whole.estimator.enhance(image)
    assert enh.fits[0].kind == whole.estimator.fits[0].kind
    assert enh.fits[0].width == pytest.approx(whole.estimator.fits[0].width)
