"""WGAN-GP (gradient penalty against hand computations, per sample), pixel losses, build_loss."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from microgan.archs import build_critic
from microgan.errors import ConfigError
from microgan.losses import PixelLoss, WGANGPLoss, build_loss


class LinearCritic(nn.Module):
    """D(x) = <w, x> + b per sample: its gradient is w everywhere, known analytically."""

    def __init__(self, w: torch.Tensor) -> None:
        super().__init__()
        self.w = nn.Parameter(w.clone())
        self.b = nn.Parameter(torch.tensor(0.5))

    def forward(self, x, mask=None):
        return (x * self.w).flatten(1).sum(1) + self.b


class QuadraticCritic(nn.Module):
    """D(x) = ||x||^2 / 2 per sample: the gradient at x_hat is x_hat itself."""

    def forward(self, x, mask=None):
        return 0.5 * (x**2).flatten(1).sum(1)


def test_gp_of_a_linear_critic_is_the_hand_value():
    w = torch.tensor([[[0.3, -0.4], [1.2, 0.0]], [[0.5, 0.1], [-0.2, 0.7]]])  # (C=2, H=2, W=2)
    critic = LinearCritic(w)
    real, fake = torch.rand(3, 2, 2, 2), torch.rand(3, 2, 2, 2)
    gp = WGANGPLoss().gradient_penalty(critic, real, fake)
    norm = w.flatten().norm()  # one norm over C, H, W ...
    assert torch.allclose(gp, (norm - 1) ** 2)
    per_pixel = ((w.norm(dim=0) - 1) ** 2).mean()  # ... not per pixel over channels (the common bug)
    assert not torch.allclose(gp, per_pixel)


def test_gp_is_per_sample_with_per_sample_interpolation():
    real = torch.tensor([[[[0.2, 0.4]]], [[[1.0, -1.0]]]])  # (N=2, C=1, H=1, W=2)
    fake = torch.tensor([[[[-0.6, 0.0]]], [[[0.0, 0.5]]]])
    alpha = torch.tensor([0.25, 0.9])
    gp = WGANGPLoss().gradient_penalty(QuadraticCritic(), real, fake, alpha=alpha)
    # by hand: x_hat_n = a_n real_n + (1 - a_n) fake_n; grad = x_hat_n; gp = mean_n (||x_hat_n|| - 1)^2
    x0 = [0.25 * 0.2 + 0.75 * -0.6, 0.25 * 0.4 + 0.75 * 0.0]
    x1 = [0.9 * 1.0 + 0.1 * 0.0, 0.9 * -1.0 + 0.1 * 0.5]
    by_hand = sum(((a**2 + b**2) ** 0.5 - 1) ** 2 for a, b in (x0, x1)) / 2
    assert gp.item() == pytest.approx(by_hand, rel=1e-6)
    single = [WGANGPLoss().gradient_penalty(QuadraticCritic(), real[i : i + 1], fake[i : i + 1], alpha=alpha[i : i + 1]) for i in range(2)]
    assert gp.item() == pytest.approx(sum(s.item() for s in single) / 2, rel=1e-6)


def test_default_interpolation_weights_differ_per_sample():
    """With identical pairs the random weight is visible: equal real/fake rows give different x_hat."""
    seen = []

    class Spy(nn.Module):
        def forward(self, x, mask=None):
            seen.append(x.detach().clone())
            return x.flatten(1).sum(1)

    real = torch.ones(4, 1, 2, 2)
    WGANGPLoss().gradient_penalty(Spy(), real, torch.zeros_like(real))
    alphas = seen[0][:, 0, 0, 0]
    assert torch.all((alphas >= 0) & (alphas <= 1)) and len(set(alphas.tolist())) == 4
    assert torch.equal(seen[0], alphas.view(4, 1, 1, 1).expand(4, 1, 2, 2))  # one weight per sample


@pytest.mark.parametrize("n", [1, 3])
def test_critic_and_generator_losses_on_a_real_critic(n):
    torch.manual_seed(0)
    critic = build_critic({"type": "gap", "base": 4})
    real = torch.rand(n, 3, 19, 23) * 2 - 1
    fake = (torch.rand(n, 3, 19, 23) * 2 - 1).requires_grad_(True)
    loss_fn = WGANGPLoss(gp_weight=10)
    loss, stats = loss_fn.critic_loss(critic, real, fake)
    assert set(stats) == {"d_real", "d_fake", "wasserstein", "gp"}
    assert loss.item() == pytest.approx(stats["d_fake"] - stats["d_real"] + 10 * stats["gp"], rel=1e-4, abs=1e-5)
    loss.backward()
    assert all(p.grad is not None for p in critic.parameters())  # GP is differentiable (create_graph)
    assert fake.grad is None  # the critic step does not reach the generator
    critic.zero_grad()
    g_loss = loss_fn.generator_loss(critic, fake)
    assert g_loss.item() == pytest.approx(-critic(fake).mean().item(), rel=1e-5)
    g_loss.backward()
    assert fake.grad is not None and fake.grad.abs().sum() > 0


def test_critic_loss_with_a_linear_critic_by_hand():
    w = torch.full((1, 2, 2), 0.25)  # ||w|| = 0.5 -> gp = 0.25
    critic = LinearCritic(w)
    real, fake = torch.ones(2, 1, 2, 2), torch.zeros(2, 1, 2, 2)
    loss, stats = WGANGPLoss(gp_weight=10).critic_loss(critic, real, fake)
    # D(real) = 1 + 0.5, D(fake) = 0.5: loss = 0.5 - 1.5 + 10 * 0.25
    assert loss.item() == pytest.approx(1.5)
    assert stats["wasserstein"] == pytest.approx(1.0) and stats["gp"] == pytest.approx(0.25)


def test_masked_pixels_change_neither_critic_loss_nor_gp():
    critic = build_critic({"type": "gap", "base": 4})
    real, fake = torch.rand(2, 3, 24, 32) * 2 - 1, torch.rand(2, 3, 24, 32) * 2 - 1
    mask = torch.ones(2, 1, 24, 32)
    mask[0, :, :, 20:] = 0
    noise = torch.randn_like(real) * 5
    results = []
    for r, f in ((real, fake), (torch.where(mask.bool(), real, noise), torch.where(mask.bool(), fake, -noise))):
        torch.manual_seed(3)
        loss, stats = WGANGPLoss().critic_loss(critic, r, f, mask=mask)
        results.append((loss.item(), stats["gp"]))
    assert results[0] == pytest.approx(results[1], rel=1e-5)


def test_gp_mask_excludes_masked_gradients():
    critic = LinearCritic(torch.ones(1, 2, 2))
    mask = torch.tensor([[[[1.0, 1.0], [0.0, 0.0]]]])
    gp = WGANGPLoss().gradient_penalty(critic, torch.rand(1, 1, 2, 2), torch.rand(1, 1, 2, 2), mask=mask)
    assert gp.item() == pytest.approx((2**0.5 - 1) ** 2)  # only the two valid pixels count


@pytest.mark.parametrize("kind,expected", [("l1", (0.5 + 1.5 + 0 + 2) / 4), ("mse", (0.25 + 2.25 + 0 + 4) / 4)])
def test_pixel_losses_by_hand(kind, expected):
    fake = torch.tensor([[[[0.5, -1.0], [0.0, 1.0]]]])
    real = torch.tensor([[[[0.0, 0.5], [0.0, -1.0]]]])
    assert PixelLoss(kind)(fake, real).item() == pytest.approx(expected)


@pytest.mark.parametrize("kind", ["l1", "mse"])
def test_pixel_losses_ignore_masked_pixels(kind):
    fake, real = torch.rand(2, 3, 6, 7), torch.rand(2, 3, 6, 7)
    mask = torch.ones(2, 1, 6, 7)
    mask[1, :, 4:] = 0
    loss = PixelLoss(kind)
    changed = torch.where(mask.bool(), fake, fake + 100)
    assert loss(changed, real, mask).item() == pytest.approx(loss(fake, real, mask).item(), rel=1e-6)
    valid = mask.expand_as(fake).bool()
    diff = (fake - real)[valid]
    expected = diff.abs().mean() if kind == "l1" else (diff**2).mean()
    assert loss(fake, real, mask).item() == pytest.approx(expected.item(), rel=1e-6)
    assert loss(fake, real, torch.ones(2, 1, 6, 7)).item() == pytest.approx(loss(fake, real).item(), rel=1e-6)


def test_build_loss_from_the_bundled_config_entries():
    adv = build_loss({"type": "wgan-gp", "gp_weight": 10.0})
    assert isinstance(adv, WGANGPLoss) and adv.gp_weight == 10.0
    pixel = build_loss({"type": "l1"})
    assert isinstance(pixel, PixelLoss) and pixel.kind == "l1"
    assert build_loss({"type": "mse"}).kind == "mse"


# a loss has no weight of its own: the trainer applies the config entry's weight
@pytest.mark.parametrize("spec", [{"type": "hinge"}, {"type": "wgan-gp", "lambda": 10}, {"weight": 1.0}, {"type": "l1", "kind": "l2"},
                                  {"type": "l1", "weight": 1.0}])
def test_bad_loss_specs_are_config_errors(spec):
    with pytest.raises(ConfigError):
        build_loss(spec)


def test_build_perceptual_with_its_backbone():
    loss = build_loss({"type": "perceptual", "backbone": "efficientnet-lite0"})
    assert loss.backbone_name == "efficientnet-lite0"


# ------------------------------------------------------------------------------ issue 15: fp16 gradient penalty


class HalfCritic(nn.Module):
    """D(x) = sum(1e-4 * 1e-4 * x) computed in float16, as autocast runs a critic: the input
    gradient, 1e-8 per pixel, is below float16's smallest subnormal (6e-8) and underflows to 0
    in the half-precision backward pass unless the scores are scaled first."""

    def forward(self, x, mask=None):
        h = x.half() * 1e-4
        return (h * 1e-4).float().flatten(1).sum(1)


def test_scaled_input_gradient_survives_half_precision_where_the_unscaled_one_underflows():
    """PyTorch's AMP gradient-penalty recipe: scale the scores before autograd.grad, unscale the
    gradient after. Without it fp16 training penalized a gradient norm of 0 (CPU-checkable: the
    half-precision arithmetic is explicit here, not autocast's)."""
    x = torch.rand(2, 1, 3, 3, requires_grad=True)
    unscaled = WGANGPLoss.input_gradient(HalfCritic(), x)
    assert torch.count_nonzero(unscaled) == 0  # what fp16 training computed
    scaled = WGANGPLoss.input_gradient(HalfCritic(), x, scale=2.0**16)
    assert scaled.dtype == torch.float32
    torch.testing.assert_close(scaled, torch.full_like(x, 1e-8), rtol=2e-2, atol=0)


def test_scaling_the_penalty_changes_nothing_but_the_backward_precision():
    """In float32 the scaled and unscaled penalties (and their parameter gradients) are equal: the
    scale is undone exactly (a power of two, as GradScaler's)."""
    w = torch.randn(2, 3, 4)
    real, fake, alpha = torch.rand(3, 2, 3, 4), torch.rand(3, 2, 3, 4), torch.tensor([0.2, 0.5, 0.9])
    results = []
    for scale in (1.0, 2.0**16):
        critic = LinearCritic(w)
        gp = WGANGPLoss().gradient_penalty(critic, real, fake, alpha=alpha, scale=scale)
        gp.backward()
        results.append((gp.detach(), critic.w.grad.clone()))
    torch.testing.assert_close(results[0][0], results[1][0], rtol=1e-6, atol=0)
    torch.testing.assert_close(results[0][1], results[1][1], rtol=1e-6, atol=1e-9)


def test_the_critic_step_takes_the_penalty_scale_from_the_critic_scaler(monkeypatch):
    """The training step hands the critic's current loss scale to the penalty (1 without fp16)."""
    from microgan.train.amp import MixedPrecision

    amp = MixedPrecision("fp32", torch.device("cpu"))
    assert amp.loss_scale("critic") == 1.0
    monkeypatch.setattr(amp.scalers["critic"], "get_scale", lambda: 4096.0)
    assert amp.loss_scale("critic") == 4096.0


def test_ssim_map_is_the_evaluated_ssim() -> None:
    """The l1-ssim loss optimises the SSIM the evaluation scores (scikit-image's 7x7 uniform window)."""
    from skimage.metrics import structural_similarity

    from microgan.losses import ssim_map

    rng = np.random.default_rng(0)
    a = rng.random((40, 50, 3))
    b = np.clip(a + 0.1 * rng.standard_normal(a.shape), 0, 1)
    to = lambda x: torch.tensor(x).permute(2, 0, 1)[None] * 2 - 1  # noqa: E731
    expected = structural_similarity(a, b, win_size=7, data_range=1, channel_axis=-1)
    assert float(ssim_map(to(a), to(b)).mean()) == pytest.approx(expected, abs=1e-6)


def test_l1_ssim_mixes_masks_and_falls_back_to_l1() -> None:
    from microgan.losses import L1SsimLoss, ssim_map

    torch.manual_seed(0)
    real = torch.rand(1, 3, 20, 24) * 2 - 1
    fake = real + 0.1 * torch.randn_like(real)
    loss = build_loss({"type": "l1-ssim", "ssim_weight": 0.25})
    l1 = (fake - real).abs().mean()
    structure = 1 - ssim_map(fake, real).mean()
    assert float(loss(fake, real)) == pytest.approx(float(0.75 * l1 + 0.25 * structure), rel=1e-5)
    # a padded batch: windows touching padding do not count, however wrong the padding is
    mask = torch.ones(1, 1, 20, 24)
    mask[..., 16:] = 0
    spoiled = fake.clone()
    spoiled[..., 16:] = 5.0
    inner = 1 - ssim_map(fake[..., :16], real[..., :16]).mean()
    l1_inner = (fake - real)[..., :16].abs().mean()
    assert float(loss(spoiled, real, mask)) == pytest.approx(float(0.75 * l1_inner + 0.25 * inner), rel=1e-5)
    assert float(loss(fake[..., :5], real[..., :5])) == pytest.approx(float((fake - real)[..., :5].abs().mean()))
    for bad in (-0.1, 1.5, float("nan")):
        with pytest.raises(ConfigError, match="ssim_weight"):
            L1SsimLoss(bad)
