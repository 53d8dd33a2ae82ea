"""VGG16/VGG19 feature extractors in plain torch, loading torchvision-format ImageNet weights.

torchvision cannot be imported here (and is not a dependency), so the ``features`` stack is rebuilt
with torchvision's layer indices: a torchvision state dict (``features.0.weight`` ...) loads as is.
Only the layers up to the one the perceptual loss reads are built:

* ``vgg19``: ``features.14`` = conv3_3 before its ReLU, DeblurGAN's PyTorch perceptual layer
  (``conv_3_3_layer = 14``), the paper's reference [7] for the loss and its weight of 100.
* ``vgg16``: ``features.15`` = block3_conv3 after its ReLU, i.e. Keras' ``block3_conv3`` output
  (Keras folds the ReLU into the conv layer), the layer of the Keras DeblurGAN the paper built on.

Weights come from an explicit file, the torch hub cache (``$TORCH_HOME/hub/checkpoints`` or
``~/.cache/torch/hub/checkpoints``) or a download from download.pytorch.org, checked against the
SHA-256 prefix in the file name (torchvision's convention).
"""
from __future__ import annotations

from pathlib import Path
from typing import Dict, Mapping, Optional

import torch
from torch import nn

from microgan.errors import CheckpointError

# "M" = 2x2 max pooling; numbers = 3x3 conv widths (torchvision cfgs "D" and "E").
_CFGS = {
    "vgg16": [64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M"],
    "vgg19": [64, 64, "M", 128, 128, "M", 256, 256, 256, 256, "M", 512, 512, 512, 512, "M", 512, 512, 512, 512, "M"],
}
# Index of the last ``features`` module the perceptual loss uses (see module docstring).
FEATURE_LAYER = {"vgg19": 14, "vgg16": 15}
MIN_SIZE = 4  # two 2x2 poolings before block 3
URLS = {
    "vgg16": "https://download.pytorch.org/models/vgg16-397923af.pth",
    "vgg19": "https://download.pytorch.org/models/vgg19-dcbb9e9d.pth",
}
# torchvision's ImageNet normalization of [0, 1] RGB inputs.
MEAN = (0.485, 0.456, 0.406)
STD = (0.229, 0.224, 0.225)


class VGGFeatures(nn.Module):
    """``features[0..last]`` of torchvision's VGG with the same module indices."""

    def __init__(self, arch: str, last: Optional[int] = None) -> None:
        super().__init__()
        if arch not in _CFGS:
            raise ValueError(f"unknown VGG '{arch}' (choose one of {', '.join(_CFGS)})")
        last = FEATURE_LAYER[arch] if last is None else last
        layers: list[nn.Module] = []
        prev = 3
        for item in _CFGS[arch]:
            if item == "M":
                layers.append(nn.MaxPool2d(2, 2))
            else:
                layers += [nn.Conv2d(prev, int(item), 3, padding=1), nn.ReLU(inplace=True)]
                prev = int(item)
        self.arch = arch
        self.features = nn.Sequential(*layers[: last + 1])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.features(x)


def hub_checkpoint_path(arch: str) -> Path:
    """Where torch hub (and torchvision) cache this VGG's ImageNet weights."""
    return Path(torch.hub.get_dir()) / "checkpoints" / URLS[arch].rsplit("/", 1)[1]


def cached_weights(arch: str) -> Optional[Path]:
    path = hub_checkpoint_path(arch)
    return path if path.is_file() else None


def download_weights(arch: str) -> Path:
    """Download the official torchvision weights into the hub cache, verifying the SHA-256 prefix
    encoded in the file name (``vgg19-dcbb9e9d.pth`` -> sha256 starts with ``dcbb9e9d``)."""
    url = URLS[arch]
    dest = hub_checkpoint_path(arch)
    hash_prefix = dest.stem.rsplit("-", 1)[1]
    dest.parent.mkdir(parents=True, exist_ok=True)
    try:  # torch writes to a temporary file next to dest and moves it only once the hash matches
        torch.hub.download_url_to_file(url, str(dest), hash_prefix=hash_prefix, progress=True)
    except Exception as exc:  # network errors, HTTP errors, checksum mismatch
        raise CheckpointError(
            f"{dest}: could not download {arch} ImageNet weights from {url} ({exc}); "
            f"download it by hand to that path or pass the file with weights=PATH"
        ) from None
    return dest


def read_state_dict(path: Path) -> Dict[str, torch.Tensor]:
    """Read a ``.pth`` state dict safely (``weights_only``); any failure is a CheckpointError."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: weights file not found")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # truncated zip, garbage, pickled code objects...
        raise CheckpointError(f"{path}: not a readable PyTorch weights file ({type(exc).__name__}: {exc})") from None
    if not isinstance(state, Mapping) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise CheckpointError(f"{path}: expected a state dict of tensors")
    return dict(state)


def detect_arch(state: Mapping[str, torch.Tensor]) -> str:
    """VGG19 has a fourth conv in block 3 at index 16, where VGG16 has a max pooling."""
    return "vgg19" if "features.16.weight" in state else "vgg16"


def load_vgg_features(path: Path, arch: Optional[str] = None) -> VGGFeatures:
    """Build the truncated VGG and load the torchvision-format weights in ``path`` into it
    (classifier and deeper layers in the file are ignored). ``arch=None``: detect it from the keys."""
    state = read_state_dict(path)
    arch = arch or detect_arch(state)
    model = VGGFeatures(arch)
    wanted = model.state_dict()
    missing = [k for k in wanted if k not in state]
    if missing:
        raise CheckpointError(f"{path}: not torchvision {arch} weights (missing {', '.join(missing[:4])})")
    bad = [k for k in wanted if state[k].shape != wanted[k].shape]
    if bad:
        raise CheckpointError(
            f"{path}: not torchvision {arch} weights ({bad[0]} has shape {tuple(state[bad[0]].shape)}, "
            f"expected {tuple(wanted[bad[0]].shape)})"
        )
    model.load_state_dict({k: state[k] for k in wanted})
    return model
