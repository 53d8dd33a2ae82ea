"""Classifier networks and the pieces of a fold: split equivalence, resets, weights, metrics, pre-processing."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from microgan.classify.networks import SplitClassifier, efficientnet_lite0_classifier, vgg16_classifier
from microgan.errors import CheckpointError
from microgan.classify.inputs import kinds_from_specs, to_classifier_input
from microgan.classify.fit import Recipe, class_weights, confusion_counts, macro_f1, train_fold


def test_lite0_fine_tune_split_computes_the_same_features_as_the_frozen_one():
    frozen = efficientnet_lite0_classifier(num_classes=3)
    split = efficientnet_lite0_classifier(num_classes=3, finetune_blocks=1)
    assert not frozen.fine_tunes and split.fine_tunes
    x = torch.rand(2, 3, 96, 96)  # any size works (dynamic 'same' padding); 224 in real runs
    pooled = frozen.features(x)
    cached = split.features(x)
    assert pooled.shape == (2, 1280) and cached.shape == (2, 192, 3, 3) and cached.dtype == torch.float16
    with torch.no_grad():
        assert torch.allclose(split.tail(cached.float()), pooled, atol=0.05, rtol=0.02)
    assert frozen(x).shape == (2, 3)


def test_reset_trainable_restores_pretrained_tail_and_redraws_head():
    model = efficientnet_lite0_classifier(num_classes=2, finetune_blocks=1)
    conv = model.tail.head.conv[0].weight
    original = conv.detach().clone()
    with torch.no_grad():
        conv.add_(1.0)
    model.reset_trainable(seed=5)
    head_a = model.head.mlp[0].weight.detach().clone()
    assert torch.equal(conv, original)
    model.reset_trainable(seed=5)
    assert torch.equal(model.head.mlp[0].weight, head_a)
    model.reset_trainable(seed=6)
    assert not torch.equal(model.head.mlp[0].weight, head_a)


def test_vgg16_without_weights_says_how_to_get_them(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    with pytest.raises(CheckpointError, match="needs ImageNet VGG16 weights.*--vgg-weights"):
        vgg16_classifier(num_classes=3)
    bad = tmp_path / "bad.pth"
    torch.save({"features.0.weight": torch.zeros(64, 3, 3, 3)}, bad)
    with pytest.raises(CheckpointError, match="not torchvision vgg16 weights"):
        vgg16_classifier(num_classes=3, weights=bad)


def test_vgg16_loads_torchvision_format_weights(tmp_path):
    from microgan.archs.vgg import VGGFeatures

    torch.manual_seed(0)
    state = VGGFeatures("vgg16", last=30).state_dict()
    state["classifier.0.weight"] = torch.zeros(4, 4)  # the ImageNet classifier in the file is ignored
    torch.save(state, tmp_path / "vgg16.pth")
    model = vgg16_classifier(num_classes=4, weights=tmp_path / "vgg16.pth")
    assert torch.equal(model.tail[0].features[28].weight, state["features.28.weight"])
    assert model.fine_tunes and model.input_size == 224
    assert model(torch.rand(1, 3, 32, 32)).shape == (1, 4)


def test_head_learns_a_separable_task_with_class_imbalance():
    rng = np.random.default_rng(0)
    labels = np.array([0] * 90 + [1] * 10)
    feats = torch.from_numpy(rng.normal(0, 1, (100, 8)).astype(np.float32))
    feats[labels == 1, 0] += 4.0  # the minority class is shifted along one feature
    model = SplitClassifier(torch.nn.Identity(), torch.nn.Identity(), 8, 2, input_size=1, hidden=16, dropout=0.0)
    idx = rng.permutation(100)
    train, val = idx[:80], idx[80:]
    record = train_fold(model, feats, labels, train, val, Recipe(epochs=60, lr=1e-2, batch_size=32), seed=0)
    assert record["train_accuracy"] > 0.95
    model.eval()
    pred = model.logits(feats[val]).argmax(1).numpy()
    assert (pred[labels[val] == 1] == 1).all()


def test_class_weights_balance_the_classes():
    w = class_weights(np.array([0, 0, 0, 1, 2, 2]), 4)
    assert np.allclose(w.numpy(), [6 / 9, 2.0, 1.0, 0.0])


def test_macro_f1_and_confusion():
    conf = confusion_counts(np.array([0, 0, 1, 1, 2]), np.array([0, 1, 1, 1, 0]), 3)
    assert conf.tolist() == [[1, 1, 0], [0, 2, 0], [1, 0, 0]]
    # F1: class 0 = 2*1/(2+2) = 0.5, class 1 = 2*2/(2+3) = 0.8, class 2 = 0
    assert macro_f1(conf) == pytest.approx((0.5 + 0.8 + 0.0) / 3)


def test_pad_keeps_aspect_ratio_and_fills_with_background():
    img = np.full((10, 40, 3), 200, dtype=np.uint8)
    img[3:7, 18:22] = 20
    out = to_classifier_input(img, 32, "pad")
    assert out.shape == (3, 32, 32) and out.dtype == np.float32
    assert np.allclose(out[:, 0, :], 200 / 255) and np.allclose(out[:, -1, :], 200 / 255)
    assert out.min() < 0.3  # the dark cell survived, not stretched away
    stretched = to_classifier_input(np.zeros((10, 40), dtype=np.uint16), 32, "stretch")
    assert stretched.shape == (3, 32, 32)


def test_sr_kinds_get_distinct_file_names():
    kinds = kinds_from_specs(["lr", "sr:runs/a/best.safetensors", "sr:runs/b/best.safetensors", "lr"])
    assert [k.spec for k in kinds] == ["lr", "sr:runs/a/best.safetensors", "sr:runs/b/best.safetensors"]
    assert [k.slug for k in kinds] == ["lr", "sr-best", "sr-best-2"]
