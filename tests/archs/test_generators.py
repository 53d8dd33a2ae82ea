"""Generators: any size in, same size out; residual/activation options; the paper's parameter counts."""
from __future__ import annotations

import pytest
import torch

from microgan.archs import GENERATORS, build_generator, count_params, takes_psf
from microgan.archs.padding import crop, pad_to_multiple
from microgan.errors import ConfigError

SIZES = [(1, 1), (7, 13), (37, 53), (300, 41)]
# Narrow versions of each architecture so every size stays fast on a 2-core CPU.
SMALL = {
    "unet": {"type": "unet", "channels": [8, 16, 32, 64]},
    "unet-trimmed": {"type": "unet-trimmed", "channels": [8, 16, 32, 48]},
    "unet-full": {"type": "unet-full", "channels": [4, 8, 8, 16, 16]},
    "resnet-deblurgan": {"type": "resnet-deblurgan", "base": 4, "blocks": 2},
}


@pytest.mark.parametrize("name", sorted(SMALL))
@pytest.mark.parametrize("size", SIZES)
def test_small_generators_keep_any_size(name, size):
    gen = build_generator(SMALL[name]).eval()
    x = torch.rand(2, 3, *size) * 2 - 1
    with torch.no_grad():
        y = gen(x)
    assert y.shape == x.shape
    assert torch.isfinite(y).all()


@pytest.mark.parametrize("name", list(GENERATORS))
def test_default_generators_keep_an_odd_size(name):
    psf = takes_psf({"type": name})  # told the PSF: the image, its deconvolution and the noise level in
    gen = build_generator({"type": name, **({"image_channels": 3} if psf else {"in_channels": 3, "out_channels": 3})}).eval()
    x = torch.rand(1, 7 if psf else 3, 7, 13) * 2 - 1
    with torch.no_grad():
        assert gen(x).shape == (1, 3, 7, 13)


@pytest.mark.parametrize("norm", ["batch", "instance"])
@pytest.mark.parametrize("size", [(1, 1), (5, 3)])
def test_normalized_unet_trains_on_tiny_inputs(norm, size):
    """Normalization needs more than one value per channel at the bottleneck: the padding provides it."""
    gen = build_generator({"type": "unet", "channels": [4, 8, 8], "norm": norm}).train()
    x = torch.rand(1, 3, *size) * 2 - 1
    gen(x).sum().backward()


def test_resnet_trains_on_a_single_pixel():
    gen = build_generator({"type": "resnet-deblurgan", "base": 4, "blocks": 1}).train()
    gen(torch.zeros(1, 3, 1, 1)).sum().backward()


def test_grayscale_generator():
    gen = build_generator({"type": "unet", "in_channels": 1, "out_channels": 1, "channels": [4, 8]})
    assert gen(torch.zeros(2, 1, 9, 10)).shape == (2, 1, 9, 10)


def _zero_last_conv(gen):
    last = [m for m in gen.modules() if isinstance(m, torch.nn.Conv2d)][-1]
    torch.nn.init.zeros_(last.weight)
    torch.nn.init.zeros_(last.bias)


@pytest.mark.parametrize("spec", [SMALL["unet"], SMALL["resnet-deblurgan"]])
def test_residual_output_is_input_plus_correction(spec):
    """With the last convolution zeroed the correction is 0 (tanh(0) = 0 too): output == input."""
    gen = build_generator(spec).eval()
    _zero_last_conv(gen)
    x = torch.rand(2, 3, 11, 6) * 2 - 1
    assert torch.equal(gen(x), x)


def test_paper_sigmoid_output_is_reproducible():
    gen = build_generator({**SMALL["unet"], "residual": False, "output_activation": "sigmoid"}).eval()
    _zero_last_conv(gen)
    y = gen(torch.rand(1, 3, 9, 9))
    assert torch.allclose(y, torch.full_like(y, 0.5))


def test_non_residual_without_activation_is_the_raw_net():
    gen = build_generator({**SMALL["unet"], "residual": False}).eval()
    _zero_last_conv(gen)
    assert torch.equal(gen(torch.rand(1, 3, 9, 9)), torch.zeros(1, 3, 9, 9))


def test_paper_parameter_counts():
    """MicroGAN 3.063M (ours 3.008M, trimming chosen to land near it), Ronneberger's U-Net 31.0M
    (the paper's MicroGAN-NT says 19.97M: see notes), DeblurGAN 11.401M (ours 11.378M, no BN)."""
    assert count_params(build_generator({"type": "unet-trimmed"})) == 3_008_043
    assert abs(3_008_043 / 3.063e6 - 1) < 0.02
    assert count_params(build_generator({"type": "unet-full"})) == 31_031_875
    deblur = count_params(build_generator({"type": "resnet-deblurgan"}))
    assert deblur == 11_378_179
    assert abs(deblur / 11.401e6 - 1) < 0.01


def test_trimmed_channels_are_overridable():
    gen = build_generator({"type": "unet-trimmed", "channels": [16, 32]})
    assert gen.channels == (16, 32)
    assert gen.multiple == 2


@pytest.mark.parametrize(
    "spec",
    [
        {"type": "unet", "in_channels": 3, "out_channels": 1},  # residual needs equal channels
        {"type": "unet", "norm": "group"},
        {"type": "unet", "output_activation": "relu"},
        {"type": "unet", "channels": [16]},
        {"type": "unet", "widths": [16, 32]},  # unknown keyword
        {"type": "gap"},  # a critic is not a generator
        {"type": "nope"},
        {"in_channels": 3},
    ],
)
def test_bad_generator_specs_are_config_errors(spec):
    with pytest.raises(ConfigError):
        build_generator(spec)


def test_spec_is_not_mutated():
    spec = {"type": "unet", "channels": [4, 8]}
    build_generator(spec)
    assert spec == {"type": "unet", "channels": [4, 8]}


@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize("multiple,min_size", [(8, 1), (4, 8), (16, 32)])
def test_pad_then_crop_is_identity(size, multiple, min_size):
    x = torch.rand(1, 2, *size)
    padded, pads = pad_to_multiple(x, multiple, min_size)
    h, w = padded.shape[-2:]
    assert h % multiple == 0 and w % multiple == 0 and h >= min_size and w >= min_size
    assert torch.equal(crop(padded, pads), x)


def test_each_axis_reflects_when_possible_and_replicates_when_not():
    x = torch.arange(3.0).view(1, 1, 1, 3)
    padded, pads = pad_to_multiple(x, 4)  # width 3 -> 4: reflect (pad 1 < 3); height 1 -> 4: replicate
    assert pads == (0, 1, 1, 2)
    assert torch.equal(padded[0, 0], torch.tensor([[0.0, 1.0, 2.0, 1.0]] * 4))


@pytest.mark.parametrize("spec", [{"type": "unet", "channels": [16, 32]}, {"type": "resnet-deblurgan", "base": 8, "blocks": 1}])
def test_residual_generators_start_as_the_identity(spec: dict) -> None:
    x = torch.rand(1, 3, 19, 23) * 2 - 1
    assert torch.equal(build_generator({**spec, "identity_init": True})(x), x)
    assert not torch.allclose(build_generator(spec)(x), x)
    with pytest.raises(ConfigError, match="residual"):
        build_generator({**spec, "identity_init": True, "residual": False})


def test_unet_keeps_the_signal_scale_to_its_head() -> None:
    """He initialization: the features entering the head are as large as the input, not ~40x
    smaller as with PyTorch's default init (which starved an identity-initialized generator)."""
    torch.manual_seed(0)
    net = build_generator({"type": "unet-trimmed"})
    seen = {}

    def keep_head_input(module: torch.nn.Module, args: tuple, out: torch.Tensor) -> None:
        seen["x"] = args[0]

    net.body.head.register_forward_hook(keep_head_input)
    x = torch.rand(2, 3, 96, 96) * 2 - 1
    net(x)
    rms_in, rms_head = x.pow(2).mean().sqrt(), seen["x"].pow(2).mean().sqrt()
    assert 0.3 < rms_head / rms_in < 3.0
    up = net.body.up[0][0]
    assert float(up.weight.std()) == pytest.approx((2.0 / up.in_channels) ** 0.5, rel=0.05)
