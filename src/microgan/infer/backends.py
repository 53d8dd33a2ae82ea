"""Backends: what runs the generator on a canvas already padded to its size multiple.

Both take and return ``float32 (N, C, H, W)`` numpy arrays in the networks' [-1, 1] range, so the
:class:`~microgan.infer.enhancer.Enhancer` (normalization, tiles, memory) is the same for each.

* :class:`TorchBackend`: PyTorch with the precision's autocast, in the channels_last layout or the
  default one (channels_last measured 1.4x faster for MicroGAN's generator on this project's CPU,
  but 5 % slower for DeblurGAN's, whose instance norms prefer the default: ``docs/benchmarks.md``).
* :class:`OnnxRuntimeBackend`: the generator exported by :mod:`microgan.core.portable` (the same
  exporter and parity proof as ``microgan export``), run by ONNX Runtime on the CPU. The graph is
  exported once per set of weights and kept in the user cache (:func:`onnx_graph`).
  onnxruntime is an optional extra (``pip install 'microgan[onnx]'``).

A backend and its layout form a *candidate* (:data:`CANDIDATES`); ``--backend torch`` races the two
PyTorch layouts, ``auto`` adds ONNX Runtime where it applies (:func:`candidates_for`), and the
:class:`~microgan.infer.enhancer.Enhancer` keeps the measured winner (:mod:`microgan.infer.calibrate`).
"""
from __future__ import annotations

import hashlib
import warnings
from pathlib import Path
from typing import Any, List, Mapping, Optional

import numpy as np
import torch
from torch import nn

from microgan.core.atomic import atomic_write
from microgan.core.device import autocast
from microgan.core.files import user_cache_dir
from microgan.errors import MicroGANError

#: What ``--backend`` accepts.
BACKENDS = ("auto", "torch", "onnxruntime")
#: Every way to run a pass: a backend and, for PyTorch, a memory layout.
CANDIDATES = ("torch-channels_last", "torch-nchw", "onnxruntime")
#: ONNX opset of the cached graphs (part of their cache key, like the exporter contract).
OPSET = 17
#: bump when the exported graph's contract changes (v2, 2026-12-07: the edge margin, core.portable.EDGE_MARGIN,
#: is the Enhancer's and never in this graph; a graph exported while it was being added may hold it)
_GRAPH_VERSION = f"v2-opset{OPSET}-raw"

INSTALL_HINT = "pip install 'microgan[onnx]'"


def onnxruntime_available() -> bool:
    try:
        import onnxruntime  # noqa: F401
    except ImportError:
        return False
    return True


def weights_digest(generator: nn.Module) -> str:
    """SHA-256 of the generator's class and state (names, shapes, dtypes, bytes): the identity of
    a model for every per-model cache, whether it came from a file or was built in memory."""
    digest = hashlib.sha256(f"{type(generator).__module__}.{type(generator).__qualname__}".encode())
    for name, tensor in generator.state_dict().items():
        t = tensor.detach().cpu().contiguous()
        digest.update(f"{name}:{tuple(t.shape)}:{t.dtype}".encode())
        digest.update(t.reshape(-1).view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()


class TorchBackend:
    """PyTorch, channels_last or the default layout, autocast to ``precision`` (``fp32``: none)."""

    name = "torch"

    def release(self) -> None:
        """Nothing is held between passes (PyTorch frees to the C allocator; ``memory`` trims it)."""

    def __init__(self, generator: nn.Module, device: torch.device, precision: str, channels_last: bool = True) -> None:
        self.layout = torch.channels_last if channels_last else torch.contiguous_format
        self.candidate = "torch-channels_last" if channels_last else "torch-nchw"
        self.generator = generator.to(device=device, memory_format=self.layout).eval()
        self.device = device
        self.precision = precision

    @torch.inference_mode()
    def __call__(self, x: np.ndarray) -> np.ndarray:
        t = torch.from_numpy(x).to(self.device).contiguous(memory_format=self.layout)
        with autocast(self.device, self.precision):
            y = self.generator(t)
        return y.float().contiguous().cpu().numpy()


def onnx_graph(generator: nn.Module, meta: Optional[Mapping[str, Any]] = None, digest: Optional[str] = None) -> Path:
    """The generator's ONNX graph (unclipped) in the user cache, exported and checked on first use.

    Written under a temporary name and renamed, so ranks of a distributed run exporting at once,
    or a run killed mid-export, never leave a half-written graph under the final name.
    """
    from microgan.core.portable import export_generator

    digest = digest or weights_digest(generator)
    path = user_cache_dir("onnx") / f"{digest[:40]}-{_GRAPH_VERSION}.onnx"
    check = path.with_name(path.name + ".sha256")
    if path.is_file():
        try:
            intact = check.read_text().strip() == hashlib.sha256(path.read_bytes()).hexdigest()
        except OSError:
            intact = False
        if intact:
            return path
        warnings.warn(f"{path}: cached ONNX graph does not match its checksum; exporting it again", stacklevel=2)
    # margin 0: the Enhancer's tiles come with the image already reflected beyond its edges
    atomic_write(path, lambda tmp: export_generator(generator, tmp, "onnx", opset=OPSET, meta=meta, clip=False, margin=0))
    atomic_write(check, lambda tmp: Path(tmp).write_text(hashlib.sha256(path.read_bytes()).hexdigest() + "\n"))
    return path


class OnnxRuntimeBackend:
    """ONNX Runtime on the CPU, ``threads`` intra-op threads, its memory arena kept in check.

    ONNX Runtime is fastest with its defaults: a memory arena, and a memory pattern (one block
    laid out for all tensors of an input shape, planned during the first run of that shape and
    used from the second). But the arena keeps whatever it once held: the first run's separate
    buffers *and* then the pattern's block, measured at 2100 bytes per pixel for a 1088x1096
    tile where one run needs 940. So the first run of each new shape ends by handing the arena's
    free memory back (arena shrinkage); later runs of that shape reuse the pattern block in place,
    without page faults. :meth:`release` hands back the block itself between images, so the
    memory budget sees only what is in use. (Without arena and pattern a run needs 710 bytes per
    pixel but was ~1.35x slower in the same measurement.)
    """

    name = "onnxruntime"
    candidate = "onnxruntime"

    def __init__(self, path: Path, threads: int) -> None:
        try:
            import onnxruntime as ort
        except ImportError:
            raise MicroGANError(f"backend onnxruntime: onnxruntime is not installed ({INSTALL_HINT})") from None
        options = ort.SessionOptions()
        options.intra_op_num_threads = max(1, threads)
        options.inter_op_num_threads = 1
        options.log_severity_level = 3  # warnings about hardware-specific graph rewrites are noise here
        self.session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        self._shrink = ort.RunOptions()
        self._shrink.add_run_config_entry("memory.enable_memory_arena_shrinkage", "cpu:0")
        self._shapes: set = set()
        self._holding = False

    def __call__(self, x: np.ndarray) -> np.ndarray:
        x = np.ascontiguousarray(x, dtype=np.float32)
        first = x.shape not in self._shapes
        self._shapes.add(x.shape)
        self._holding = True
        return self.session.run(None, {"input": x}, self._shrink if first else None)[0]

    def release(self) -> None:
        """Hand the arena's free memory back to the system (a tiny run that shrinks the arena)."""
        if self._holding:
            self.session.run(None, {"input": np.zeros((1, self.session.get_inputs()[0].shape[1] or 1, 8, 8), np.float32)},
                             self._shrink)
            self._holding = False


def candidates_for(choice: str, device: torch.device, precision: str) -> List[str]:
    """The candidates a ``--backend`` choice races (one: nothing to race). ONNX Runtime computes
    fp32 on the CPU; asked for elsewhere it is a clear error, under ``auto`` it is left out."""
    if choice not in BACKENDS:
        raise MicroGANError(f"backend '{choice}': choose one of {', '.join(BACKENDS)}")
    if choice == "onnxruntime":
        if device.type != "cpu":
            raise MicroGANError(f"backend onnxruntime runs on the CPU; on {device.type} use --backend torch (or auto)")
        if precision != "fp32":
            raise MicroGANError(f"backend onnxruntime computes in fp32; precision {precision} needs --backend torch")
        if not onnxruntime_available():
            raise MicroGANError(f"backend onnxruntime: onnxruntime is not installed ({INSTALL_HINT})")
        return ["onnxruntime"]
    torch_layouts = ["torch-channels_last", "torch-nchw"]
    if choice == "auto" and device.type == "cpu" and precision == "fp32" and onnxruntime_available():
        return torch_layouts + ["onnxruntime"]
    return torch_layouts


def build_candidate(
    candidate: str, generator: nn.Module, meta: Mapping[str, Any], device: torch.device, precision: str,
    digest: Optional[str] = None,
):
    """The backend of a candidate name (:data:`CANDIDATES`)."""
    if candidate == "onnxruntime":
        return OnnxRuntimeBackend(onnx_graph(generator, meta, digest), torch.get_num_threads())
    if candidate in ("torch-channels_last", "torch-nchw"):
        return TorchBackend(generator, device, precision, channels_last=candidate == "torch-channels_last")
    raise MicroGANError(f"backend candidate '{candidate}': one of {', '.join(CANDIDATES)}")
