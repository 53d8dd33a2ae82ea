"""What the napari widget runs: a layer's data in, its restoration out, same shape and type.

No Qt here, so it is testable on its own and the widget stays a thin shell. A napari image layer
may hold one image or a stack of them (z, t, ... before y, x, and before the RGB(A) axis); each 2-D
image is restored by :meth:`microgan.infer.Enhancer.enhance`, the same call ``microgan enhance``
makes, so the plugin never computes anything the command line would not. An alpha channel is
carried over unchanged.

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
    restored = np.empty_like(planes)
    with stoppable(enhancer, cancel):
        for i, plane in enumerate(planes):
            if cancel.is_set():
                raise Cancelled()
            restored[i] = enhancer.enhance(np.ascontiguousarray(plane))
            yield i + 1, len(planes)
    if alpha.size:
        restored = np.concatenate([restored, alpha], axis=-1)
    return restored.reshape(lead + restored.shape[1:])
