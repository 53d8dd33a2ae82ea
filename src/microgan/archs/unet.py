"""One parametrized U-Net (Ronneberger et al. 2015) serving MicroGAN's trimmed generator and
MicroGAN-NT's full one.

Per level: two 3x3 convolutions (zero 'same' padding, so the output keeps the input size, unlike
the original's valid convolutions), each followed by optional normalization and ReLU; 2x2 max
pooling down; a 2x2 stride-2 transposed convolution ("up-convolution") + ReLU up, halving the
channels, then concatenation with the skip and two 3x3 convolutions; a final 1x1 convolution.
"""
from __future__ import annotations

from typing import List, Mapping, Sequence

import torch
from torch import nn

from microgan.archs.layers import SizeInvariantGenerator, make_norm
from microgan.errors import ConfigError
from microgan.registry import GENERATORS

# Ronneberger's widths: 64 at full resolution doubling to 1024 at 1/16 (MicroGAN-NT).
FULL_CHANNELS = (64, 128, 256, 512, 1024)
# MicroGAN's trimming (the paper's Fig. 1 is missing): drop Ronneberger's deepest level (the
# 1024-wide "semantic" one, depth 4 -> 3) and scale the widths by 5/8. 3,008,043 parameters for
# RGB, paper: 3.063M; the search is in docs/paper-notes.md.
TRIMMED_CHANNELS = (40, 80, 160, 320)


def _conv_block(in_ch: int, out_ch: int, norm: str) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(in_ch, out_ch, 3, padding=1),
        make_norm(norm, out_ch),
        nn.ReLU(inplace=True),
        nn.Conv2d(out_ch, out_ch, 3, padding=1),
        make_norm(norm, out_ch),
        nn.ReLU(inplace=True),
    )


class _UNetBody(nn.Module):
    def __init__(self, in_channels: int, out_channels: int, channels: Sequence[int], norm: str) -> None:
        super().__init__()
        self.down = nn.ModuleList()
        prev = in_channels
        for ch in channels[:-1]:
            self.down.append(_conv_block(prev, ch, norm))
            prev = ch
        self.pool = nn.MaxPool2d(2)
        self.bottom = _conv_block(prev, channels[-1], norm)
        self.up = nn.ModuleList()
        self.merge = nn.ModuleList()
        for deep, skip in zip(reversed(channels[1:]), reversed(channels[:-1])):
            self.up.append(nn.Sequential(nn.ConvTranspose2d(deep, skip, 2, stride=2), nn.ReLU(inplace=True)))
            self.merge.append(_conv_block(2 * skip, skip, norm))
        self.head = nn.Conv2d(channels[0], out_channels, 1)
        self._he_init()

    def _he_init(self) -> None:
        """Ronneberger's initialization: Gaussian weights with std sqrt(2 / fan-in), zero biases.

        PyTorch's default (uniform, variance 1 / (3 fan-in)) shrinks the signal about 2.4x per
        conv + ReLU: the features reaching the head were ~0.013 for inputs of ~0.5 (measured), so
        an identity-initialized generator learnt its correction at a crawl. He's rule keeps the
        scale. A 2x2 stride-2 up-convolution feeds each output pixel from one kernel tap per input
        channel, so its fan-in is its input width (PyTorch's fan computation would count 4 taps).
        """
        for m in self.modules():
            if isinstance(m, nn.ConvTranspose2d):
                fan_in = m.in_channels * (m.kernel_size[0] // m.stride[0]) * (m.kernel_size[1] // m.stride[1])
                nn.init.normal_(m.weight, std=(2.0 / fan_in) ** 0.5)
            elif isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_in", nonlinearity="relu")
            else:
                continue
            if m.bias is not None:
                nn.init.zeros_(m.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        skips: List[torch.Tensor] = []
        for block in self.down:
            x = block(x)
            skips.append(x)
            x = self.pool(x)
        x = self.bottom(x)
        for up, merge, skip in zip(self.up, self.merge, reversed(skips)):
            x = merge(torch.cat([up(x), skip], dim=1))
        return self.head(x)


@GENERATORS.register("unet")
class UNet(SizeInvariantGenerator):
    """U-Net generator for any input size.

    ``channels`` lists the widths from full resolution down to the bottleneck; its length minus
    one is the depth (number of poolings), so the input is padded to a multiple of ``2**depth``
    (twice that when normalized, so the bottleneck keeps more than one pixel to normalize over).
    """

    def __init__(
        self,
        in_channels: int = 3,
        out_channels: int = 3,
        channels: Sequence[int] = TRIMMED_CHANNELS,
        norm: str = "none",
        residual: bool = True,
        output_activation: str = "none",
        identity_init: bool = False,
        residual_offset: int = 0,
    ) -> None:
        if len(channels) < 2 or any(int(c) < 1 for c in channels):
            raise ConfigError(f"unet channels must list at least two positive widths, got {list(channels)}")
        depth = len(channels) - 1
        multiple = 2**depth
        super().__init__(
            in_channels,
            out_channels,
            residual,
            output_activation,
            multiple=multiple,
            min_size=multiple if norm == "none" else 2 * multiple,
            residual_offset=residual_offset,
        )
        self.channels = tuple(int(c) for c in channels)
        self.body = _UNetBody(in_channels, out_channels, self.channels, norm)
        if identity_init:
            self.start_at_identity()


@GENERATORS.register("unet-trimmed")
def unet_trimmed(**kwargs) -> UNet:
    """MicroGAN's generator: the trimmed U-Net (widths overridable with ``channels``)."""
    return UNet(**{"channels": TRIMMED_CHANNELS, **kwargs})


@GENERATORS.register("unet-full")
def unet_full(**kwargs) -> UNet:
    """MicroGAN-NT's generator: Ronneberger's U-Net, 64 to 1024 filters, no trimming."""
    return UNet(**{"channels": FULL_CHANNELS, **kwargs})


class PsfUNet(UNet):
    """MicroGAN's trimmed U-Net told the PSF (:mod:`microgan.core.physics`): its input is the image,
    the image's Tikhonov deconvolution with the PSF and the noise level (``2 C + 1`` channels for
    a ``C``-channel image), its output a correction added to the deconvolution. The physics does the
    deblurring; the network learns what a sharp image looks like, which transfers across sample
    types where a learnt blur does not. Size-invariant like the plain U-Net: any crop, exact tiles
    (the deconvolution is computed on the whole image first)."""

    takes_psf = True

    def __init__(self, image_channels: int = 3, channels: Sequence[int] = TRIMMED_CHANNELS, **kwargs) -> None:
        if "in_channels" in kwargs or "out_channels" in kwargs or "residual_offset" in kwargs:
            raise ConfigError("unet-psf takes image_channels; its input and output channels follow from it")
        self.image_channels = int(image_channels)
        super().__init__(in_channels=2 * self.image_channels + 1, out_channels=self.image_channels, channels=channels,
                         residual_offset=self.image_channels, **kwargs)

    def adopt(self, plain: Mapping[str, torch.Tensor]) -> None:
        """Start from a plain U-Net's weights of the same widths (a model trained without the PSF):
        its first convolution reads the deconvolution channels (the image and noise channels start
        at zero), everything else is copied, and the last convolution is zeroed so that the new
        model starts as the deconvolution itself. Its learnt features are a better start than
        random ones; what they must now learn is to clean a deconvolution, not to deblur."""
        state = self.state_dict()
        first = next(k for k in state if k.endswith("weight") and state[k].dim() == 4)
        for name, value in plain.items():
            if name not in state:
                raise ConfigError(f"cannot start unet-psf from these weights: '{name}' has no counterpart")
            if name == first:
                c = self.image_channels
                if value.shape[1] != c or value.shape[0] != state[name].shape[0]:
                    raise ConfigError(f"cannot start unet-psf from these weights: first convolution {tuple(value.shape)}")
                weight = torch.zeros_like(state[name])
                weight[:, c : 2 * c] = value
                state[name] = weight
            elif value.shape != state[name].shape:
                raise ConfigError(f"cannot start unet-psf from these weights: '{name}' is {tuple(value.shape)}, "
                                  f"not {tuple(state[name].shape)}")
            else:
                state[name] = value.clone()
        self.load_state_dict(state)
        self.start_at_identity()


@GENERATORS.register("unet-psf")
def unet_psf(**kwargs) -> PsfUNet:
    """MicroGAN's trimmed U-Net told the PSF (:class:`PsfUNet`)."""
    return PsfUNet(**kwargs)
