"""The napari plugin's work without Qt or napari (outside tests/napari, whose conftest skips without the
napari extra): layer data in, the Enhancer's restoration out, same shape and type."""
from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
import pytest

from microgan.errors import MicroGANError
from microgan.infer import Enhancer
from microgan.napari.restore import Cancelled, bundled_models, restore_planes, split_planes


def _run(enhancer, data, rgb, cancel=None):
    steps = restore_planes(enhancer, data, rgb, cancel or threading.Event())
    progress = []
    while True:
        try:
            progress.append(next(steps))
        except StopIteration as stop:
            return stop.value, progress


def test_bundled_models_are_listed() -> None:
    assert {"microgan-bccd", "microgan-blind"} <= set(bundled_models())


def test_rgba_stack_keeps_shape_type_and_alpha(tmp_path: Path, save_tiny_generator) -> None:
    enhancer = Enhancer.from_model(save_tiny_generator(tmp_path / "t.safetensors"), device="cpu", precision="fp32")
    rng = np.random.default_rng(0)
    data = rng.integers(0, 256, (2, 3, 21, 34, 4), dtype=np.uint8)  # t, z, y, x, RGBA
    restored, progress = _run(enhancer, data, rgb=True)
    assert restored.shape == data.shape and restored.dtype == np.uint8
    assert progress == [(k, 6) for k in range(1, 7)]
    np.testing.assert_array_equal(restored[..., 3], data[..., 3])
    np.testing.assert_array_equal(restored[1, 2, ..., :3], enhancer.enhance(np.ascontiguousarray(data[1, 2, ..., :3])))


def test_bad_planes_are_refused_before_any_work(tmp_path: Path, save_tiny_generator) -> None:
    enhancer = Enhancer.from_model(save_tiny_generator(tmp_path / "t.safetensors"), device="cpu")
    with pytest.raises(MicroGANError, match="unsupported sample type int32"):
        _run(enhancer, np.zeros((8, 8), np.int32), rgb=False)
    with pytest.raises(MicroGANError, match="3 or 4 channels"):
        split_planes(np.zeros((8, 8, 2), np.uint8), rgb=True)


def test_cancel_stops_at_the_next_network_pass(tmp_path: Path, save_tiny_generator) -> None:
    enhancer = Enhancer.from_model(save_tiny_generator(tmp_path / "t.safetensors"), device="cpu", tile=32)
    cancel = threading.Event()
    passes = []
    enhancer.pass_hooks.append(lambda: (passes.append(1), cancel.set()))  # a pass starts, then the user cancels
    with pytest.raises(Cancelled):
        _run(enhancer, np.random.default_rng(0).integers(0, 255, (200, 200, 3), dtype=np.uint8), rgb=True, cancel=cancel)
    assert len(passes) == 1  # many tiles, one pass: the hook that set cancel, then the stop
    assert len(enhancer.pass_hooks) == 1  # the plugin removed its own hook


def test_the_region_in_view_of_a_multiscale_slide_is_restored_as_in_the_whole(tmp_path: Path, save_tiny_generator) -> None:
    from napari.components import ViewerModel

    from microgan.napari.restore import CONTEXT, restore_window, view_window

    enhancer = Enhancer.from_model(save_tiny_generator(tmp_path / "t.safetensors"), device="cpu", precision="fp32",
                                   tile=None, consistency=False)
    rng = np.random.default_rng(1)
    level0 = rng.integers(0, 256, (400, 300, 3), dtype=np.uint8)
    layer = ViewerModel().add_image([level0, level0[::2, ::2]], multiscale=True, rgb=True)
    layer.corner_pixels = np.array([[10, 60], [80, 149]])  # in level 1's pixels: zoomed out
    data, window = view_window(layer)
    factor = layer.downsample_factors[layer.data_level]
    assert data is level0 and window == (10 * factor[0], 81 * factor[0], 60 * factor[1], 150 * factor[1])
    steps = restore_window(enhancer, data, window, True, threading.Event())
    try:
        while True:
            next(steps)
    except StopIteration as stop:
        piece = stop.value
    r0, r1, c0, c1 = window
    assert piece.shape == (r1 - r0, c1 - c0, 3) and CONTEXT >= enhancer.halo
    whole = enhancer.enhance(level0)
    np.testing.assert_array_equal(piece, whole[r0:r1, c0:c1])  # the context covers the network's reach
    layer3 = ViewerModel().add_image(np.zeros((2, 30, 30), np.uint8))
    with pytest.raises(MicroGANError, match="3 dimensions"):
        view_window(layer3)


class _Doubler:
    """An upscaling enhancer's interface: each image twice as large (nearest neighbour)."""

    scale = 2
    pass_hooks: list = []

    def check(self, plane) -> None:
        pass

    def enhance(self, plane):
        return plane.repeat(2, axis=0).repeat(2, axis=1)


def test_an_upscaling_model_gives_a_larger_layer_that_overlays_the_input() -> None:
    import threading

    from microgan.napari.restore import overlay, restore_planes, restore_window

    rng = np.random.default_rng(0)
    data = rng.integers(0, 255, (2, 6, 5, 4), dtype=np.uint8)  # a stack of RGBA images
    gen = restore_planes(_Doubler(), data, True, threading.Event())
    with pytest.raises(StopIteration) as done:
        while True:
            next(gen)
    out = done.value.value
    assert out.shape == (2, 12, 10, 4) and np.array_equal(out[1, 3, 5], data[1, 1, 2])  # alpha carried over too
    window = restore_window(_Doubler(), data[0, ..., 0], (1, 4, 2, 5), False, threading.Event())
    with pytest.raises(StopIteration) as done:
        while True:
            next(window)
    assert np.array_equal(done.value.value, data[0, 1:4, 2:5, 0].repeat(2, 0).repeat(2, 1))
    scale, translate = overlay([1.0, 0.5, 0.5], [10.0, 3.0, 4.0], 2)
    assert np.allclose(scale, [1.0, 0.25, 0.25])
    # fine pixel 0's centre lies a quarter of a coarse pixel before the coarse pixel 0's centre
    assert np.allclose(translate, [10.0, 3.0 - 0.125, 4.0 - 0.125])
    # the last fine pixel's centre mirrors it: the fine layer covers exactly the coarse one
    assert translate[1] + scale[1] * 11 == pytest.approx(3.0 + 0.5 * 5 + 0.125)
