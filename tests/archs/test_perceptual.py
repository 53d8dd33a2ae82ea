"""Perceptual loss backbones: torchvision-format VGG weights from a file, the hub cache or
EfficientNet-Lite0; frozen, normalized, masked; corrupt weights files give a clear error."""
from __future__ import annotations

from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from microgan import losses
from microgan.archs import vgg
from microgan.errors import CheckpointError
from microgan.losses import PerceptualLoss

# torchvision's conv indices in VGG features up to block 3 (VGG19 has a 4th block-3 conv at 16).
CONVS = {"vgg19": [0, 2, 5, 7, 10, 12, 14, 16], "vgg16": [0, 2, 5, 7, 10, 12, 14]}
WIDTHS = [(3, 64), (64, 64), (64, 128), (128, 128), (128, 256), (256, 256), (256, 256), (256, 256)]


def torchvision_like_state_dict(arch: str, seed: int = 0) -> dict:
    """Random weights under torchvision's key names, blocks 1-3 plus a classifier entry, as a
    torchvision file would have (deeper layers left out to keep the test file small)."""
    gen = torch.Generator().manual_seed(seed)
    state = {}
    for index, (cin, cout) in zip(CONVS[arch], WIDTHS):
        state[f"features.{index}.weight"] = torch.randn(cout, cin, 3, 3, generator=gen) * (2 / (9 * cin)) ** 0.5
        state[f"features.{index}.bias"] = torch.randn(cout, generator=gen) * 0.01
    state["classifier.6.bias"] = torch.zeros(1000)
    return state


@pytest.fixture(autouse=True)
def empty_hub_cache(tmp_path, monkeypatch):
    """Point torch hub at an empty folder so no test sees (or downloads) real weights."""
    monkeypatch.setattr(torch.hub, "_hub_dir", None)
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch-home"))
    monkeypatch.setattr(losses, "_NOTICES", set())


@pytest.fixture(scope="module")
def vgg19_file(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("weights") / "vgg19.pth"
    torch.save(torchvision_like_state_dict("vgg19"), path)
    return path


def hand_vgg19_conv3_3(state: dict, x01: torch.Tensor) -> torch.Tensor:
    """conv1_1 .. conv3_3 (pre-ReLU) written out with the functional API and ImageNet normalization."""
    mean = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
    std = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)
    h = (x01 - mean) / std

    def conv(h, i):
        return F.conv2d(h, state[f"features.{i}.weight"], state[f"features.{i}.bias"], padding=1)

    h = F.max_pool2d(F.relu(conv(F.relu(conv(h, 0)), 2)), 2)
    h = F.max_pool2d(F.relu(conv(F.relu(conv(h, 5)), 7)), 2)
    return conv(F.relu(conv(F.relu(conv(h, 10)), 12)), 14)


def test_vgg19_from_file_matches_hand_loaded_weights(vgg19_file):
    loss = PerceptualLoss(backbone="vgg19", weights=vgg19_file)
    state = torch.load(vgg19_file, weights_only=True)
    fake = torch.rand(2, 3, 21, 30) * 2 - 1
    real = torch.rand(2, 3, 21, 30) * 2 - 1
    assert torch.allclose(loss._features(fake, None), hand_vgg19_conv3_3(state, (fake + 1) / 2), atol=1e-5)
    expected = F.mse_loss(hand_vgg19_conv3_3(state, (fake + 1) / 2), hand_vgg19_conv3_3(state, (real + 1) / 2))
    assert torch.allclose(loss(fake, real), expected, rtol=1e-5)


def test_vgg16_block3_conv3_includes_its_relu(tmp_path):
    path = tmp_path / "vgg16.pth"
    torch.save(torchvision_like_state_dict("vgg16"), path)
    loss = PerceptualLoss(backbone="vgg16", weights=path)
    assert isinstance(loss.backbone.features[-1], torch.nn.ReLU)
    assert len(loss.backbone.features) == 16


@pytest.mark.parametrize("arch", ["vgg19", "vgg16"])
def test_auto_with_a_file_detects_the_vgg(tmp_path, arch):
    path = tmp_path / "weights.pth"
    torch.save(torchvision_like_state_dict(arch), path)
    assert PerceptualLoss(backbone="auto", weights=path).backbone_name == arch


def test_auto_uses_the_torch_hub_cache(tmp_path):
    cached = vgg.hub_checkpoint_path("vgg19")
    assert str(cached).startswith(str(tmp_path)) and cached.name == "vgg19-dcbb9e9d.pth"
    cached.parent.mkdir(parents=True)
    torch.save(torchvision_like_state_dict("vgg19"), cached)
    assert PerceptualLoss(backbone="auto").backbone_name == "vgg19"
    assert PerceptualLoss(backbone="vgg19").backbone_name == "vgg19"  # cache found: no download


def test_auto_without_vgg_falls_back_to_efficientnet_with_one_notice(capsys):
    first = PerceptualLoss(backbone="auto")
    second = PerceptualLoss(backbone="auto")
    assert first.backbone_name == second.backbone_name == "efficientnet-lite0"
    err = capsys.readouterr().err
    assert err.count("EfficientNet-Lite0") == 1 and len(err.strip().splitlines()) == 1


def test_efficientnet_features_are_imagenet_weights():
    """The packaged weights are loaded (not a random init): identical across instances."""
    a = PerceptualLoss(backbone="efficientnet-lite0").backbone
    b = PerceptualLoss(backbone="efficientnet-lite0").backbone
    assert all(torch.equal(p, q) for p, q in zip(a.parameters(), b.parameters()))
    assert a(torch.zeros(1, 3, 37, 53)).shape == (1, 24, 10, 14)


@pytest.fixture(scope="module", params=["efficientnet-lite0", "vgg19"])
def perceptual(request, vgg19_file):
    weights = vgg19_file if request.param == "vgg19" else None
    return PerceptualLoss(backbone=request.param, weights=weights)


@pytest.mark.parametrize("channels", [3, 1])
def test_zero_for_identical_positive_otherwise(perceptual, channels):
    torch.manual_seed(0)
    real = torch.rand(2, channels, 33, 19) * 2 - 1
    fake = (real + 0.2 * torch.randn_like(real)).clamp(-1, 1)
    assert perceptual(real, real.clone()).item() == 0.0
    assert perceptual(fake, real).item() > 0.0


def test_tiny_images(perceptual):
    assert perceptual(torch.zeros(1, 3, 1, 1), torch.ones(1, 3, 1, 1)).item() > 0


def test_backbone_frozen_in_eval_and_gradients_reach_the_image(perceptual):
    perceptual.train()
    assert not perceptual.backbone.training
    assert not any(p.requires_grad for p in perceptual.parameters())
    fake = (torch.rand(1, 3, 24, 24) * 2 - 1).requires_grad_(True)
    perceptual(fake, torch.rand(1, 3, 24, 24) * 2 - 1).backward()
    assert fake.grad is not None and fake.grad.abs().sum() > 0


def test_masked_pixels_do_not_change_the_loss(perceptual):
    torch.manual_seed(1)
    real = torch.rand(2, 3, 32, 40) * 2 - 1
    fake = torch.rand(2, 3, 32, 40) * 2 - 1
    mask = torch.ones(2, 1, 32, 40)
    mask[1, :, 17:] = 0
    noise = torch.rand_like(real) * 2 - 1
    fake2 = torch.where(mask.bool(), fake, noise)
    real2 = torch.where(mask.bool(), real, -noise)
    base = perceptual(fake, real, mask=mask)
    assert base > 0
    assert torch.allclose(perceptual(fake2, real2, mask=mask), base, rtol=1e-5)
    assert not torch.allclose(perceptual(fake2, real2), perceptual(fake, real), rtol=1e-3)


def test_corrupted_weights_file_is_a_clear_error(tmp_path, vgg19_file):
    bad = tmp_path / "vgg19-broken.pth"
    bad.write_bytes(vgg19_file.read_bytes()[:5000])
    with pytest.raises(CheckpointError, match="vgg19-broken.pth: not a readable PyTorch weights file"):
        PerceptualLoss(backbone="vgg19", weights=bad)
    garbage = tmp_path / "garbage.pth"
    garbage.write_bytes(b"not a checkpoint at all")
    with pytest.raises(CheckpointError, match="garbage.pth"):
        PerceptualLoss(backbone="auto", weights=garbage)


def test_wrong_weights_are_a_clear_error(tmp_path):
    wrong = tmp_path / "resnet.pth"
    torch.save({"conv1.weight": torch.zeros(64, 3, 7, 7)}, wrong)
    with pytest.raises(CheckpointError, match=r"resnet.pth: not torchvision vgg19 weights \(missing features.0.weight"):
        PerceptualLoss(backbone="vgg19", weights=wrong)
    shaped = tmp_path / "shaped.pth"
    state = torchvision_like_state_dict("vgg19")
    state["features.5.weight"] = torch.zeros(128, 32, 3, 3)
    torch.save(state, shaped)
    with pytest.raises(CheckpointError, match="features.5.weight has shape"):
        PerceptualLoss(backbone="vgg19", weights=shaped)
    with pytest.raises(CheckpointError, match="not found"):
        PerceptualLoss(backbone="vgg19", weights=tmp_path / "missing.pth")
    with pytest.raises(CheckpointError, match="not EfficientNet-Lite0 weights"):
        PerceptualLoss(backbone="efficientnet-lite0", weights=shaped)


def test_pickled_code_is_refused(tmp_path):
    """weights_only loading: a file that would execute code on load is rejected, not run."""
    evil = tmp_path / "evil.pth"
    torch.save({"features.0.weight": torch.zeros(1), "hook": print}, evil)
    with pytest.raises(CheckpointError, match="evil.pth"):
        PerceptualLoss(backbone="vgg19", weights=evil)
