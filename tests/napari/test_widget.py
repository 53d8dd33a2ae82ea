"""The napari plugin end to end, headless: manifest, sample data, restore, cancel, bad input."""
from __future__ import annotations

import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest

import microgan
from microgan.core.checkpoint import BUNDLED_DEFAULT
from microgan.data.samples import blurred_bccd_field
from microgan.infer import Enhancer

napari = pytest.importorskip("napari")
from napari.utils.notifications import notification_manager  # noqa: E402

from microgan.napari.widget import FILE_CHOICE, RestoreWidget  # noqa: E402

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning", "ignore::UserWarning")
TIMEOUT_MS = 180_000


def _dock(viewer) -> RestoreWidget:
    widget = RestoreWidget(viewer)
    viewer.window.add_dock_widget(widget, name="MicroGAN")
    widget.device.value, widget.precision.value = "cpu", "fp32"
    return widget


def _restore(qtbot, widget: RestoreWidget) -> None:
    widget.run_button.native.click()
    qtbot.waitUntil(lambda: widget.worker is None, timeout=TIMEOUT_MS)


def test_npe2_validate_passes() -> None:
    npe2 = Path(sys.executable).with_name("npe2")
    run = subprocess.run([str(npe2), "validate", "microgan"], capture_output=True, text=True, timeout=120)
    assert run.returncode == 0 and "valid" in run.stdout, run.stdout + run.stderr


def test_sample_data_is_the_real_bccd_field_and_its_blurred_copy(viewer, monkeypatch, tmp_path) -> None:
    """The field ships in the package: it opens on a machine with no BCCD data set anywhere."""
    monkeypatch.setenv("MICROGAN_BCCD", str(tmp_path / "nowhere"))
    monkeypatch.setattr("microgan.data.sources.find_bccd", lambda *a, **k: (_ for _ in ()).throw(AssertionError("looked for BCCD")))
    viewer.open_sample("microgan", "bccd")
    viewer.open_sample("microgan", "bccd-blurred")
    sharp, blurred = viewer.layers
    assert sharp.data.shape == blurred.data.shape == (480, 640, 3) and sharp.rgb and blurred.data.dtype == np.uint8
    assert "Shenggan/BCCD_Dataset" in sharp.metadata["source"]
    np.testing.assert_array_equal(blurred.data, blurred_bccd_field())
    assert np.abs(sharp.data.astype(int) - blurred.data).mean() > 1


def test_restores_an_rgb_layer_aligned_with_its_input(viewer, qtbot) -> None:
    crop = np.ascontiguousarray(blurred_bccd_field()[150:246, 130:250])  # 96 x 120, the white cell
    layer = viewer.add_image(crop, name="smear", scale=(0.5, 0.5), translate=(10.0, 4.0))
    widget = _dock(viewer)
    assert widget.image.value is layer and widget.model.value == BUNDLED_DEFAULT
    assert widget.checkpoint.native.isHidden()
    _restore(qtbot, widget)

    assert [lay.name for lay in viewer.layers] == ["smear", "smear (MicroGAN)"], widget.status.value
    restored = viewer.layers[-1]
    expected = microgan.load(BUNDLED_DEFAULT, device="cpu", precision="fp32").enhance(crop)
    assert restored.data.dtype == np.uint8 and restored.rgb
    np.testing.assert_array_equal(restored.data, expected)
    np.testing.assert_array_equal(restored.scale, layer.scale)
    np.testing.assert_array_equal(restored.translate, layer.translate)
    assert widget.status.value == "restored 'smear'" and widget.run_button.enabled


def test_a_multiscale_slide_restores_the_region_in_view_placed_over_it(viewer, qtbot, tmp_path, save_tiny_generator) -> None:
    checkpoint = save_tiny_generator(tmp_path / "t.safetensors")
    level0 = np.random.default_rng(2).integers(0, 256, (300, 360, 3), dtype=np.uint8)
    layer = viewer.add_image([level0, level0[::2, ::2]], name="slide", multiscale=True, rgb=True,
                             scale=(0.5, 0.5), translate=(3.0, 1.0))
    widget = _dock(viewer)
    widget.model.value, widget.checkpoint.value = FILE_CHOICE, checkpoint
    widget.consistency.value = False
    factor = layer.downsample_factors[layer.data_level].astype(int)
    layer.corner_pixels = np.array([[40, 100], [120, 200]]) // factor  # what the canvas shows, in its level's pixels
    widget.run()
    qtbot.waitUntil(lambda: widget.worker is None, timeout=TIMEOUT_MS)
    restored = viewer.layers[-1]
    r0, r1, c0, c1 = restored.metadata["window"]
    assert restored.name == f"slide (MicroGAN, rows {r0}-{r1}, columns {c0}-{c1})", widget.status.value
    assert (r0, c0) == tuple(np.array([40, 100]) // factor * factor) and restored.data.shape == (r1 - r0, c1 - c0, 3)
    np.testing.assert_array_equal(restored.translate, np.array([3.0, 1.0]) + 0.5 * np.array([r0, c0]))
    enhancer = Enhancer.from_model(checkpoint, device="cpu", precision="fp32", consistency=False)
    np.testing.assert_array_equal(restored.data, enhancer.enhance(level0)[r0:r1, c0:c1])


def test_gray_16bit_stack_with_a_checkpoint_file_fixed_tiles_and_self_ensemble(viewer, qtbot, tmp_path, save_tiny_generator) -> None:
    checkpoint = save_tiny_generator(tmp_path / "gray.safetensors", in_channels=1)
    stack = np.random.default_rng(0).integers(0, 65536, (3, 70, 90), dtype=np.uint16)
    viewer.add_image(stack, name="stack")
    widget = _dock(viewer)
    widget.model.value = FILE_CHOICE
    assert not widget.checkpoint.native.isHidden()  # shown once a file is asked for (viewer itself hidden)
    widget.checkpoint.value = checkpoint
    widget.tiling.value, widget.tile_size.value = "fixed", 64
    widget.ensemble.value = True
    _restore(qtbot, widget)

    restored = viewer.layers[-1]
    assert restored.name == "stack (MicroGAN)" and restored.data.dtype == np.uint16, widget.status.value
    enhancer = Enhancer.from_model(checkpoint, device="cpu", precision="fp32", tile=64, self_ensemble=True)
    np.testing.assert_array_equal(restored.data[2], enhancer.enhance(stack[2]))
    assert widget.progress.value == 1
    assert restored.metadata["microgan"]["self_ensemble"] == "True"
    # unticking runs one pass per tile with the model already loaded
    loaded = widget._enhancer(widget._options())
    widget.ensemble.value = False
    _restore(qtbot, widget)
    assert widget._enhancer(widget._options()) is loaded and not loaded.self_ensemble
    enhancer.self_ensemble = False
    np.testing.assert_array_equal(viewer.layers[-1].data[2], enhancer.enhance(stack[2]))


def test_the_consistency_box_switches_the_step_without_reloading(viewer, qtbot) -> None:
    crop = np.ascontiguousarray(blurred_bccd_field()[150:246, 130:250])
    viewer.add_image(crop, name="smear")
    widget = _dock(viewer)
    assert widget.consistency.value
    loaded = widget._enhancer(widget._options())
    assert loaded.consistency  # the default model is blind-trained: auto is on
    widget.consistency.value = False
    _restore(qtbot, widget)
    assert widget._enhancer(widget._options()) is loaded and not loaded.consistency
    network = microgan.load(BUNDLED_DEFAULT, device="cpu", precision="fp32", consistency=False).enhance(crop)
    np.testing.assert_array_equal(viewer.layers[-1].data, network)
    widget.model.value = "microgan-bccd"
    widget.consistency.value = True
    assert not widget._enhancer(widget._options()).consistency  # trained on one known blur: auto is off


def test_the_psf_field_tells_the_psf_model_without_reloading(viewer, qtbot) -> None:
    crop = np.ascontiguousarray(blurred_bccd_field()[150:214, 130:210])
    viewer.add_image(crop, name="smear")
    widget = _dock(viewer)
    widget.model.value = "microgan-psf"
    widget.psf.value = "gauss:2.6"
    loaded = widget._enhancer(widget._options())
    assert loaded.takes_psf and loaded.consistency and loaded.psf.shape == (17, 17)
    _restore(qtbot, widget)
    told = microgan.load("microgan-psf", device="cpu", precision="fp32", psf="gauss:2.6").enhance(crop)
    np.testing.assert_array_equal(viewer.layers[-1].data, told)
    widget.psf.value = ""
    assert widget._enhancer(widget._options()) is loaded and loaded.psf is None  # estimated per image
    widget.psf.value = "gauss:-1"
    count = len(viewer.layers)
    widget.run_button.native.click()  # a bad PSF: one message, nothing started, nothing added
    assert widget.worker is None and len(viewer.layers) == count
    assert "widths must be positive" in widget.status.value


def test_cancel_stops_a_long_restoration_and_adds_nothing(viewer, qtbot, tmp_path, save_tiny_generator, monkeypatch) -> None:
    passes, started = [], threading.Event()
    load = microgan.load

    def slow_load(*args, **kwargs):  # every network pass takes >= 20 ms: thousands of them run for minutes
        enhancer = load(*args, **kwargs)
        enhancer.pass_hooks.append(lambda: (passes.append(1), started.set(), time.sleep(0.02)))
        return enhancer

    monkeypatch.setattr(microgan, "load", slow_load)
    viewer.add_image(np.random.default_rng(0).integers(0, 255, (1024, 1024, 3), dtype=np.uint8), name="big", rgb=True)  # not flat
    widget = _dock(viewer)
    widget.model.value = FILE_CHOICE
    widget.checkpoint.value = save_tiny_generator(tmp_path / "rgb.safetensors")
    widget.tiling.value, widget.tile_size.value = "fixed", 64
    widget.run_button.native.click()
    qtbot.waitUntil(started.is_set, timeout=TIMEOUT_MS)
    assert widget.cancel_button.enabled and not widget.run_button.enabled
    widget.cancel_button.native.click()
    qtbot.waitUntil(lambda: widget.worker is None, timeout=30_000)
    assert widget.status.value == "cancelled" and len(viewer.layers) == 1
    assert len(passes) < 100  # of thousands of tiles
    assert widget.run_button.enabled and not widget.cancel_button.enabled


def _last_error() -> str:
    errors = [n for n in notification_manager.records if n.severity == "error"]
    return errors[-1].message if errors else ""


@pytest.mark.parametrize("case", ["int32", "float-nan", "rgb-on-gray-model", "missing-file", "no-layer"])
def test_bad_input_is_one_notification_not_a_traceback(viewer, qtbot, tmp_path, save_tiny_generator, case) -> None:
    widget = _dock(viewer)
    expected = {
        "int32": "unsupported sample type int32",
        "float-nan": "NaN or Inf",
        "rgb-on-gray-model": "RGB image given to a grayscale model",
        "missing-file": "choose a checkpoint file",
        "no-layer": "no image layer selected",
    }[case]
    if case == "int32":
        viewer.add_image(np.ones((20, 30), np.int32), name="bad")
    elif case == "float-nan":  # (floats beyond [0, 1] are restored: auto normalization maps their range)
        viewer.add_image(np.full((20, 30), np.nan, np.float32), name="bad")
    elif case == "rgb-on-gray-model":
        viewer.add_image(np.zeros((20, 30, 3), np.uint8), name="bad", rgb=True)
        widget.model.value = FILE_CHOICE
        widget.checkpoint.value = save_tiny_generator(tmp_path / "gray.safetensors", in_channels=1)
    elif case == "missing-file":
        viewer.add_image(np.zeros((20, 30), np.uint8), name="bad")
        widget.model.value = FILE_CHOICE
        widget.checkpoint.value = tmp_path / "nothing-here.safetensors"
    before = len(viewer.layers)
    _restore(qtbot, widget)
    assert expected in widget.status.value and widget.status.value.startswith("error: ")
    assert expected in _last_error() and "\n" not in widget.status.value
    assert len(viewer.layers) == before and widget.run_button.enabled
