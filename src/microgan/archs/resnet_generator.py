"""DeblurGAN's ResNet generator (Kupyn et al. 2018, after Johnson et al. 2016), the paper's baseline.

Reflection-padded 7x7 convolution to ``base`` filters, two stride-2 3x3 convolutions (x2 filters
each), ``blocks`` residual blocks (reflect pad, 3x3 conv, norm, ReLU, [dropout], reflect pad, 3x3
conv, norm), two stride-2 transposed convolutions back, a reflection-padded 7x7 convolution to the
output channels, then DeblurGAN's tanh and global residual (``output = input + tanh(net(input))``;
DeblurGAN also clamps to [-1, 1], which MicroGAN leaves to inference). Instance norm without
affine parameters, as DeblurGAN's PyTorch code; 11,378,179 parameters for RGB.
"""
from __future__ import annotations

import torch
from torch import nn

from microgan.archs.layers import SizeInvariantGenerator, make_norm
from microgan.registry import GENERATORS


class _ResBlock(nn.Module):
    def __init__(self, channels: int, norm: str, dropout: float) -> None:
        super().__init__()
        layers = [
            nn.ReflectionPad2d(1),
            nn.Conv2d(channels, channels, 3),
            make_norm(norm, channels),
            nn.ReLU(inplace=True),
        ]
        if dropout > 0:
            layers.append(nn.Dropout(dropout))
        layers += [nn.ReflectionPad2d(1), nn.Conv2d(channels, channels, 3), make_norm(norm, channels)]
        self.net = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.net(x)


@GENERATORS.register("resnet-deblurgan")
class ResNetGenerator(SizeInvariantGenerator):
    """DeblurGAN generator for any input size: padded to a multiple of 4 (two stride-2 levels)
    and to at least 8 so the 1/4-resolution blocks can reflect-pad and instance-normalize."""

    def __init__(
        self,
        in_channels: int = 3,
        out_channels: int = 3,
        base: int = 64,
        blocks: int = 9,
        norm: str = "instance",
        dropout: float = 0.0,
        residual: bool = True,
        output_activation: str = "tanh",
        identity_init: bool = False,
    ) -> None:
        downs = 2
        super().__init__(
            in_channels, out_channels, residual, output_activation, multiple=2**downs, min_size=2 ** (downs + 1)
        )
        layers = [
            nn.ReflectionPad2d(3),
            nn.Conv2d(in_channels, base, 7),
            make_norm(norm, base),
            nn.ReLU(inplace=True),
        ]
        ch = base
        for _ in range(downs):
            layers += [nn.Conv2d(ch, 2 * ch, 3, stride=2, padding=1), make_norm(norm, 2 * ch), nn.ReLU(inplace=True)]
            ch *= 2
        layers += [_ResBlock(ch, norm, dropout) for _ in range(blocks)]
        for _ in range(downs):
            layers += [
                nn.ConvTranspose2d(ch, ch // 2, 3, stride=2, padding=1, output_padding=1),
                make_norm(norm, ch // 2),
                nn.ReLU(inplace=True),
            ]
            ch //= 2
        layers += [nn.ReflectionPad2d(3), nn.Conv2d(ch, out_channels, 7)]
        self.body = nn.Sequential(*layers)
        if identity_init:
            self.start_at_identity()
