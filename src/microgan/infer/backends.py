"""Backends: what runs the generator on a canvas already padded to its size multiple.

Both take and return ``float32 (N, C, H, W)`` numpy arrays in the networks' [-1, 1] range, so the
:class:`~microgan.infer.enhancer.Enhancer` (normalization, tiles, memory) is the same for each.

* :class:`TorchBackend`: PyTorch in the channels_last layout (measured 1.5x faster than the default
  layout for MicroGAN's generator on this project's CPU, ``docs/benchmarks.md``; on CUDA it is
  what tensor cores want for fp16/bf16 convolutions), with the precision's autocast.
* :class:`OnnxRuntimeBackend`: the generator exported by :mod:`microgan.core.portable` (the same
  exporter and parity proof as ``microgan export``), run by ONNX Runtime on the CPU. The graph is
  exported once per set of weights and kept in the user cache (:func:`onnx_graph`).
  onnxruntime is an optional extra (``pip install 'microgan[onnx]'``).

``auto`` is resolved by :mod:`microgan.infer.calibrate` (the faster one, measured).
"""
from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any, Mapping, Optional

import numpy as np
import torch
from torch import nn

from microgan.core.atomic import atomic_write
from microgan.core.device import autocast
from microgan.core.files import user_cache_dir
from microgan.errors import MicroGANError

#: What ``--backend`` accepts.
BACKENDS = ("auto", "torch", "onnxruntime")
#: ONNX opset of the cached graphs (part of their cache key, like the exporter contract).
OPSET = 17
_GRAPH_VERSION = f"v1-opset{OPSET}-raw"  # bump when the exported graph's contract changes

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
    """PyTorch, channels_last, autocast to ``precision`` (``fp32``: none)."""

    name = "torch"

    def __init__(self, generator: nn.Module, device: torch.device, precision: str) -> None:
        self.generator = generator.to(device=device, memory_format=torch.channels_last).eval()
        self.device = device
        self.precision = precision

    @torch.inference_mode()
    def __call__(self, x: np.ndarray) -> np.ndarray:
        t = torch.from_numpy(x).to(self.device).contiguous(memory_format=torch.channels_last)
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
    if not path.is_file():
        atomic_write(path, lambda tmp: export_generator(generator, tmp, "onnx", opset=OPSET, meta=meta, clip=False))
    return path


class OnnxRuntimeBackend:
    """ONNX Runtime on the CPU, ``threads`` intra-op threads.

    The memory arena is off: with it, ONNX Runtime keeps every buffer it ever grew to, in
    power-of-two steps, so the resident set no longer follows the tile being computed and the
    memory budget could not be planned (measured: 27 % more peak memory at 1024x1024, no
    measurable speed difference).
    """

    name = "onnxruntime"

    def __init__(self, path: Path, threads: int) -> None:
        try:
            import onnxruntime as ort
        except ImportError:
            raise MicroGANError(f"backend onnxruntime: onnxruntime is not installed ({INSTALL_HINT})") from None
        options = ort.SessionOptions()
        options.intra_op_num_threads = max(1, threads)
        options.inter_op_num_threads = 1
        options.enable_cpu_mem_arena = False
        options.enable_mem_pattern = False
        options.log_severity_level = 3  # warnings about hardware-specific graph rewrites are noise here
        self.session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])

    def __call__(self, x: np.ndarray) -> np.ndarray:
        return self.session.run(None, {"input": np.ascontiguousarray(x, dtype=np.float32)})[0]


def build_backend(
    name: str, generator: nn.Module, meta: Mapping[str, Any], device: torch.device, precision: str,
    digest: Optional[str] = None,
):
    """A backend by name (``torch`` or ``onnxruntime``; ``auto`` is resolved before)."""
    if name == "torch":
        return TorchBackend(generator, device, precision)
    if name == "onnxruntime":
        if device.type != "cpu":
            raise MicroGANError(
                f"backend onnxruntime runs on the CPU; on {device.type} use --backend torch (or auto)"
            )
        if precision != "fp32":
            raise MicroGANError(f"backend onnxruntime computes in fp32; precision {precision} needs --backend torch")
        if not onnxruntime_available():
            raise MicroGANError(f"backend onnxruntime: onnxruntime is not installed ({INSTALL_HINT})")
        return OnnxRuntimeBackend(onnx_graph(generator, meta, digest), torch.get_num_threads())
    raise MicroGANError(f"backend '{name}': choose one of {', '.join(BACKENDS)}")
