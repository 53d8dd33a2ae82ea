"""Enhancer: any size, dtype and channel layout kept; tiles equal the whole image; batching."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

import microgan
from microgan.infer import enhancer as enhancer_module
from microgan.infer import memory, tiles
from microgan.archs import build_generator
from microgan.errors import CheckpointError, MicroGANError
from microgan.core.geometry import receptive_radius
from microgan.infer import Enhancer
from microgan.infer.tiles import split_overlap
from microgan.core import checkpoint as ck

SPEC = {"type": "unet", "channels": [4, 8, 16]}  # depth 2: pads to multiples of 4


def _net(in_channels: int = 3, seed: int = 0, **kw) -> nn.Module:
    torch.manual_seed(seed)
    return build_generator({**SPEC, "in_channels": in_channels, "out_channels": in_channels, **kw}).eval()


def _identity(in_channels: int = 3) -> nn.Module:
    """A residual generator whose correction is zero: output == input exactly."""
    net = _net(in_channels)
    nn.init.zeros_(net.body.head.weight)
    nn.init.zeros_(net.body.head.bias)
    return net


def _enh(net: nn.Module, **kw) -> Enhancer:
    return Enhancer(net, {}, device="cpu", precision="fp32", **{"tile": None, **kw})


def _direct(net: nn.Module, x01: np.ndarray) -> np.ndarray:
    """The generator called directly on an (H, W, C) float image: the reference."""
    with torch.no_grad():
        y = net(torch.from_numpy(x01).permute(2, 0, 1)[None] * 2 - 1).clamp(-1, 1)
    return ((y[0].permute(1, 2, 0).numpy() + 1) / 2).astype(np.float32)


@pytest.mark.parametrize("shape", [(1, 1), (9, 5), (2, 33), (64, 64), (1031, 6), (7, 1002)])
def test_any_size_keeps_shape_and_equals_the_generator(shape: tuple[int, int]) -> None:
    net = _net()
    x = np.random.default_rng(0).random((*shape, 3), dtype=np.float32)
    y = _enh(net).enhance(x)
    assert y.shape == x.shape and y.dtype == np.float32
    np.testing.assert_allclose(y, _direct(net, x), atol=1e-6)


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16, np.float32])
@pytest.mark.parametrize("channels", [1, 3])
def test_identity_generator_round_trips_every_sample_type_exactly(dtype: type, channels: int) -> None:
    rng = np.random.default_rng(1)
    shape = (23, 31) if channels == 1 else (23, 31, 3)
    if dtype == np.float32:
        x = rng.random(shape, dtype=np.float32)
    else:
        x = rng.integers(0, np.iinfo(dtype).max, shape, endpoint=True).astype(dtype)
    y = _enh(_identity(channels)).enhance(x)
    assert y.dtype == x.dtype and y.shape == x.shape
    if dtype == np.float32:
        np.testing.assert_allclose(y, x, atol=1e-6)
    else:
        np.testing.assert_array_equal(y, x)  # all 65536 levels of a 16-bit image survive


def test_gray_image_on_rgb_model_returns_gray_mean_of_channels() -> None:
    net = _net(3)
    x = np.random.default_rng(2).integers(0, 65535, (20, 17), dtype=np.uint16)
    y = _enh(net).enhance(x)
    assert y.shape == (20, 17) and y.dtype == np.uint16
    rgb = np.repeat((x / 65535.0).astype(np.float32)[:, :, None], 3, axis=2)
    expected = np.rint(_direct(net, rgb).mean(axis=2) * 65535)
    assert np.abs(y.astype(np.int64) - expected).max() <= 1
    y3 = _enh(net).enhance(x[:, :, None])
    assert y3.shape == (20, 17, 1)
    np.testing.assert_array_equal(y3[:, :, 0], y)


def test_rgb_image_on_gray_model_is_refused_unless_per_channel() -> None:
    net = _net(1)
    x = np.random.default_rng(3).integers(0, 255, (12, 10, 3), dtype=np.uint8)
    with pytest.raises(MicroGANError, match="RGB image given to a grayscale model"):
        _enh(net).enhance(x)
    y = _enh(net, per_channel=True).enhance(x)
    assert y.shape == x.shape and y.dtype == np.uint8
    for c in range(3):
        np.testing.assert_array_equal(y[:, :, c], _enh(net).enhance(x[:, :, c]))


@pytest.mark.parametrize(
    "bad, reason",
    [
        (np.zeros((4, 4), np.int32), "sample type int32"),
        (np.zeros((4, 4, 4), np.uint8), r"\(H, W\) or \(H, W, 3\)"),
        (np.zeros((0, 3), np.uint8), "empty image"),
        (np.full((4, 4), np.nan, np.float32), "NaN"),
        (np.full((4, 4), 4095.0, np.float32), "outside the \\[0, 1\\]"),
    ],
)
def test_unsupported_arrays_are_clear_errors(bad: np.ndarray, reason: str) -> None:
    with pytest.raises(MicroGANError, match=reason):
        _enh(_net()).enhance(bad)


def test_float_image_in_any_range_with_the_percentile_normalizer() -> None:
    x = np.random.default_rng(11).random((20, 24), dtype=np.float32) * 4000 + 100
    y = _enh(_identity(1), normalizer="percentile").enhance(x)
    assert y.dtype == np.float32
    np.testing.assert_allclose(y, x, rtol=1e-5)  # identity model: values beyond the percentiles kept


def test_tiled_equals_whole_when_overlap_covers_the_receptive_field() -> None:
    net = _net()
    x = np.random.default_rng(4).random((150, 131, 3), dtype=np.float32)
    whole = _enh(net).enhance(x)
    tiled = _enh(net, tile=112)  # 3x3 tiles: interior edges and corners; overlap auto
    radius = tiled.receptive_radius
    assert radius is not None and split_overlap(tiled.overlap)[0] >= radius
    assert np.abs(tiled.enhance(x) - whole).max() * 255 < 0.01
    # the margin matters: hard cuts with no context are visibly off (the test can fail)
    assert np.abs(_enh(net, tile=112, overlap=0).enhance(x) - whole).max() * 255 > 0.1


def test_tiled_8bit_within_one_level_and_batch_norm_model() -> None:
    net = _net(1, norm="batch")
    x = np.random.default_rng(5).integers(0, 255, (150, 97), dtype=np.uint8)
    whole = _enh(net).enhance(x)
    tiled = _enh(net, tile=100).enhance(x)
    assert np.abs(tiled.astype(int) - whole).max() <= 1


def test_fixed_tile_below_the_receptive_field_warns_and_still_blends() -> None:
    net = _net()
    x = np.random.default_rng(10).random((90, 70, 3), dtype=np.float32)
    enh = _enh(net, tile=40)
    with pytest.warns(UserWarning, match="tile 40 is smaller than the overlap"):
        assert enh.overlap == 20
    whole = _enh(net).enhance(x)
    blended = np.abs(enh.enhance(x) - whole)
    hard_cuts = np.abs(_enh(net, tile=40, overlap=0).enhance(x) - whole)
    # a random He-initialized net corrects by ~77 grey levels on average, so compare with hard cuts:
    # measured 2.1 vs 8.4 levels mean, 88 vs 217 max
    assert blended.mean() < hard_cuts.mean() / 3 and blended.max() < hard_cuts.max() / 2
    with pytest.raises(MicroGANError, match="larger than the overlap"):
        _enh(net, tile=40, overlap=40).enhance(x)


def test_auto_tiles_only_when_memory_is_short(monkeypatch: pytest.MonkeyPatch) -> None:
    net = _net(channels=[4, 8])  # depth 1: a small receptive field, so few tiles
    x = np.random.default_rng(6).random((120, 130, 3), dtype=np.float32)
    whole = _enh(net).enhance(x)
    enh = _enh(net, tile="auto")
    assert enh.tile_shape(120, 132) is None  # plenty of memory here
    budget = int(enh._bytes_per_pixel * 80 * 80 / memory.MEMORY_FRACTION)
    monkeypatch.setattr(enhancer_module, "available_memory", lambda device: budget)
    tile = enh.tile_shape(120, 132)
    assert tile is not None and tile[0] * tile[1] <= 80 * 80 and tile[0] % enh.multiple == 0
    assert np.abs(enh.enhance(x) - whole).max() * 255 < 0.01


def test_receptive_radius_is_measured_and_global_norm_is_unbounded() -> None:
    two_convs = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(), nn.Conv2d(4, 1, 5, padding=2))
    assert receptive_radius(two_convs, 1, torch.device("cpu")) == 3
    # the weights do not matter: an identity-initialized generator (zero last layer) sees as far
    assert receptive_radius(_identity(), 3, torch.device("cpu")) == receptive_radius(_net(), 3, torch.device("cpu")) > 8
    instance = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.InstanceNorm2d(4), nn.Conv2d(4, 1, 1))
    assert receptive_radius(instance, 1, torch.device("cpu")) is None
    assert _enh(instance, tile=256).overlap == tiles.FALLBACK_OVERLAP


def test_enhance_batch_groups_equal_sizes_and_keeps_order() -> None:
    net = _net()
    enh = _enh(net)
    enh.max_pixels()  # the memory probe runs the net once; count only restoration passes
    calls = []
    net.register_forward_hook(lambda m, i, o: calls.append(tuple(i[0].shape)))
    rng = np.random.default_rng(7)
    images = [rng.integers(0, 255, (16, 20, 3), dtype=np.uint8) for _ in range(4)]
    images.insert(2, rng.integers(0, 65535, (9, 5), dtype=np.uint16))
    out = enh.enhance_batch(images)
    assert [o.shape for o in out] == [i.shape for i in images]
    assert [o.dtype for o in out] == [i.dtype for i in images]
    assert sorted(c[0] for c in calls) == [1, 4]  # four equal images in one pass
    for image, result in zip(images, out):
        np.testing.assert_array_equal(result, _enh(net).enhance(image))


def test_bf16_runs_and_stays_close_to_fp32() -> None:
    net = _net()
    x = np.random.default_rng(8).integers(0, 255, (24, 24, 3), dtype=np.uint8)
    fp32 = _enh(net).enhance(x).astype(int)
    bf16 = Enhancer(net, {}, device="cpu", precision="bf16", tile=None).enhance(x).astype(int)
    assert 0 < np.abs(bf16 - fp32).max() <= 8  # bf16 really ran, and stays close


def test_load_from_checkpoint_and_missing_bundled_model(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    net = _net(1)
    path = tmp_path / "run" / "best.safetensors"
    config = {"generator": {**SPEC, "in_channels": 1, "out_channels": 1}}
    ck.save_checkpoint(path, ck.Checkpoint(meta={"config": config, "step": 5}, generator=net.state_dict()))
    enh = microgan.load(tmp_path / "run", device="cpu", precision="fp32", tile=None, normalizer="percentile")
    assert enh.channels == 1 and enh.normalizer.name == "percentile" and enh.meta["step"] == 5
    x = (np.random.default_rng(9).random((30, 40)) * 900 + 100).astype(np.uint16)  # a dim 16-bit image
    assert enh.enhance(x).dtype == np.uint16
    monkeypatch.setattr(ck, "BUNDLED_DIR", tmp_path / "no-weights")
    with pytest.raises(CheckpointError, match="bundled default model .* is not installed: pass --model"):
        microgan.load()


def test_non_finite_output_is_an_error_not_a_black_image() -> None:
    """Finite weights can still overflow (here on purpose): a NaN/Inf output was clipped or cast
    to an all-black image and returned; it must be refused naming the reason."""
    net = _net()
    with torch.no_grad():
        net.body.head.weight.fill_(3e38)  # the last convolution's sums overflow to inf
    x = np.random.default_rng(0).random((16, 16, 3), dtype=np.float32)
    for enhance in (lambda e: e.enhance(x), lambda e: e.enhance_batch([x, x])[0]):
        with pytest.raises(MicroGANError, match="output holds NaN or Inf"):
            enhance(_enh(net))
    with pytest.raises(MicroGANError, match="output holds NaN or Inf"):
        _enh(net).enhance((x * 255).astype(np.uint8))
