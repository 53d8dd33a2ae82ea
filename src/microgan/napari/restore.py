"""What the napari widget runs: a layer's data in, its restoration out, same shape and type (an
upscaling model's: its image axes ``scale`` times longer, :func:`overlay`).

No Qt here, so it is testable on its own and the widget stays a thin shell. A napari image layer
may hold one image or a stack of them (z, t, ... before y, x, and before the RGB(A) axis); each 2-D
image is restored by :meth:`microgan.infer.Enhancer.enhance`, the same call ``microgan enhance``
makes, so the plugin never computes anything the command line would not. An alpha channel is
carried over unchanged.

A layer too large to restore at once (a multiscale slide, or any layer with *only the region in view*
ticked) is restored where the user is looking: :func:`view_window` reads the part of the
full-resolution level the canvas shows, :func:`restore_window` restores it as an image of its own with
:data:`CONTEXT` px of the slide around it (cut off again), and the widget places it over the layer.

Cancelling: :func:`restore_planes` is a generator that yields after every image, and a hook the
Enhancer calls before every network pass (``Enhancer.pass_hooks``, whichever backend runs the
network: PyTorch or ONNX Runtime) raises :class:`Cancelled` once ``cancel`` is set, so a cancel also
stops a large image between two of its tiles.
"""
from __future__ import annotations

import threading
from contextlib import contextmanager
from importlib import resources
from typing import Any, Generator, Iterator, List, Tuple

import numpy as np

from microgan.errors import MicroGANError


class Cancelled(Exception):
    """The user cancelled the restoration."""


def bundled_models() -> List[str]:
    """Names of the pretrained models installed with the package (``weights/NAME.safetensors``)."""
    folder = resources.files("microgan").joinpath("weights")
    return sorted(p.name[: -len(".safetensors")] for p in folder.iterdir() if p.name.endswith(".safetensors"))


def split_planes(data: Any, rgb: bool) -> Tuple[np.ndarray, Tuple[int, ...], np.ndarray]:
    """(planes, leading shape, alpha) of a layer's data: ``planes`` is (N, H, W) or (N, H, W, 3);
    ``alpha`` is (N, H, W, 1) for RGBA layers, else an empty array."""
    array = np.asarray(data)
    image_axes = 3 if rgb else 2
    if array.ndim < image_axes:
        raise MicroGANError(f"expected an image, got data of shape {array.shape}")
    if rgb and array.shape[-1] not in (3, 4):
        raise MicroGANError(f"an RGB layer has 3 or 4 channels, this one {array.shape[-1]}")
    lead = array.shape[:-image_axes]
    planes = array.reshape((-1,) + array.shape[-image_axes:])
    alpha = np.empty(0, array.dtype)
    if rgb and array.shape[-1] == 4:
        planes, alpha = planes[..., :3], planes[..., 3:]
    return planes, lead, alpha


@contextmanager
def stoppable(enhancer: Any, cancel: threading.Event) -> Iterator[None]:
    """Raise :class:`Cancelled` at the ``enhancer``'s next network pass after ``cancel`` is set."""

    def check() -> None:
        if cancel.is_set():
            raise Cancelled()

    enhancer.pass_hooks.append(check)
    try:
        yield
    finally:
        enhancer.pass_hooks.remove(check)


def restore_planes(
    enhancer: Any, data: Any, rgb: bool, cancel: threading.Event
) -> Generator[Tuple[int, int], None, np.ndarray]:
    """Restore every 2-D image of a layer's data; yields (done, total) after each and returns the
    restored data, shaped and typed like ``data``. Bad input raises :class:`MicroGANError` (checked
    on every image before any is restored); a cancel raises :class:`Cancelled`."""
    planes, lead, alpha = split_planes(data, rgb)
    for plane in planes:
        enhancer.check(plane)
    scale = int(getattr(enhancer, "scale", 1))  # an upscaling model: each image `scale` times larger
    restored = np.empty((planes.shape[0], planes.shape[1] * scale, planes.shape[2] * scale) + planes.shape[3:], planes.dtype)
    with stoppable(enhancer, cancel):
        for i, plane in enumerate(planes):
            if cancel.is_set():
                raise Cancelled()
            restored[i] = enhancer.enhance(np.ascontiguousarray(plane))
            yield i + 1, len(planes)
    if alpha.size:  # carried over, each pixel's value spread over the pixels that replace it
        restored = np.concatenate([restored, alpha.repeat(scale, axis=1).repeat(scale, axis=2)], axis=-1)
    return restored.reshape(lead + restored.shape[1:])


#: Most pixels of the full-resolution image restored as the region in view (zoomed out on a slide, the
#: view holds all of it: the user is asked to zoom in).
MAX_VIEW_PIXELS = 64 * 10**6
#: Pixels of the layer read around a view window and restored with it, then cut off: more than the
#: network's reach (48 px for MicroGAN's U-Net), so the window's edges see what they see in the slide.
CONTEXT = 64


def view_window(layer: Any) -> Tuple[Any, Tuple[int, int, int, int]]:
    """(full-resolution data, (r0, r1, c0, c1)): the part of a 2-D image layer in view, in the pixels
    of its full-resolution level (a multiscale layer shows a coarser level when zoomed out)."""
    data = layer.data[0] if layer.multiscale else layer.data
    if layer.ndim != 2:
        raise MicroGANError(f"layer '{layer.name}' has {layer.ndim} dimensions: the region in view is restored for 2-D images")
    corners = np.asarray(layer.corner_pixels, dtype=np.float64)
    factor = np.asarray(layer.downsample_factors[layer.data_level], dtype=np.float64) if layer.multiscale else np.ones(2)
    h, w = int(data.shape[0]), int(data.shape[1])
    r0, c0 = (max(int(np.floor(v * f)), 0) for v, f in zip(corners[0], factor))
    # the last pixel shown at a coarse level covers ``factor`` pixels of the full one
    r1, c1 = (min(int(np.ceil((v + 1) * f)), n) for v, f, n in zip(corners[1], factor, (h, w)))
    if r1 <= r0 or c1 <= c0:
        raise MicroGANError(f"layer '{layer.name}' is not in view: pan to it first")
    if (r1 - r0) * (c1 - c0) > MAX_VIEW_PIXELS:
        raise MicroGANError(f"the region of '{layer.name}' in view is {(r1 - r0) * (c1 - c0) / 1e6:.0f} MP at full "
                            f"resolution: zoom in (at most {MAX_VIEW_PIXELS / 1e6:.0f} MP are restored at a time), or "
                            "restore the whole slide with microgan enhance")
    return data, (r0, r1, c0, c1)


def restore_window(enhancer: Any, data: Any, window: Tuple[int, int, int, int], rgb: bool,
                   cancel: threading.Event) -> Generator[Tuple[int, int], None, np.ndarray]:
    """Restore ``window`` (r0, r1, c0, c1) of a 2-D layer's ``data`` (numpy, dask or zarr: only the
    window and its :data:`CONTEXT` are read), as :func:`restore_planes` restores a layer."""
    r0, r1, c0, c1 = window
    h, w = int(data.shape[0]), int(data.shape[1])
    a0, a1, b0, b1 = max(r0 - CONTEXT, 0), min(r1 + CONTEXT, h), max(c0 - CONTEXT, 0), min(c1 + CONTEXT, w)
    piece = np.ascontiguousarray(np.asarray(data[a0:a1, b0:b1]))
    restored = yield from restore_planes(enhancer, piece, rgb, cancel)
    s = int(getattr(enhancer, "scale", 1))
    return restored[s * (r0 - a0) : s * (r1 - a0), s * (c0 - b0) : s * (c1 - b0)]


def overlay(scale: Any, translate: Any, factor: int) -> Tuple[np.ndarray, np.ndarray]:
    """(scale, translate) of a layer restored ``factor`` times finer than the layer of ``scale`` and
    ``translate`` so that it lies exactly over it: its pixels ``factor`` times smaller along the last two
    axes (y, x), and its first pixel's centre where it sits inside the layer's first pixel
    (``(0.5 / factor - 0.5)`` of a layer pixel from that pixel's centre)."""
    scale = np.asarray(scale, dtype=np.float64).copy()
    translate = np.asarray(translate, dtype=np.float64).copy()
    if factor > 1:
        translate[-2:] += scale[-2:] * (0.5 / factor - 0.5)
        scale[-2:] /= factor
    return scale, translate
