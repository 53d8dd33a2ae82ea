"""Critics: one raw score per image at any size (gap, patch), fixed size (fc), masks, no batch norm."""
from __future__ import annotations

import pytest
import torch

from microgan.archs import CRITICS, build_critic, count_params
from microgan.errors import ConfigError

SIZES = [(1, 1), (7, 13), (37, 53), (300, 41)]


@pytest.mark.parametrize("name", ["gap", "patch"])
@pytest.mark.parametrize("size", SIZES)
def test_size_invariant_critics_give_one_score_per_image(name, size):
    critic = build_critic({"type": name, "base": 4}).train()
    x = torch.rand(3, 3, *size) * 2 - 1
    scores = critic(x)
    assert scores.shape == (3,)
    scores.sum().backward()


@pytest.mark.parametrize("name", ["gap", "patch"])
def test_default_width_critics(name):
    critic = build_critic({"type": name, "in_channels": 3})
    assert count_params(critic) == 2_764_737  # DeblurGAN's 64-128-256-512 body + 1-channel conv
    assert critic(torch.rand(1, 3, 37, 53)).shape == (1,)


@pytest.mark.parametrize("name", ["gap", "patch"])
def test_batch_of_one_and_batch_agree(name):
    """Scores are per image (no batch statistics), which the per-sample gradient penalty needs."""
    critic = build_critic({"type": name, "base": 4}).train()
    x = torch.rand(3, 3, 20, 24)
    alone = torch.cat([critic(x[i : i + 1]) for i in range(3)])
    assert torch.allclose(critic(x), alone, atol=1e-6)


def test_fc_critic_fixed_size():
    critic = build_critic({"type": "fc", "in_channels": 3, "input_size": 128})
    assert critic(torch.rand(2, 3, 128, 128)).shape == (2,)
    # head: 16x16 score map flattened -> 1024 -> 1
    assert count_params(critic) - 2_764_737 == 256 * 1024 + 1024 + 1024 + 1


@pytest.mark.parametrize("size", [(64, 64), (128, 127), (37, 53)])
def test_fc_critic_rejects_other_sizes(size):
    critic = build_critic({"type": "fc", "base": 4, "input_size": 128})
    with pytest.raises(ValueError, match=r"128x128 .*got %dx%d" % size):
        critic(torch.rand(1, 3, *size))


def test_fc_critic_input_size_must_suit_the_strides():
    with pytest.raises(ConfigError, match="multiple of 8"):
        build_critic({"type": "fc", "input_size": 100})


@pytest.mark.parametrize("name", list(CRITICS))
def test_raw_scores_without_sigmoid(name):
    """Zero the last conv and set its bias: the score is exactly the bias, unsquashed."""
    critic = build_critic({"type": name, "base": 4, **({"input_size": 16} if name == "fc" else {})})
    last = [m for m in critic.modules() if isinstance(m, (torch.nn.Conv2d, torch.nn.Linear))][-1]
    torch.nn.init.zeros_(last.weight)
    torch.nn.init.constant_(last.bias, 7.5)
    assert torch.equal(critic(torch.rand(2, 3, 16, 16)), torch.full((2,), 7.5))


@pytest.mark.parametrize("name", list(CRITICS))
def test_no_batch_norm(name):
    critic = build_critic({"type": name, "base": 4})
    assert not any(isinstance(m, torch.nn.modules.batchnorm._BatchNorm) for m in critic.modules())


def test_batch_norm_is_refused():
    with pytest.raises(ConfigError, match="no batch norm"):
        build_critic({"type": "gap", "norm": "batch"})


@pytest.mark.parametrize("norm", ["none", "instance", "layer"])
def test_critic_norms_work_at_tiny_sizes(norm):
    critic = build_critic({"type": "gap", "base": 4, "norm": norm}).train()
    critic(torch.rand(1, 3, 3, 2)).sum().backward()


def _padded_batch():
    """Two images padded into a 40x48 batch: a 40x48 one and a 23x31 one (mask marks the valid part)."""
    x = torch.rand(2, 3, 40, 48) * 2 - 1
    mask = torch.ones(2, 1, 40, 48)
    mask[1, :, 23:, :] = 0
    mask[1, :, :, 31:] = 0
    return x, mask


@pytest.mark.parametrize("name", list(CRITICS))
def test_masked_pixels_do_not_change_the_score(name):
    critic = build_critic({"type": name, "base": 4, **({"input_size": 40} if name == "fc" else {})})
    x, mask = _padded_batch()
    if name == "fc":
        x = x[..., :40]
        mask = mask[..., :40]
    changed = torch.where(mask.bool(), x, torch.rand_like(x) * 10)
    assert not torch.equal(changed, x)
    assert torch.allclose(critic(x, mask=mask), critic(changed, mask=mask), atol=1e-6)


def test_gap_mask_of_ones_equals_no_mask():
    critic = build_critic({"type": "gap", "base": 4})
    x = torch.rand(2, 3, 40, 48)
    assert torch.allclose(critic(x, mask=torch.ones(2, 1, 40, 48)), critic(x), atol=1e-6)


def test_gap_mask_excludes_padded_locations_from_the_average():
    """A padded copy of an image scores close to the unpadded image (only the border differs),
    much closer than the unmasked average over the zero padding would."""
    torch.manual_seed(0)
    critic = build_critic({"type": "gap", "base": 4})
    torch.nn.init.constant_(critic.body[-1].bias, 5.0)  # padding would pull the mean toward other values
    small = torch.rand(1, 3, 64, 64) * 2 - 1
    padded = torch.zeros(1, 3, 128, 128)
    padded[..., :64, :64] = small
    mask = torch.zeros(1, 1, 128, 128)
    mask[..., :64, :64] = 1
    reference = critic(small)
    assert abs(critic(padded, mask=mask) - reference) < abs(critic(padded) - reference)
