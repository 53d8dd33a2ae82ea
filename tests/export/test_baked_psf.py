"""A model told the PSF with its PSF built in: the spatial filter against the Fourier solve, the baked
generator against the told Enhancer, exact tiles, the exports, and the refusals."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from microgan.archs import build_generator
from microgan.cli import main
from microgan.core import physics
from microgan.core.checkpoint import Checkpoint, save_checkpoint
from microgan.core.fourier import solve_regions, tikhonov_filter
from microgan.core.psf import disk_kernel, gaussian_kernel
from microgan.errors import MicroGANError
from microgan.export.baked_psf import BakedPsfGenerator, halo_of, load_for_export
from microgan.infer import Enhancer

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning", "ignore::UserWarning")

SPEC = {"type": "unet-psf", "channels": [4, 8, 16], "image_channels": 3}


def _net() -> torch.nn.Module:
    torch.manual_seed(0)
    net = build_generator(SPEC).eval()
    with torch.no_grad():
        net.body.head.weight.mul_(0.05)  # a small correction: outputs stay in range, differences show
    return net


def _image(shape=(90, 110), seed: int = 0) -> np.ndarray:
    import cv2

    rng = np.random.default_rng(seed)
    x = cv2.GaussianBlur(rng.random(shape).astype(np.float32), (0, 0), 2.0)
    x = (x - x.min()) / (x.max() - x.min())
    return np.stack([x, x**2, 1 - x], axis=2).astype(np.float32)


def _enh(net: torch.nn.Module, **kw) -> Enhancer:
    return Enhancer(net, {}, device="cpu", precision="fp32", consistency=False, normalizer="range",
                    **{"tile": None, "backend": "torch", **kw})


def _lopsided() -> np.ndarray:
    """A PSF that is not symmetric (a comet: a core and a tail to one side), as measured PSFs can be."""
    kernel = gaussian_kernel(1.0)
    kernel = np.pad(kernel, 4)
    kernel[kernel.shape[0] // 2, -5:] += 0.03
    return kernel / kernel.sum()


@pytest.mark.parametrize("kernel,noise", [(gaussian_kernel(1.5), 0.01), (gaussian_kernel(2.5), physics.NOISE_FLOOR),
                                          (_lopsided(), 0.01)])
def test_the_filter_is_the_fourier_solve(kernel: np.ndarray, noise: float) -> None:
    weight = physics.deconvolution_weight(noise)
    taps = tikhonov_filter(kernel, weight)
    assert taps.shape[0] == taps.shape[1] and taps.shape[0] % 2 == 1
    assert taps.sum() == pytest.approx(1.0, abs=1e-5)
    import cv2

    y = _image((300, 300))
    # taps is a convolution kernel; OpenCV's filter2D correlates, so it is given the kernel turned
    turned = np.ascontiguousarray(taps[::-1, ::-1])
    spatial = np.stack([cv2.filter2D(y[..., c], -1, turned, borderType=cv2.BORDER_REFLECT_101) for c in range(3)], -1)
    # the cut leaves out at most FILTER_TAIL of the filter: a fraction of a grey level on a full-range image
    assert np.abs(spatial - solve_regions(y, kernel, weight)).max() * 255 < 0.3


def test_a_filter_that_reaches_too_far_is_refused() -> None:
    with pytest.raises(ValueError, match="reaches beyond"):  # a disk's transfer has zeros; almost no noise
        tikhonov_filter(disk_kernel(4.0), physics.deconvolution_weight(physics.NOISE_FLOOR))
    with pytest.raises(MicroGANError, match="state more noise"):
        BakedPsfGenerator(_net(), disk_kernel(4.0), noise=0.0)


@pytest.mark.parametrize("shape,kernel", [((90, 110), gaussian_kernel(1.8)), ((64, 96), _lopsided()),
                                          ((7, 5), gaussian_kernel(1.8))])
def test_the_baked_generator_is_the_told_enhancer_at_any_size(shape, kernel) -> None:
    """Odd sizes included: the image is deconvolved before it is padded for the network, as `enhance
    --psf` does (padding first reflected it twice at its edges: 20 grey levels there, measured); a
    lopsided PSF too (a convolution layer correlates: an unturned filter was 76 grey levels off)."""
    net, y = _net(), _image(shape)
    noise = physics.estimate_noise(y)
    baked = BakedPsfGenerator(net, kernel, noise)
    assert not getattr(baked, "takes_psf", False) and baked.in_channels == 3
    told = _enh(net, psf=kernel).enhance(y)
    whole = _enh(baked).enhance(y)
    assert np.abs(whole - told).max() * 255 < 0.5  # the cut filter: a fraction of a grey level


def test_tiles_on_the_network_grid_cropped_by_the_halo_equal_the_whole_image() -> None:
    """What a bioimage.io consumer does: tiles whose sides are multiples of the declared step, each
    cropped by the declared halo (the measured receptive-field radius, which covers the filter)."""
    baked = BakedPsfGenerator(_net(), gaussian_kernel(1.8), 0.01)
    halo = halo_of(baked, _enh(baked).field.radius)
    assert halo >= baked.radius + 1
    x = torch.from_numpy(_image((256, 320)).transpose(2, 0, 1)[None] * 2 - 1)
    with torch.no_grad():
        whole = baked(x)
        tile = baked(x[:, :, 64:256, 96:320])  # starts and sides multiples of the network's step
    kept = tile[:, :, halo : 192 - halo, halo : 224 - halo]
    assert torch.equal(kept, whole[:, :, 64 + halo : 256 - halo, 96 + halo : 320 - halo])


def test_the_enhancer_runs_a_baked_model_on_whole_images_only() -> None:
    with pytest.raises(MicroGANError, match="whole images"):
        _enh(BakedPsfGenerator(_net(), gaussian_kernel(1.8), 0.01), tile=64)


def test_the_noise_level_built_in_matters_and_is_stated() -> None:
    net, kernel, y = _net(), gaussian_kernel(1.8), _image()
    low = _enh(BakedPsfGenerator(net, kernel, 0.002)).enhance(y)
    high = _enh(BakedPsfGenerator(net, kernel, 0.05)).enhance(y)
    assert np.abs(low - high).mean() * 255 > 0.5
    described = BakedPsfGenerator(net, kernel, 0.0).description()
    assert described["noise"] == pytest.approx(physics.NOISE_FLOOR) and described["filter_radius"] > 0


@pytest.fixture
def psf_checkpoint(tmp_path: Path) -> Path:
    path = tmp_path / "psf.safetensors"
    meta = {"config": {"name": "tiny-psf", "generator": SPEC}, "step": 1, "epoch": 0}
    save_checkpoint(path, Checkpoint(meta=meta, generator=_net().state_dict()))
    return path


def test_load_for_export_bakes_or_refuses(psf_checkpoint: Path, save_tiny_generator, tmp_path: Path) -> None:
    baked, meta = load_for_export(psf_checkpoint, "gauss:1.5", 0.02)
    assert isinstance(baked, BakedPsfGenerator) and meta["baked_psf"]["source"] == "gauss:1.5"
    assert meta["baked_psf"]["noise"] == 0.02
    plain, meta = load_for_export(psf_checkpoint)
    assert getattr(plain, "takes_psf", False) and "baked_psf" not in meta
    with pytest.raises(MicroGANError, match="--noise is the noise level"):
        load_for_export(psf_checkpoint, None, 0.02)
    with pytest.raises(MicroGANError, match="not told a PSF"):
        load_for_export(save_tiny_generator(tmp_path / "plain.safetensors"), "gauss:1.5")
    with pytest.raises(MicroGANError, match="from 0 to 1"):
        load_for_export(psf_checkpoint, "gauss:1.5", 2.0)


def test_cli_onnx_export_with_the_psf_built_in_runs_as_the_told_model(psf_checkpoint: Path, tmp_path: Path,
                                                                      capsys) -> None:
    import onnxruntime as ort

    out = tmp_path / "psf.onnx"
    assert main(["export", "--model", str(psf_checkpoint), "--psf", "gauss:1.8", "--noise", "0.01", "-o", str(out)]) == 0
    assert "PSF gauss:1.8 and noise 0.01 built in" in capsys.readouterr().out
    y = _image()
    session = ort.InferenceSession(str(out), providers=["CPUExecutionProvider"])
    x = (y.transpose(2, 0, 1)[None] * 2 - 1).astype(np.float32)
    got = (session.run(None, {"input": x})[0][0].transpose(1, 2, 0) + 1) / 2
    # the told Enhancer with the same noise level: the package restores what `enhance --psf` does
    expected = BakedPsfGenerator(_net(), gaussian_kernel(1.8), 0.01)
    want = _enh(expected).enhance(y)
    assert np.abs(np.clip(got, 0, 1) - want).max() * 255 < 0.05
    # bad requests: one line each, nothing written
    assert main(["export", "--model", str(psf_checkpoint), "--noise", "0.01", "-o", str(tmp_path / "n.onnx")]) == 2
    assert main(["export", "--model", str(psf_checkpoint), "--psf", "disk:4", "--noise", "0",
                 "-o", str(tmp_path / "d.onnx")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 2 and "give the PSF too" in err[0] and "state more noise" in err[1]
    assert not (tmp_path / "n.onnx").exists() and not (tmp_path / "d.onnx").exists()


def test_bioimageio_package_of_a_model_told_the_psf(psf_checkpoint: Path, tmp_path: Path, capsys) -> None:
    pytest.importorskip("bioimageio.core", reason="bioimage.io export needs the 'bioimageio' extra")
    import io
    import zipfile

    import yaml

    package = tmp_path / "psf.zip"
    assert main(["export", "--model", str(psf_checkpoint), "--format", "bioimageio", "-o", str(package)]) == 2
    assert "built into the package" in capsys.readouterr().err
    assert main(["export", "--model", str(psf_checkpoint), "--format", "bioimageio", "--psf", "gauss:1.5",
                 "-o", str(package)]) == 0
    assert "bioimageio test: passed" in capsys.readouterr().out
    with zipfile.ZipFile(package) as z:
        rdf = yaml.safe_load(z.read("rdf.yaml"))
        readme = z.read("README.md").decode()
        test_input = np.load(io.BytesIO(z.read("test_input.npy")))
    assert rdf["inputs"][0]["axes"][1]["channel_names"] == ["red", "green", "blue"] and test_input.shape[1] == 3
    baked = BakedPsfGenerator(_net(), gaussian_kernel(1.5), 0.01)
    assert rdf["outputs"][0]["axes"][2]["halo"] >= baked.radius
    assert "PSF: built in: gauss:1.5" in readme and "noise 0.01" in readme


@pytest.mark.parametrize("scale,shape", [(2, (40, 52)), (4, (23, 17))])
def test_the_baked_upscaler_is_the_told_upscaling_enhancer(scale, shape) -> None:
    """An upscaling model baked: the transposed-convolution form of the sampled solve and PyTorch's
    bicubic enlargement compute what the Enhancer computes with Fourier transforms and OpenCV."""
    from microgan.core.contract import contract_for
    from microgan.core.fourier_sampled import sampled_tikhonov_filter

    kernel = gaussian_kernel(1.5)
    weight = physics.deconvolution_weight(0.01)
    taps, radius = sampled_tikhonov_filter(kernel, weight, scale)
    assert taps.shape == (2 * radius + scale,) * 2
    degradation = {"type": "compose", "steps": [{"type": "blur", "sigma": 1.0}, {"type": "downsample", "factor": scale}]}
    config = {"name": "tiny-psf-x", "generator": SPEC, "data": {"degradation": degradation}}
    meta = {"config": config, "io": contract_for(config)}
    net, y = _net(), _image(shape)
    noise = physics.estimate_noise(y)
    baked = BakedPsfGenerator(net, kernel, noise, scale=scale)
    told = Enhancer(net, meta, device="cpu", precision="fp32", consistency=False, normalizer="range", tile=None,
                    backend="torch", psf=kernel).enhance(y)
    assert told.shape == (shape[0] * scale, shape[1] * scale, 3)
    with torch.no_grad():
        out = baked(torch.from_numpy(y.transpose(2, 0, 1)[None] * 2 - 1))[0].numpy().transpose(1, 2, 0)
    assert np.abs(np.clip((out + 1) / 2, 0, 1) - told).max() * 255 < 0.5


def test_an_upscalers_tiles_cropped_by_the_declared_halo_equal_the_whole_image() -> None:
    """What a bioimage.io consumer does with a baked upscaler: input tiles on the declared step, outputs
    cropped by the declared halo (scale x the input halo)."""
    import math

    from microgan.export.baked_psf import upscaler_halo

    scale = 2
    baked = BakedPsfGenerator(_net(), gaussian_kernel(1.5), 0.01, scale=scale).eval()
    halo = upscaler_halo(baked)
    step = baked.network_multiple // math.gcd(baked.network_multiple, scale)
    x = torch.from_numpy(_image((96, 112)).transpose(2, 0, 1)[None] * 2 - 1)
    top, left = 3 * step, 2 * step
    with torch.no_grad():
        whole = baked(x)
        tile = baked(x[:, :, top : top + 64, left : left + 80])
    kept = tile[:, :, scale * halo : scale * (64 - halo), scale * halo : scale * (80 - halo)]
    reference = whole[:, :, scale * (top + halo) : scale * (top + 64 - halo), scale * (left + halo) : scale * (left + 80 - halo)]
    assert (kept - reference).abs().max() < 1e-5
