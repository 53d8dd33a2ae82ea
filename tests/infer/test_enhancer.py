"""Enhancer: any size, dtype and channel layout kept; exact tiles equal the whole image; memory
budget; batching."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

import microgan
from microgan.infer import planner as planner_module
from microgan.archs import build_generator
from microgan.archs.padding import pad_to_multiple
from microgan.errors import CheckpointError, MicroGANError
from microgan.core.geometry import receptive_field
from microgan.core.portable import padding_index
from microgan.infer import Enhancer
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
    return Enhancer(net, {}, device="cpu", precision="fp32", **{"tile": None, "backend": "torch", **kw})


def _direct(net: nn.Module, x01: np.ndarray, run) -> np.ndarray:
    """The generator on an (H, W, C) float image, its edges reflected as the Enhancer reflects them
    (``run``: the ``edge_padded`` fixture): the reference."""
    y = run(net, torch.from_numpy(x01).permute(2, 0, 1)[None] * 2 - 1).clamp(-1, 1)
    return ((y[0].permute(1, 2, 0).numpy() + 1) / 2).astype(np.float32)


@pytest.mark.parametrize("shape", [(1, 1), (9, 5), (2, 33), (64, 64), (1031, 6), (7, 1002)])
def test_any_size_keeps_shape_and_equals_the_generator(shape: tuple[int, int], edge_padded) -> None:
    net = _net()
    x = np.random.default_rng(0).random((*shape, 3), dtype=np.float32)
    y = _enh(net).enhance(x)
    assert y.shape == x.shape and y.dtype == np.float32
    np.testing.assert_allclose(y, _direct(net, x, edge_padded), atol=1e-6)


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


def test_gray_image_on_rgb_model_returns_gray_mean_of_channels(edge_padded) -> None:
    net = _net(3)
    x = np.random.default_rng(2).integers(0, 65535, (20, 17), dtype=np.uint16)
    y = _enh(net).enhance(x)
    assert y.shape == (20, 17) and y.dtype == np.uint16
    rgb = np.repeat((x / 65535.0).astype(np.float32)[:, :, None], 3, axis=2)
    expected = np.rint(_direct(net, rgb, edge_padded).mean(axis=2) * 65535)
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
        (np.ma.masked_array(np.zeros((4, 4), np.uint8)), "masked array"),
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


def test_tiled_equals_whole_when_the_halo_covers_the_tile_margin() -> None:
    net = _net()
    x = np.random.default_rng(4).random((150, 131, 3), dtype=np.float32)
    whole = _enh(net).enhance(x)
    tiled = _enh(net, tile=96)  # 3x2 tiles: a tile with two interior edges, and corners; halo auto
    plan = tiled.plan(152, 132)
    assert len(plan.rows) == 3 and len(plan.cols) == 2
    assert tiled.field is not None and tiled.halo >= tiled.field.margin and tiled.halo % tiled.multiple == 0
    assert np.abs(tiled.enhance(x) - whole).max() < 1e-5  # exact up to summation order
    # the halo matters: hard cuts with no context are visibly off (the test can fail)
    with pytest.warns(UserWarning, match="halo 0 is below the generator's tile margin"):
        assert np.abs(_enh(net, tile=96, halo=0).enhance(x) - whole).max() * 255 > 0.1


def test_tiled_8bit_equals_whole_and_batch_norm_model() -> None:
    net = _net(1, norm="batch")
    x = np.random.default_rng(5).integers(0, 255, (150, 97), dtype=np.uint8)
    whole = _enh(net).enhance(x)
    tiled = _enh(net, tile=100).enhance(x)
    assert np.abs(tiled.astype(int) - whole).max() <= 1


@pytest.mark.parametrize("tile", [8, 17, 40])
def test_tiles_too_small_for_their_halo_are_raised_with_a_note_and_stay_exact(tile: int) -> None:
    # issue 15: --tile 8 used to write black seams (0/0 blend weights) and NaN on float input
    net = _net()
    x = np.random.default_rng(10).random((150, 130, 3), dtype=np.float32)
    enh = _enh(net, tile=tile)
    with pytest.warns(UserWarning, match=f"tile {tile} cannot hold its {enh.halo}-pixel halo"):
        y = enh.enhance(x)
    assert np.isfinite(y).all()
    assert np.abs(y - _enh(net).enhance(x)).max() < 1e-5
    assert len(enh.plan(152, 132)) > 1  # still tiled: raised to four halos, not to the whole image


def test_auto_tiles_only_when_the_memory_budget_is_short(monkeypatch: pytest.MonkeyPatch) -> None:
    net = _net(channels=[4, 8])  # depth 1: a small tile margin, so several tiles
    x = np.random.default_rng(6).random((120, 130, 3), dtype=np.float32)
    whole = _enh(net).enhance(x)
    enh = _enh(net, tile="auto", max_memory=10**9)
    monkeypatch.setattr(planner_module, "in_use", lambda device: 0)
    monkeypatch.setattr(planner_module, "available_memory", lambda device: 10**12)
    assert len(enh.plan(120, 130)) == 1  # plenty of memory: whole
    # as if bounded and measured (bytes per pixel of a pass)
    enh.planner._upper_bpp, enh.planner._measured_bpp = 2000.0, 1000.0
    enh.max_memory = int(1000 * 60 * 60 / planner_module.SAFETY)
    plan = enh.plan(120, 130)
    assert len(plan) > 1 and plan.tile_pixels <= 60 * 60
    assert all(r.start % enh.multiple == 0 for r in plan.rows) and all(c.start % enh.multiple == 0 for c in plan.cols)
    assert np.abs(enh.enhance(x) - whole).max() < 1e-5


def test_memory_per_pixel_is_measured_once_and_cached(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    net = _net()
    measured = _enh(net, tile="auto").bytes_per_pixel()
    if not (tmp_path / "microgan" / "calibration.json").is_file():
        pytest.skip("peak memory cannot be measured on this kernel (no /proc/self/clear_refs)")
    # a pass holds at least its float input and output (2 x 3 channels x 4 bytes); far below the
    # layer-output bound, which counts every layer's output alive at once
    assert 24 <= measured < _enh(net).bytes_per_pixel_bound() * 4
    calls = []
    monkeypatch.setattr(planner_module, "PeakMeter", lambda device: calls.append(device))
    assert _enh(net, tile="auto").bytes_per_pixel() == measured and calls == []


def test_padding_indices_equal_the_generators_own_padding() -> None:
    rng = np.random.default_rng(12)
    for n in (1, 2, 3, 5, 8, 9, 31):
        x = torch.from_numpy(rng.random((1, 1, n, n), dtype=np.float32))
        padded, _ = pad_to_multiple(x, 8, 8)
        index = padding_index(torch.tensor(n), 8, 8)[0].numpy()
        np.testing.assert_array_equal(x[0, 0].numpy()[np.ix_(index, index)], padded[0, 0].numpy())


def test_receptive_field_is_measured_and_global_norm_is_unbounded() -> None:
    cpu = torch.device("cpu")
    two_convs = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(), nn.Conv2d(4, 1, 5, padding=2))
    assert receptive_field(two_convs, 1, cpu) == receptive_field(two_convs, 1, cpu).__class__(3, 3)
    # the weights do not matter: an identity-initialized generator (zero last layer) sees as far
    field = receptive_field(_net(), 3, cpu)
    assert receptive_field(_identity(), 3, cpu) == field and field.radius > 8
    # pooling makes the field depend on where a pixel sits in its cell: the margin from an aligned
    # tile edge is at most the radius
    assert field.margin <= field.radius
    instance = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.InstanceNorm2d(4), nn.Conv2d(4, 1, 1))
    assert receptive_field(instance, 1, cpu) is None
    assert _enh(instance, tile=256).halo == planner_module.FALLBACK_HALO


def test_enhance_batch_groups_equal_sizes_and_keeps_order() -> None:
    net = _net()
    enh = _enh(net)
    enh.bytes_per_pixel_bound()  # the memory bound runs the net once; count only restoration passes
    enh.backend  # and the layout race (once per machine; cached, unless this test runs first)
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


def test_self_ensemble_is_the_mean_over_the_eight_symmetries_and_is_equivariant(edge_padded) -> None:
    net = _net()
    x = np.random.default_rng(7).random((48, 64, 3), dtype=np.float32)  # multiples of 4: the margin alone

    def raw(view: np.ndarray) -> np.ndarray:  # the network's [-1, 1] output, not yet clipped
        tensor = torch.from_numpy(np.ascontiguousarray(view)).permute(2, 0, 1)[None] * 2 - 1
        return edge_padded(net, tensor)[0].permute(1, 2, 0).numpy()

    undone = [np.rot90(raw(np.rot90(x, k)), -k) for k in range(4)]
    undone += [np.rot90(raw(np.rot90(x, k)[:, ::-1])[:, ::-1], -k) for k in range(4)]
    reference = (np.clip(np.mean(undone, axis=0), -1, 1) + 1) / 2  # averaged, then clipped once
    ensemble = _enh(net, self_ensemble=True)
    y = ensemble.enhance(x)
    np.testing.assert_allclose(y, reference, atol=1e-5)
    # equivariant: restoring the turned or mirrored image gives the turned or mirrored result
    np.testing.assert_allclose(ensemble.enhance(np.ascontiguousarray(np.rot90(x))), np.rot90(y), atol=1e-5)
    np.testing.assert_allclose(ensemble.enhance(np.ascontiguousarray(x[::-1])), y[::-1], atol=1e-5)
    # ... which one pass of a trained-like (random) network is not: the check can fail
    plain = _enh(net)
    assert np.abs(plain.enhance(np.ascontiguousarray(np.rot90(x))) - np.rot90(plain.enhance(x))).max() > 1e-3


def test_self_ensemble_tiles_equal_its_whole_image_and_keeps_sample_types() -> None:
    net = _net()
    x = np.random.default_rng(8).random((150, 131, 3), dtype=np.float32)  # padded unevenly, 3x2 tiles
    whole = _enh(net, self_ensemble=True).enhance(x)
    tiled = _enh(net, tile=96, self_ensemble=True)
    calls = []
    tiled.pass_hooks.append(lambda: calls.append(1))
    assert np.abs(tiled.enhance(x) - whole).max() < 1e-5
    # a cancel can land between any two passes; the canvas: 8 px reflected beyond each edge, then to a multiple of 4
    assert len(calls) == 8 * len(tiled.plan(168, 148))
    u16 = (x[:, :, 0] * 65535).astype(np.uint16)
    assert np.array_equal(_enh(_identity(1), self_ensemble=True).enhance(u16), u16)
    # a gray model restoring RGB per channel, two images in one pass: each plane its own ensemble
    gray = _net(1)
    rgb = [(np.random.default_rng(9 + i).random((40, 36, 3)) * 255).astype(np.uint8) for i in range(2)]
    batched = _enh(gray, per_channel=True, self_ensemble=True).enhance_batch(rgb)
    single = _enh(gray, self_ensemble=True)
    for image, out in zip(rgb, batched):
        planes = np.stack([single.enhance(np.ascontiguousarray(image[:, :, c])) for c in range(3)], axis=2)
        assert np.abs(out.astype(int) - planes).max() <= 1
