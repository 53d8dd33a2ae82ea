"""Everything a run needs, built from its config: data streams, networks, optimizers and losses.

Built in a fixed order (data, then ``torch.manual_seed(seed)``, networks, optimizers, losses) so that
every rank and every world size starts from the same weights, and a resumed run rebuilds exactly
what it then loads its checkpoint into.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple, Union

import torch

from microgan.archs import build_critic, build_generator, image_channels, takes_psf
from microgan.data.datasets import PairedCropDataset
from microgan.data.samplers import BatchStream, BucketBatchSampler
from microgan.core.checkpoint import load_generator
from microgan.errors import CheckpointError, ConfigError, MicroGANError
from microgan.losses import build_loss
from microgan.train.distributed import DistContext
from microgan.train.ema import WeightAverage
from microgan.train.settings import DataSettings, TrainSettings

#: One prepared folder, or several trained on together.
DataPaths = Union[Path, Sequence[Path]]


@dataclass
class RunData:
    """Training crops with the generator's and the critic's own batch streams, and the val crops."""

    train_set: PairedCropDataset
    val_set: PairedCropDataset
    g_stream: BatchStream
    c_stream: Optional[BatchStream]  # None: a restoration run has no critic to feed


@dataclass
class Losses:
    """The generator objective's terms and their weights (a zero weight builds no loss)."""

    adversarial: Optional[torch.nn.Module]  # None: a restoration run
    w_adversarial: float
    perceptual: Optional[torch.nn.Module]
    w_perceptual: float
    pixel: Optional[torch.nn.Module]
    w_pixel: float


@dataclass
class Networks:
    generator: torch.nn.Module
    critic: Optional[torch.nn.Module]  # None: a restoration run builds no critic
    opt_g: torch.optim.Optimizer
    opt_c: Optional[torch.optim.Optimizer]
    #: the generator's moving average (``train.ema_decay``; :mod:`microgan.train.ema`), or None
    average: Optional[WeightAverage] = None

    @property
    def kept(self) -> torch.nn.Module:
        """The generator validation scores and ``best`` holds: the average where there is one."""
        return self.average.model if self.average is not None else self.generator


def build_data(config: Dict[str, Any], data: DataPaths, data_cfg: DataSettings, cfg: TrainSettings, ctx: DistContext) -> RunData:
    """Datasets (one or several prepared folders) and the two shuffled streams (seeds ``seed`` and
    ``seed + 1``), this rank's share. With ``data.degradation`` the LR crops are drawn per visit."""
    channels = image_channels(config["generator"])
    psf_input = takes_psf(config["generator"])
    degradation, seed = data_cfg.degradation, cfg.seed
    train_set = PairedCropDataset(
        data, "train", resize_to=data_cfg.resize_to, channels=channels, degradation=degradation,
        augment=data_cfg.augment, seed=seed, psf_input=psf_input,
    )
    # validation always at native size (the generator is applied to native crops at inference),
    # with one fixed draw of the training degradation per crop
    val_set = PairedCropDataset(data, "val", channels=channels, limit=cfg.val_max_crops, degradation=degradation, seed=seed,
                                psf_input=psf_input)
    sizes = train_set.sizes()
    repeats = None
    if data_cfg.repeat is not None:
        try:
            repeats = train_set.per_crop(data_cfg.repeat)
        except MicroGANError as exc:
            raise ConfigError(f"data.repeat: {exc}") from None
    streams: List[Optional[BatchStream]] = []
    for seed in (cfg.seed, cfg.seed + 1) if cfg.adversarial else (cfg.seed,):
        sampler = BucketBatchSampler(
            sizes, data_cfg.batch_size, seed, ctx.rank, ctx.world_size, data_cfg.bucket_ratio, repeats=repeats
        )
        streams.append(BatchStream(train_set, sampler, num_workers=data_cfg.num_workers))
    return RunData(train_set, val_set, streams[0], streams[1] if len(streams) > 1 else None)


#: Bytes training holds per parameter: fp32 weights, gradients and Adam's two moments.
TRAIN_BYTES_PER_PARAMETER = 16


def check_network_sizes(config: Dict[str, Any], adversarial: bool = True) -> None:
    """Refuse networks whose weights alone would not fit this machine's memory (``--set
    generator.channels=[100000,200000]`` asked for 360 GB), counted on torch's meta device, which
    builds the modules without allocating them."""
    from microgan.core.memory import available_memory

    with torch.device("meta"):
        sizes = {name: sum(p.numel() for p in build(config[name]).parameters())
                 for name, build in (("generator", build_generator), ("critic", build_critic))
                 if name == "generator" or adversarial}
    need = TRAIN_BYTES_PER_PARAMETER * sum(sizes.values())
    have = available_memory(torch.device("cpu"))  # the weights are built on the CPU first
    if need > have:
        counts = ", ".join(f"{name} {n / 1e6:,.0f} M" for name, n in sizes.items())
        raise ConfigError(f"the networks are too large to train here: {counts} parameters need {need / 1e9:,.1f} GB "
                          f"for weights, gradients and Adam alone, {have / 1e9:,.1f} GB is available; "
                          "check generator.channels and critic.base")


def build_networks(config: Dict[str, Any], cfg: TrainSettings, device: torch.device, memory_format: torch.memory_format) -> Networks:
    """Generator, critic and their Adam optimizers, seeded: the same initial weights everywhere."""
    check_network_sizes(config, cfg.adversarial)
    torch.manual_seed(cfg.seed)
    generator = build_generator(config["generator"]).to(device, memory_format=memory_format)
    g, c = cfg.optimizer, cfg.critic_optimizer
    opt_g = torch.optim.Adam(generator.parameters(), lr=float(g["lr"]), betas=tuple(g["betas"]))
    if not cfg.adversarial:  # restoration: no critic, no critic optimizer
        return Networks(generator, None, opt_g, None)
    critic = build_critic(config["critic"]).to(device, memory_format=memory_format)
    opt_c = torch.optim.Adam(critic.parameters(), lr=float(c["lr"]), betas=tuple(c["betas"]))
    return Networks(generator, critic, opt_g, opt_c)


def init_generator(generator: torch.nn.Module, model: str) -> Dict[str, Any]:
    """Start ``generator`` from another model's weights (fine-tuning; the critic and the optimizers
    start fresh); the architectures must match. Returns what the checkpoints record as ``init_from``."""
    source, meta = load_generator(model)
    adopt = getattr(generator, "adopt", None)
    try:
        if adopt is not None and not getattr(source, "takes_psf", False):
            adopt(source.state_dict())  # a model told the PSF, started from one that was not
        else:
            generator.load_state_dict(source.state_dict())
    except (RuntimeError, ConfigError) as exc:
        first = str(exc).strip().splitlines()[0]
        raise CheckpointError(f"--init-from {model}: its generator does not match this config's ({first})") from None
    return {"model": str(model), "path": meta.get("path"), "name": (meta.get("config") or {}).get("name"), "step": meta.get("step")}


def _weighted_loss(spec: Optional[Dict[str, Any]]) -> Tuple[Optional[torch.nn.Module], float]:
    """Build a loss from ``{"type", "weight", ...}``; a zero or missing weight builds nothing."""
    if not spec:
        return None, 0.0
    spec = dict(spec)
    weight = float(spec.pop("weight", 1.0))
    return (build_loss(spec) if weight else None), weight


def build_losses(config: Dict[str, Any], cfg: TrainSettings, device: torch.device) -> Losses:
    """The ``losses:`` section; a pixel warm-up gets an L1 loss even where the GAN phase has none.

    A run whose pixel warm-up covers all its steps (an L1-only recipe such as microgan-blind) never
    reaches the perceptual term: it is not built, so its feature network is neither loaded nor
    announced. ``--resume`` with more steps builds the losses again and gets it."""
    section = config.get("losses") or {}
    adversarial, w_adversarial = None, 0.0
    if cfg.adversarial:
        adversarial, w_adversarial = _weighted_loss({"weight": 1.0, **(section.get("adversarial") or {})})
        if adversarial is None:
            raise ConfigError("losses.adversarial is required for train.algorithm adversarial (the WGAN-GP loss, weight > 0)")
    gan_phase = cfg.adversarial
    perceptual, w_perceptual = _weighted_loss(section.get("perceptual") if gan_phase else None)
    pixel, w_pixel = _weighted_loss(section.get("pixel"))
    if (cfg.pixel_warmup_steps or not cfg.adversarial) and pixel is None:
        pixel = _weighted_loss({**section.get("pixel", {"type": "l1"}), "weight": 1.0})[0]
    for loss in (adversarial, perceptual, pixel):
        if isinstance(loss, torch.nn.Module):
            loss.to(device)
    return Losses(adversarial, w_adversarial, perceptual, w_perceptual, pixel, w_pixel)
