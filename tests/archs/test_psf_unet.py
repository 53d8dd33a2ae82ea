"""unet-psf: the trimmed U-Net told the PSF (input: image, deconvolution, noise; output: a correction of
the deconvolution), and how it starts from a plain U-Net's weights."""
from __future__ import annotations

import pytest
import torch

from microgan.archs import build_generator, image_channels, takes_psf
from microgan.archs.unet import PsfUNet
from microgan.errors import ConfigError

SMALL = [4, 8, 16]


@pytest.mark.parametrize("channels", [1, 3])
def test_channels_follow_the_image(channels: int) -> None:
    net = build_generator({"type": "unet-psf", "image_channels": channels, "channels": SMALL})
    assert isinstance(net, PsfUNet) and net.takes_psf
    assert net.in_channels == 2 * channels + 1 and net.out_channels == channels
    spec = {"type": "unet-psf", "image_channels": channels}
    assert takes_psf(spec) and image_channels(spec) == channels
    assert not takes_psf({"type": "unet-trimmed"}) and image_channels({"type": "unet", "in_channels": 1}) == 1


def test_identity_start_returns_the_deconvolution() -> None:
    net = build_generator({"type": "unet-psf", "channels": SMALL, "identity_init": True})
    x = torch.randn(2, 7, 21, 34)
    torch.testing.assert_close(net(x), x[:, 3:6])


def test_adopting_a_plain_unet_starts_as_the_deconvolution_with_its_features() -> None:
    torch.manual_seed(1)
    plain = build_generator({"type": "unet", "channels": SMALL})
    net = build_generator({"type": "unet-psf", "channels": SMALL})
    net.adopt(plain.state_dict())
    x = torch.randn(1, 7, 24, 24)
    torch.testing.assert_close(net(x), x[:, 3:6])
    first = net.body.down[0][0].weight
    torch.testing.assert_close(first[:, 3:6], plain.body.down[0][0].weight)
    assert first[:, :3].abs().sum() == 0 and first[:, 6:].abs().sum() == 0
    torch.testing.assert_close(net.body.bottom[0].weight, plain.body.bottom[0].weight)


def test_adopting_other_widths_is_refused() -> None:
    plain = build_generator({"type": "unet", "channels": [4, 8, 32]})
    net = build_generator({"type": "unet-psf", "channels": SMALL})
    with pytest.raises(ConfigError, match="cannot start unet-psf"):
        net.adopt(plain.state_dict())


def test_input_channels_cannot_be_given() -> None:
    with pytest.raises(ConfigError, match="image_channels"):
        build_generator({"type": "unet-psf", "in_channels": 3})
    with pytest.raises(ConfigError, match="adds its output to input channels"):
        build_generator({"type": "unet", "in_channels": 4, "out_channels": 3, "residual_offset": 2})
