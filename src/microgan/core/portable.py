"""Export a generator to ONNX or TorchScript with dynamic height and width, and prove it.

The generators pad their input to a size multiple with Python arithmetic and a Python branch
(reflect, or replicate where the image is too small to reflect; ``archs.padding``). Tracing bakes
such branches in at the example size, so :class:`ExportWrapper` does the same padding itself with
tensor arithmetic only (a gather with computed indices: traceable, and ``Gather`` in ONNX, whose
``Pad`` refuses to reflect axes of length 1). The generator then always receives a multiple of its
size and its own padding is a no-op at every size. The exported graph takes and returns
``float32 (N, C, H, W)`` in [-1, 1] (output clipped), the networks' value range; any ``H, W >= 1``.

Every export is checked against PyTorch on random sizes (onnxruntime for ONNX) before returning.
"""
from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple, Union

import torch
from torch import nn

from microgan.core.contract import to_network
from microgan.errors import MicroGANError
from microgan.core.atomic import atomic_write
from microgan.core.checkpoint import load_generator
from microgan.core.geometry import has_global_normalization, model_channels, size_multiple

FORMATS = ("onnx", "torchscript")
#: Sizes (H, W) every export is checked on: 1x1, odd, non-multiples, wide, tall.
CHECK_SIZES: Tuple[Tuple[int, int], ...] = ((1, 1), (9, 5), (31, 64), (70, 23), (129, 100))
#: Largest accepted |exported - PyTorch| in [-1, 1] units (1/255 of the range is 0.0078).
TOLERANCE = 1e-3


#: Pixels of the image reflected beyond each edge before a network sees it, beyond the padding to its
#: size multiple. The networks' convolutions pad with zeros, which a network reads as a mid-grey frame:
#: on 200x200 crops of 4 bundled BCCD fields (paper blur, `microgan-blind`, 2026-12-07) 8 px of
#: reflected image took the border band's mean error from 1.15 to 1.02 grey levels (45.00 -> 45.18 dB),
#: and on the same crops inverted (a dark background, as fluorescence has) from 2.03 to 1.33 (41.90 ->
#: 42.39 dB; 1.83 -> 1.04 and 42.21 -> 43.15 dB dimmed further); 16, 24 and 48 px gained no more.
#: Cost: (1 + 16 / side)^2 the pixels, 1.17x on a 200x200 crop, 1.06x on a 640x480 field.
EDGE_MARGIN = 8


def edge_margin(generator: nn.Module) -> int:
    """:data:`EDGE_MARGIN`, or 0 for a generator that pads its input itself (``pads_itself``: a model
    with its PSF built in deconvolves the image before padding it)."""
    return 0 if getattr(generator, "pads_itself", False) else EDGE_MARGIN


def reflected(index: torch.Tensor, n: torch.Tensor) -> torch.Tensor:
    """``index`` (any integers) reflected into ``0..n-1`` (OpenCV's BORDER_REFLECT_101, as the
    degradations and the Fourier solves reflect), in tensor arithmetic only, so tracing records it."""
    period = torch.clamp(2 * (n - 1), min=1)
    folded = torch.remainder(index, period)
    return torch.where(folded >= n, period - folded, folded)


def padding_index(n: torch.Tensor, multiple: int, min_size: int, margin: int = 0) -> Tuple[torch.Tensor, torch.Tensor]:
    """Source indices that pad an axis of ``n`` pixels by at least ``margin`` on each side and then
    to a multiple as ``archs.padding.pad_to_multiple`` does (split evenly, reflect, replicate where
    the larger pad is not smaller than ``n``), and the number of pixels added before the image.
    Inference pads numpy images with the same indices (``padding_index(torch.tensor(n), ...)``), so
    every implementation shares one rule."""
    target = (torch.clamp(n + 2 * margin, min=min_size) + (multiple - 1)) // multiple * multiple
    extra = target - n
    before = extra // 2
    after = extra - before
    index = torch.arange(target) - before
    replicated = torch.minimum(torch.clamp(index, min=0), n - 1)
    reflect = torch.maximum(before, after) < n
    return torch.where(reflect, reflected(index, n), replicated), before


class ExportWrapper(nn.Module):
    """Traceable pad (the image reflected :data:`EDGE_MARGIN` px beyond its edges, then to the size
    multiple) -> generator -> crop -> clip (``clip``), equal to ``Enhancer``'s whole-image pass."""

    def __init__(self, generator: nn.Module, clip: bool = True, margin: Optional[int] = None) -> None:
        super().__init__()
        self.generator = generator
        self.clip = clip
        self.multiple, self.min_size = size_multiple(generator)
        #: None: :func:`edge_margin`; 0 for a graph that gets tiles the Enhancer already padded
        self.margin = edge_margin(generator) if margin is None else int(margin)

    def unclipped(self, x: torch.Tensor) -> torch.Tensor:
        """pad -> generator -> crop: what ``forward`` clips (the parity check needs it unclipped,
        where an overflow still shows as Inf)."""
        # under tracing the sizes are tensors (recorded), in eager mode ints
        height = torch.as_tensor(x.shape[2])
        width = torch.as_tensor(x.shape[3])
        rows, top = padding_index(height, self.multiple, self.min_size, self.margin)
        cols, left = padding_index(width, self.multiple, self.min_size, self.margin)
        y = self.generator(x.index_select(2, rows).index_select(3, cols))
        s = int(getattr(self.generator, "scale", 1))  # an upscaler (a baked upscaling model) returns s times the size
        return y[:, :, s * top : s * (top + height), s * left : s * (left + width)]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.unclipped(x)
        return y.clamp(-1.0, 1.0) if self.clip else y


def _example(channels: int, multiple: int, min_size: int) -> torch.Tensor:
    side = -(-max(2 * multiple, min_size) // multiple) * multiple
    return to_network(torch.rand(1, channels, side + 3, side + 5))


def _run_onnx(path: Path) -> Any:
    import onnxruntime as ort

    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return lambda x: torch.from_numpy(session.run(None, {"input": x.numpy()})[0])


def _run_torchscript(path: Path) -> Any:
    with warnings.catch_warnings():  # TorchScript is deprecated upstream but still what C++/mobile load
        warnings.simplefilter("ignore", DeprecationWarning)
        module = torch.jit.load(str(path), map_location="cpu")
    return lambda x: module(x)


#: A generator's raw output beyond this (its range is [-1, 1]) is not a restoration but broken or
#: overflowing weights: clipping would ship it as a saturated image (issue 30: outputs of ~1e23).
OUTPUT_LIMIT = 100.0

def check_export(
    path: Union[str, Path],
    fmt: str,
    wrapper: nn.Module,
    channels: int,
    sizes: Sequence[Tuple[int, int]] = CHECK_SIZES,
    name: Union[str, Path, None] = None,
) -> Dict[str, float]:
    """Max |exported - PyTorch| per size ``"HxW"``, on random [-1, 1] inputs (batch of 2).

    A non-finite output (of PyTorch before the clip, or of the export) is an error: a NaN error
    passes every tolerance comparison, and an overflow would ship clipped to a saturated image. ``name``: the file named in errors (default ``path``)."""
    name = name or path
    run = _run_onnx(Path(path)) if fmt == "onnx" else _run_torchscript(Path(path))
    gen = torch.Generator().manual_seed(0)
    errors: Dict[str, float] = {}
    with torch.inference_mode():
        for h, w in sizes:
            x = to_network(torch.rand(2, channels, h, w, generator=gen))
            raw = wrapper.unclipped(x) if isinstance(wrapper, ExportWrapper) else wrapper(x)
            clip = not isinstance(wrapper, ExportWrapper) or wrapper.clip
            expected = raw.clamp(-1.0, 1.0) if clip else raw
            got = run(x)
            if tuple(got.shape) != tuple(expected.shape):
                raise MicroGANError(f"{name}: exported model returned {tuple(got.shape)} for {tuple(x.shape)}")
            if not (torch.isfinite(raw).all() and torch.isfinite(got).all()):
                raise MicroGANError(f"{name}: the model's output holds NaN or Inf values at {h}x{w}; not exported")
            if float(raw.abs().max()) > OUTPUT_LIMIT:
                raise MicroGANError(f"{name}: the model's output reaches {float(raw.abs().max()):.3g} at {h}x{w}, far "
                                    f"outside its [-1, 1] range (broken or overflowing weights); not exported")
            errors[f"{h}x{w}"] = float((got - expected).abs().max())
    return errors


def _onnx_metadata(path: Path, meta: Mapping[str, Any], channels: int, scale: int = 1) -> None:
    """Say in the file what the graph expects, for whoever loads it without this package."""
    import onnx

    model = onnx.load(str(path))
    fields = {
        "microgan.input": f"float32 (N, {channels}, H, W) in [-1, 1]: image in [0, 1] times 2 minus 1",
        "microgan.output": "float32 (N, C, H, W) in [-1, 1], same size as the input" if scale == 1 else
                           f"float32 (N, C, {scale}H, {scale}W) in [-1, 1], {scale} times the input's size",
        "microgan.config": str((meta.get("config") or {}).get("name", "")),
        "microgan.step": str(meta.get("step", "")),
    }
    for key, value in fields.items():
        entry = model.metadata_props.add()
        entry.key, entry.value = key, value
    onnx.save(model, str(path))


def export_generator(
    generator: nn.Module,
    path: Union[str, Path],
    fmt: str = "onnx",
    opset: int = 17,
    meta: Optional[Mapping[str, Any]] = None,
    check_sizes: Sequence[Tuple[int, int]] = CHECK_SIZES,
    clip: bool = True,
    margin: Optional[int] = None,
) -> Dict[str, float]:
    """Write ``generator`` (CPU, fp32) as ``fmt`` to ``path``; return the parity errors per size.

    ``clip``: clip the output to [-1, 1] in the graph (the deployment contract); inference asks
    for the raw output and clips where its normalizer says so. ``margin``: the image reflected this
    far beyond its edges in the graph (default :func:`edge_margin`, what ``Enhancer`` does to a whole
    image; inference's backend asks for 0: its tiles come padded).

    The graph is written to a temporary file beside ``path`` and checked there; only a checked graph
    is renamed to ``path``. Raises :class:`MicroGANError` when the exported model disagrees with
    PyTorch by more than :data:`TOLERANCE` (or gives a non-finite output) at any checked size, or
    when ``path`` cannot be written: nothing is left at ``path`` then (a wrong model must not ship).
    A 1x1 input pads to a constant image, on which instance normalization divides rounding noise
    by its own spread: any two implementations (even PyTorch with other thread counts) disagree
    there by O(1), so generators with global normalization (DeblurGAN) are checked from 2x2 up.
    """
    if fmt not in FORMATS:
        raise MicroGANError(f"format '{fmt}': choose one of {', '.join(FORMATS)}")
    path = Path(path)
    generator = generator.cpu().float().eval()
    channels = model_channels(generator, meta)
    wrapper = ExportWrapper(generator, clip, margin).eval()
    if has_global_normalization(generator):
        check_sizes = [size for size in check_sizes if min(size) > 1]
    errors: Dict[str, float] = {}

    def write_checked(tmp: str) -> None:
        """Export to the temporary file and check it there: only a checked graph is renamed to ``path``."""
        _write_graph(wrapper, Path(tmp), fmt, opset, channels)
        if fmt == "onnx":
            _onnx_metadata(Path(tmp), meta or {}, channels, int(getattr(generator, "scale", 1)))
        errors.update(check_export(tmp, fmt, wrapper, channels, check_sizes, name=path))
        worst = max(errors.values())
        if worst > TOLERANCE:
            raise MicroGANError(
                f"{path}: exported {fmt} model differs from PyTorch by {worst:.2e} (> {TOLERANCE:.0e}); not written"
            )

    _check_free_space(path, generator)
    try:
        atomic_write(path, write_checked)
    except OSError as exc:
        raise MicroGANError(f"{path}: cannot write ({exc.strerror or exc})") from None
    return errors


def _check_free_space(path: Path, generator: nn.Module) -> None:
    """Refuse before writing when the target's file system cannot hold the export: TorchScript's
    writer aborts the process (SIGABRT) on a full disk, past any cleanup (issue 30). An export is
    about the weights' size (fp32) plus the graph; twice that is asked for."""
    import shutil

    weights = 4 * sum(p.numel() for p in generator.parameters())
    need = 2 * weights + 2**20
    place = path.parent if path.parent.exists() else Path(".")
    try:
        free = shutil.disk_usage(place).free
    except OSError:
        return  # cannot tell: let the write itself report
    if free < need:
        raise MicroGANError(f"{path}: not enough free space on its file system for the export "
                            f"({free / 1e6:.1f} MB free, about {need / 1e6:.1f} MB needed)")


def _write_graph(wrapper: ExportWrapper, path: Path, fmt: str, opset: int, channels: int) -> None:
    example = _example(channels, wrapper.multiple, wrapper.min_size)
    with warnings.catch_warnings(), torch.inference_mode(False), torch.no_grad():
        # the generator's own size arithmetic is traced at a multiple, where it pads nothing at
        # every size; the tracer's warnings about it are expected
        warnings.simplefilter("ignore")
        if fmt == "onnx":
            torch.onnx.export(
                wrapper, (example,), str(path), dynamo=False, opset_version=opset,
                input_names=["input"], output_names=["output"],
                dynamic_axes={"input": {0: "batch", 2: "height", 3: "width"},
                              "output": {0: "batch", 2: "height", 3: "width"}},
            )
        else:
            torch.jit.save(torch.jit.trace(wrapper, example, check_trace=False), str(path))


def export_model(model: Union[str, Path, None], path: Union[str, Path], fmt: str = "onnx", opset: int = 17) -> Dict[str, float]:
    """Load a checkpoint (file, run folder, bundled name) and export its generator."""
    generator, meta = load_generator(model, "cpu")
    return export_generator(generator, path, fmt, opset, meta)


def format_errors(errors: Mapping[str, float]) -> List[str]:
    """One line per checked size, in 8-bit levels too (what a user can judge)."""
    return [f"  {size:>9}: max |error| {err:.2e} ({err / 2 * 255:.4f} 8-bit levels)" for size, err in errors.items()]
