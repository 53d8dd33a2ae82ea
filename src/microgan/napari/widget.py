"""The dock widget: pick a layer and a model, restore in a worker thread, get an aligned new layer.

Choices map one to one onto :class:`microgan.infer.Enhancer` arguments (model, device, precision,
tile, self-ensemble), so what the widget does is what ``microgan enhance`` does with the same options. The model is
loaded in the worker too (a first load measures the receptive field and takes seconds) and kept
for the next run with the same choices. Every failure a user can cause (wrong sample type, a float
image outside [0, 1], a checkpoint that is not one, an RGB image on a gray model) arrives as one
napari notification and a status line, never a traceback; the viewer stays usable.
"""
from __future__ import annotations

import logging
import threading
from typing import Any, Dict, List, Optional, Tuple

import numpy as np
from magicgui.widgets import CheckBox, ComboBox, Container, FileEdit, Label, LineEdit, ProgressBar, PushButton, SpinBox
from napari.layers import Image
from napari.qt.threading import create_worker
from napari.utils.notifications import show_error, show_info

from microgan.core.checkpoint import BUNDLED_DEFAULT
from microgan.core.psf import resolve_psf
from microgan.errors import MicroGANError
from microgan.infer.enhancer import trained_blind
from microgan.napari.restore import Cancelled, bundled_models, overlay, restore_planes, restore_window, view_window

log = logging.getLogger(__name__)

FILE_CHOICE = "checkpoint file..."
PRECISIONS = ("auto", "fp32", "bf16", "fp16")
TILINGS = ("auto", "off", "fixed")


def _devices() -> List[str]:
    import torch

    return ["auto", "cpu"] + (["cuda"] if torch.cuda.is_available() else [])


class RestoreWidget(Container):
    """Restore the selected image layer with a MicroGAN model (napari dock widget)."""

    def __init__(self, napari_viewer: Any) -> None:
        self.viewer = napari_viewer
        self.image = ComboBox(label="image", choices=self._image_layers)
        models = bundled_models()
        self.model = ComboBox(label="model", choices=models + [FILE_CHOICE],
                              value=BUNDLED_DEFAULT if BUNDLED_DEFAULT in models else None)
        self.checkpoint = FileEdit(label="checkpoint", mode="r", filter="*.safetensors", visible=False)
        self.device = ComboBox(label="device", choices=_devices(), value="auto")
        self.precision = ComboBox(label="precision", choices=list(PRECISIONS), value="auto",
                                  tooltip="auto: fp16 on CUDA, bf16 on CPUs with native bf16, else fp32")
        self.tiling = ComboBox(label="tiles", choices=list(TILINGS), value="auto",
                               tooltip="auto: tile only what does not fit in memory; off: whole image; "
                               "fixed: tiles of the size below")
        self.tile_size = SpinBox(label="tile size", min=64, max=8192, step=64, value=512, enabled=False)
        self.ensemble = CheckBox(text="self-ensemble (8x slower)", value=False,
                                 tooltip="average the model over the image's 8 rotations and mirror images: "
                                 "slightly better")
        self.consistency = CheckBox(text="data consistency", value=True,
                                    tooltip="after the network, fit the blur that maps its output back onto "
                                    "the input and correct the output to agree with it (sharper on clean "
                                    "images, unchanged on noisy ones); for a model told the PSF, a solve with that PSF "
                                    "where its output does not yet explain the input; models trained on one known "
                                    "blur skip it")
        self.region = CheckBox(text="only the region in view", value=False,
                               tooltip="restore the part of the image the canvas shows (at full resolution), "
                               "placed over it: for slides too large to restore at once (multiscale layers "
                               "always restore the region in view)")
        self.psf = LineEdit(label="PSF", value="",
                            tooltip="for a model told the PSF (microgan-psf): gauss:SIGMA, gauss:SX,SY,ANGLE, disk:R, "
                            "airy:R (px) or a PSF image file; empty: the model estimates it per image")
        self.run_button = PushButton(text="Restore")
        self.cancel_button = PushButton(text="Cancel", enabled=False)
        self.progress = ProgressBar(label="progress", min=0, max=1, value=0)
        self.status = Label(value="")
        super().__init__(widgets=[
            self.image, self.model, self.checkpoint, self.device, self.precision, self.tiling,
            self.tile_size, self.ensemble, self.consistency, self.region, self.psf, self.run_button, self.cancel_button, self.progress, self.status,
        ])
        self.model.changed.connect(lambda value: setattr(self.checkpoint, "visible", value == FILE_CHOICE))
        self.tiling.changed.connect(lambda value: setattr(self.tile_size, "enabled", value == "fixed"))
        self.run_button.changed.connect(self.run)
        self.cancel_button.changed.connect(self.cancel)
        for event in (napari_viewer.layers.events.inserted, napari_viewer.layers.events.removed):
            event.connect(lambda _event: self.reset_choices())
        napari_viewer.layers.selection.events.active.connect(lambda _event: self._follow_selection())
        self.reset_choices()
        self._follow_selection()
        self.worker: Optional[Any] = None
        self._cancel = threading.Event()
        self._enhancers: Dict[Tuple[Any, ...], Any] = {}

    # ------------------------------------------------------------------ choices

    def _image_layers(self, _widget: Any = None) -> List[Tuple[str, Image]]:
        return [(layer.name, layer) for layer in self.viewer.layers if isinstance(layer, Image)]

    def _follow_selection(self) -> None:
        """The image to restore is the layer the user selected in the layer list, when it is one."""
        active = self.viewer.layers.selection.active
        if isinstance(active, Image) and active in [layer for _, layer in self._image_layers()]:
            self.image.value = active

    def _options(self) -> Dict[str, Any]:
        """Enhancer arguments for the current choices (raises MicroGANError on an unusable choice)."""
        if self.model.value == FILE_CHOICE:
            path = self.checkpoint.value
            if not path or not path.is_file():
                raise MicroGANError(f"choose a checkpoint file (.safetensors); '{path}' is not a file")
            model: Any = path
        else:
            model = self.model.value
        tile: Any = {"auto": "auto", "off": None}.get(self.tiling.value, int(self.tile_size.value))
        text = str(self.psf.value or "").strip()
        psf = resolve_psf(text) if text else None  # a bad PSF is one message before any work
        return {"model": model, "device": self.device.value, "precision": self.precision.value, "tile": tile,
                "self_ensemble": bool(self.ensemble.value), "consistency": "auto" if self.consistency.value else False,
                "psf": psf}

    # ------------------------------------------------------------------ running

    def run(self) -> None:
        """Start restoring the selected layer (in a worker thread)."""
        if self.worker is not None:
            return
        layer = self.image.value
        try:
            if layer is None:
                raise MicroGANError("no image layer selected: open an image (or File > Open Sample > MicroGAN)")
            window = view_window(layer) if layer.multiscale or self.region.value else None
            options = self._options()
        except MicroGANError as exc:
            self._fail(exc)
            return
        self._cancel.clear()
        data = layer.data if window is None else window[0]
        # errors must be connected here: an unconnected `errored` is re-raised in the GUI thread
        self.worker = create_worker(self._work, data, layer.rgb, options, None if window is None else window[1],
                                    _start_thread=False, _connect={
            "yielded": self._on_progress,
            "returned": lambda result: self._on_done(layer, options, result, None if window is None else window[1]),
            "errored": self._on_error,
            "finished": self._on_finished,
        })
        self.run_button.enabled, self.cancel_button.enabled = False, True
        self.progress.native.setRange(0, 0)  # busy until the first image is done
        self.status.value = f"restoring '{layer.name}'..."
        self.worker.start()

    def cancel(self) -> None:
        """Stop at the next network pass; no layer is added."""
        if self.worker is not None:
            self._cancel.set()
            self.status.value = "cancelling..."

    def _enhancer(self, options: Dict[str, Any]) -> Any:
        import microgan

        # the self-ensemble, the consistency step and the PSF are how an image is run, not what is
        # loaded: changing them keeps the loaded model
        loading = {k: v for k, v in options.items() if k not in ("self_ensemble", "consistency", "psf")}
        key = tuple(sorted((k, str(v)) for k, v in loading.items()))
        if key not in self._enhancers:
            kwargs = {k: v for k, v in loading.items() if k != "model"}
            self._enhancers = {key: microgan.load(options["model"], **kwargs)}  # keep one: weights are large
        enhancer = self._enhancers[key]
        enhancer.self_ensemble = options["self_ensemble"]
        auto = enhancer.takes_psf or trained_blind(enhancer.meta)
        enhancer.consistency = auto if options["consistency"] == "auto" else False
        enhancer.set_psf(options["psf"])  # a blind model told a PSF: one clear error
        return enhancer

    def _work(self, data: Any, rgb: bool, options: Dict[str, Any], window: Optional[Tuple[int, int, int, int]]):
        """Worker body (generator: napari can stop it between yields)."""
        enhancer = self._enhancer(options)
        if window is not None:
            return (yield from restore_window(enhancer, data, window, rgb, self._cancel))
        return (yield from restore_planes(enhancer, data, rgb, self._cancel))

    # ------------------------------------------------------------------ results (GUI thread)

    def _on_progress(self, progress: Tuple[int, int]) -> None:
        done, total = progress
        if total > 1:
            self.progress.native.setRange(0, total)
            self.progress.value = done
            self.status.value = f"restored {done} of {total} images"

    def _on_done(self, layer: Image, options: Dict[str, Any], restored: np.ndarray,
                 window: Optional[Tuple[int, int, int, int]] = None) -> None:
        scale = np.asarray(layer.scale, dtype=np.float64)
        translate = np.asarray(layer.translate, dtype=np.float64)
        if window is not None:  # the window's first pixel sits where the layer shows it
            translate = translate.copy()
            translate[-2:] += scale[-2:] * np.array([window[0], window[2]], dtype=np.float64)
        width = (window[3] - window[2]) if window is not None else np.shape(layer.data)[-1 - int(layer.rgb)]
        factor = int(restored.shape[-1 - int(layer.rgb)]) // max(int(width), 1)  # an upscaling model's output
        scale, translate = overlay(scale, translate, factor)
        self.viewer.add_image(
            restored,
            name=f"{layer.name} (MicroGAN)" if window is None else
                 f"{layer.name} (MicroGAN, rows {window[0]}-{window[1]}, columns {window[2]}-{window[3]})",
            rgb=layer.rgb,
            scale=scale,
            translate=translate,
            rotate=layer.rotate,
            shear=layer.shear,
            affine=layer.affine,
            contrast_limits=layer.contrast_limits,
            colormap=layer.colormap,
            gamma=layer.gamma,
            metadata={"microgan": {k: str(v) for k, v in options.items()}, "restored_from": layer.name,
                      **({} if window is None else {"window": list(window)})},
        )
        self.image.value = layer  # napari selects the new layer; the next run is most often on the input again
        self.progress.native.setRange(0, 1)
        self.progress.value = 1
        self.status.value = f"restored '{layer.name}'"

    def _on_error(self, exc: BaseException) -> None:
        self.progress.native.setRange(0, 1)
        self.progress.value = 0
        if isinstance(exc, Cancelled):
            self.status.value = "cancelled"
            show_info("MicroGAN: restoration cancelled")
        else:
            self._fail(exc)

    def _on_finished(self) -> None:
        self.worker = None
        self.run_button.enabled, self.cancel_button.enabled = True, False

    def _fail(self, exc: BaseException) -> None:
        """One line for the user; the traceback of an unexpected error goes to the log only."""
        if isinstance(exc, MicroGANError):
            message = str(exc)
        else:
            log.error("MicroGAN restoration failed", exc_info=exc)
            message = f"{type(exc).__name__}: {exc}"
        self.status.value = f"error: {message}"
        show_error(f"MicroGAN: {message}")
