"""Checkpoints: one safetensors file per checkpoint, written atomically, never unpickled.

Everything a resume needs lives in a single file so that a crash can only leave the previous
complete file or the new complete file, never a mix: network weights, optimizer states and RNG
states are flattened into tensors, and everything that is not a tensor (config, step, epoch,
metrics, optimizer hyper-parameters, Python RNG state) goes into the JSON metadata. The file is
written to a temporary name in the same folder, fsynced, then renamed over the target.

Tensor keys: ``generator.<param>``, ``critic.<param>``, ``generator_ema.<param>`` (a run's moving
average of the generator, ``train.ema_decay``), ``optim.<name>.<path>``, ``rng.<path>``. A
checkpoint that holds an average serves it as its model: ``generator`` is then the live weights a
resume continues from.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, Optional, Tuple, Union

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from microgan.archs import build_generator
from microgan.core.atomic import atomic_write
from microgan.core.device import DeviceLike, resolve_device
from microgan.core.provenance import training_of
from microgan.errors import CheckpointError, MicroGANError

FORMAT_VERSION = 1
META_KEY = "microgan"
BEST_NAME = "best.safetensors"
LAST_NAME = "last.safetensors"
BUNDLED_DIR = Path(__file__).resolve().parent.parent / "weights"
#: The model `enhance`, `demo`, `microgan.load()` and the napari widget use when none is named: trained
#: blind (random blur, noise and JPEG) on two blood-smear data sets (docs/model-card.md). The paper's
#: noise-free BCCD model stays bundled as ``microgan-bccd``.
BUNDLED_DEFAULT = "microgan-blind"

PathLike = Union[str, Path]


@dataclass
class Checkpoint:
    """What a checkpoint holds. ``meta['config']`` is the full run config (generator spec included)."""

    meta: Dict[str, Any]
    generator: Dict[str, torch.Tensor]
    critic: Optional[Dict[str, torch.Tensor]] = None
    optimizers: Dict[str, Dict[str, Any]] = field(default_factory=dict)
    rng: Dict[str, Any] = field(default_factory=dict)
    #: the moving average of the generator's weights (``train.ema_decay``), or None
    generator_ema: Optional[Dict[str, torch.Tensor]] = None

    @property
    def model_weights(self) -> Dict[str, torch.Tensor]:
        """The weights that restore images: the moving average where the run kept one."""
        return self.generator_ema or self.generator


def _flatten(obj: Any, prefix: str, tensors: Dict[str, torch.Tensor]) -> Any:
    """Move tensors out of a nested structure into ``tensors``; return a JSON-able skeleton."""
    if isinstance(obj, torch.Tensor):
        tensors[prefix] = obj.detach().cpu().contiguous()
        return {"__tensor__": prefix}
    if isinstance(obj, dict):
        # keys may be ints (optimizer state); keep their type so load_state_dict matches
        return {"__dict__": [[k, _flatten(v, f"{prefix}.{k}", tensors)] for k, v in obj.items()]}
    if isinstance(obj, (list, tuple)):
        items = [_flatten(v, f"{prefix}.{i}", tensors) for i, v in enumerate(obj)]
        return {"__tuple__": items} if isinstance(obj, tuple) else items
    return obj


def _unflatten(skel: Any, tensors: Dict[str, torch.Tensor]) -> Any:
    if isinstance(skel, dict):
        if "__tensor__" in skel:
            return tensors[skel["__tensor__"]]
        if "__dict__" in skel:
            return {k: _unflatten(v, tensors) for k, v in skel["__dict__"]}
        if "__tuple__" in skel:
            return tuple(_unflatten(v, tensors) for v in skel["__tuple__"])
        return skel
    if isinstance(skel, list):
        return [_unflatten(v, tensors) for v in skel]
    return skel


def save_checkpoint(path: PathLike, ckpt: Checkpoint, weights_dtype: Optional[torch.dtype] = None) -> None:
    """Write ``ckpt`` atomically. ``weights_dtype`` (e.g. float16) shrinks the generator's weights (and
    their moving average) for an export."""
    tensors: Dict[str, torch.Tensor] = {}
    for group, weights, cast in (("generator", ckpt.generator, True), ("generator_ema", ckpt.generator_ema, True),
                                 ("critic", ckpt.critic, False)):
        for name, t in (weights or {}).items():
            t = t.detach().cpu().contiguous()
            tensors[f"{group}.{name}"] = t.to(weights_dtype) if cast and weights_dtype and t.is_floating_point() else t
    skeleton = {
        "optimizers": {k: _flatten(v, f"optim.{k}", tensors) for k, v in ckpt.optimizers.items()},
        "rng": _flatten(ckpt.rng, "rng", tensors),
    }
    meta = {"format": FORMAT_VERSION, **ckpt.meta, "_state": skeleton}
    header = {META_KEY: json.dumps(meta)}
    atomic_write(path, lambda tmp: save_file(tensors, tmp, metadata=header))


def read_meta(path: PathLike) -> Dict[str, Any]:
    """The checkpoint's metadata alone (the JSON header; no tensor is read), checked to be what
    every reader relies on: a JSON object of this format whose ``config``, if any, is a mapping."""
    path = Path(path)
    from safetensors import safe_open

    try:
        with safe_open(str(path), framework="pt") as fh:
            raw = (fh.metadata() or {}).get(META_KEY)
    except (SafetensorError, OSError, ValueError) as exc:
        raise CheckpointError(f"{path}: corrupt or unreadable checkpoint ({exc})") from None
    if raw is None:
        raise CheckpointError(f"{path}: not a MicroGAN checkpoint (no '{META_KEY}' metadata)")
    try:
        meta = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise CheckpointError(f"{path}: checkpoint metadata is not valid JSON ({exc})") from None
    except RecursionError:  # a crafted header nested 200,000 deep
        raise CheckpointError(f"{path}: checkpoint metadata is nested too deeply to be a MicroGAN checkpoint") from None
    if not isinstance(meta, dict):
        raise CheckpointError(f"{path}: checkpoint metadata is not a JSON object (got a {type(meta).__name__})")
    if meta.get("format") != FORMAT_VERSION:
        raise CheckpointError(f"{path}: checkpoint format {meta.get('format')} is not supported (expected {FORMAT_VERSION})")
    if not isinstance(meta.get("config", {}), dict):
        raise CheckpointError(f"{path}: checkpoint config is not a mapping (got a {type(meta['config']).__name__})")
    for section in ("generator", "critic", "losses", "data", "train"):  # what resuming and loading read
        value = meta.get("config", {}).get(section)
        if value is not None and not isinstance(value, dict):
            raise CheckpointError(f"{path}: checkpoint config.{section} is not a mapping (got a {type(value).__name__})")
    sidecar = path.with_suffix(".json")
    if path.resolve().parent == BUNDLED_DIR and sidecar.is_file():
        # facts about a bundled file that its header predates (e.g. its training data), shipped
        # beside it rather than rewriting megabytes of weights; the header wins where both say
        facts = json.loads(sidecar.read_text())
        meta.update({k: v for k, v in facts.items() if not k.startswith("_") and k not in meta})
    return meta


def _check_finite(path: Path, group: str, tensors: Dict[str, torch.Tensor]) -> None:
    """Non-finite weights restore every image to NaN (written as black) and pass any parity check
    as NaN: refuse them where they enter, naming the first bad tensor."""
    for name, t in tensors.items():
        if t.is_floating_point() and not torch.isfinite(t).all():
            raise CheckpointError(f"{path}: {group} weight '{name}' holds NaN or Inf values (a diverged or damaged model)")


def load_checkpoint(path: PathLike, generator_only: bool = False) -> Checkpoint:
    """Read a checkpoint file; any corruption becomes a :class:`CheckpointError` naming the file,
    and so do non-finite generator or critic weights."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: checkpoint not found")
    meta = read_meta(path)
    try:
        tensors = load_file(str(path))
    except (SafetensorError, OSError, ValueError) as exc:
        raise CheckpointError(f"{path}: corrupt or unreadable checkpoint ({exc})") from None
    skeleton = meta.pop("_state", {"optimizers": {}, "rng": {}})
    groups: Dict[str, Dict[str, torch.Tensor]] = {"generator": {}, "critic": {}, "generator_ema": {}}
    for key, t in tensors.items():
        head, _, rest = key.partition(".")
        if head in groups:
            groups[head][rest] = t
    if not groups["generator"]:
        raise CheckpointError(f"{path}: checkpoint holds no generator weights")
    _check_finite(path, "generator", groups["generator"])
    _check_finite(path, "generator average", groups["generator_ema"])
    ema = groups["generator_ema"] or None
    if generator_only:
        return Checkpoint(meta=meta, generator=groups["generator"], generator_ema=ema)
    _check_finite(path, "critic", groups["critic"])
    return Checkpoint(
        meta=meta,
        generator=groups["generator"],
        critic=groups["critic"] or None,
        optimizers={k: _unflatten(v, tensors) for k, v in skeleton.get("optimizers", {}).items()},
        rng=_unflatten(skeleton.get("rng", {}), tensors),
        generator_ema=ema,
    )


def resolve_model_path(model: Optional[PathLike]) -> Path:
    """A checkpoint file, a run folder (its best, else last, checkpoint), a bundled model name, or
    None for the bundled default model."""
    if model is None:
        if not (BUNDLED_DIR / f"{BUNDLED_DEFAULT}.safetensors").is_file():
            raise CheckpointError(
                f"no model given and the bundled default model '{BUNDLED_DEFAULT}' is not installed: "
                "pass --model with a checkpoint file (.safetensors) or a training run folder"
            )
        model = BUNDLED_DEFAULT
    path = Path(model)
    if path.is_dir():
        for name in (BEST_NAME, LAST_NAME):
            if (path / name).is_file():
                return path / name
        raise CheckpointError(f"{path}: run folder holds neither {BEST_NAME} nor {LAST_NAME}")
    if path.is_file():
        return path
    bundled = BUNDLED_DIR / f"{model}.safetensors"
    if path.suffix == "" and bundled.is_file():
        return bundled
    raise CheckpointError(f"{model}: no such checkpoint file, run folder or bundled model")


def load_generator(model: Optional[PathLike], device: DeviceLike = "cpu") -> Tuple[torch.nn.Module, Dict[str, Any]]:
    """Build the generator named in a checkpoint's config and load its weights (float32, eval mode).
    The returned metadata always has ``training`` (:func:`~microgan.core.provenance.training_of`).

    ``model``: see :func:`resolve_model_path`; ``device``: see :func:`~microgan.core.device.resolve_device`."""

    path = resolve_model_path(model)
    ckpt = load_checkpoint(path, generator_only=True)
    spec = ckpt.meta.get("config", {}).get("generator")
    if not isinstance(spec, dict) or not spec.get("type"):
        raise CheckpointError(f"{path}: checkpoint config has no 'generator' spec (a mapping with a 'type')")
    try:
        net = build_generator(spec)
    except (MicroGANError, TypeError, ValueError) as exc:  # a spec the checkpoint carries is data, not code
        raise CheckpointError(f"{path}: cannot build generator '{spec.get('type')}' from its spec ({exc})") from None
    state = {k: v.float() if v.is_floating_point() else v for k, v in ckpt.model_weights.items()}
    try:
        net.load_state_dict(state)
    except RuntimeError as exc:
        first = str(exc).strip().splitlines()[0]
        raise CheckpointError(f"{path}: weights do not match generator '{spec.get('type')}' ({first})") from None
    ckpt.meta["path"] = str(path)
    ckpt.meta["training"] = training_of(ckpt.meta)
    return net.to(resolve_device(device)).eval(), ckpt.meta
