"""The config's ``data:`` and ``train:`` sections as checked dataclasses, and the learning-rate schedule.

Every key is validated when a run starts (an unknown or misspelt key is a :class:`ConfigError`
naming it), so hours of training never end in a typo; see the bundled configs for what each means.
"""
from __future__ import annotations

import copy
import math
from dataclasses import dataclass, field, fields
from typing import Any, Dict, Iterable, List, Optional, Sequence, Tuple, Type, TypeVar

from microgan.core.device import PRECISIONS
from microgan.core.types import finite_number
from microgan.data.samplers import DEFAULT_BUCKET_RATIO
from microgan.errors import ConfigError

S = TypeVar("S")

LR_SCHEDULES = ("constant", "cosine")
#: The training algorithms: ``restoration`` trains the generator on the pixel loss alone and builds
#: no critic; ``adversarial`` is the paper's GAN (pixel warm-up, optional critic warm-up, WGAN-GP).
ALGORITHMS = ("restoration", "adversarial")

#: Keys that configs once had, and why they are gone: an old config fails naming the key and the
#: fix, instead of "unknown setting". A checkpoint's saved config may still hold them (resume drops
#: them with :func:`drop_retired`: none changed what training computed).
RETIRED: Dict[str, str] = {
    "data.batching": "batches are always size-bucketed and data.batch_size alone sets the batch (1 = the paper's "
                     "batch of one); remove data.batching",
}


def section_settings(cls: Type[S], section: Dict[str, Any], name: str) -> S:
    """``cls(**section)``, with retired and unknown keys reported by name instead of a TypeError."""
    for key in section:
        if f"{name}.{key}" in RETIRED:
            raise ConfigError(f"{name}.{key} is no longer a setting: {RETIRED[f'{name}.{key}']}")
    refuse_unknown(section, sorted(f.name for f in fields(cls)), f"'{name}' setting(s)")
    return cls(**section)


def check_values(settings: Any, section: str) -> None:
    """Every value of a settings dataclass has its annotated type (``Optional[...]`` allows null):
    whole numbers are not bools or strings, numbers are finite, so ``--set train.steps=abc`` or
    ``lr: .nan`` is one clear line here instead of a TypeError deep inside training."""
    for f in fields(settings):
        value, kind = getattr(settings, f.name), str(f.type)
        optional = kind.startswith("Optional[")
        base = kind[len("Optional["):-1] if optional else kind
        if value is None:
            if optional:
                continue
            raise ConfigError(f"{section}.{f.name} must be set, got null")
        wrong = {
            "int": lambda: isinstance(value, bool) or not isinstance(value, int),
            "float": lambda: not finite_number(value),
            "str": lambda: not isinstance(value, str),
            "bool": lambda: not isinstance(value, bool),
        }.get(base.split("[")[0], lambda: False)()
        if base.startswith("Dict") and not isinstance(value, dict):
            wrong = True
        if base.startswith("List") and not isinstance(value, list):
            wrong = True
        if wrong:
            what = {"int": "a whole number", "float": "a finite number", "str": "text", "bool": "true or false"}.get(
                base.split("[")[0], "a " + base.split("[")[0].lower())
            raise ConfigError(f"{section}.{f.name} must be {what}{' or null' if optional else ''}, got {value!r}")


def refuse_unknown(given: Iterable[str], known: Sequence[str], what: str) -> None:
    """A :class:`ConfigError` naming every key of ``given`` outside ``known`` (and the known ones)."""
    unknown = sorted(set(given) - set(known))
    if unknown:
        raise ConfigError(f"unknown {what}: {', '.join(unknown)} (known: {', '.join(known)})")


#: A run config's top-level sections and the ``losses:`` terms; :func:`check_sections` refuses others,
#: so a misspelt ``trian:`` or ``losses.pixle:`` (also via ``--set``) fails instead of being ignored.
SECTIONS = ("name", "generator", "critic", "losses", "data", "train")
LOSS_TERMS = ("adversarial", "perceptual", "pixel")


def check_sections(config: Dict[str, Any]) -> None:
    """Refuse unknown top-level sections and ``losses:`` terms (the sections' own keys are checked by
    :func:`section_settings` and by the registries that build the networks and losses)."""
    refuse_unknown(config, SECTIONS, "config section(s)")
    for section in ("generator", "critic", "losses", "data", "train"):
        if config.get(section) is not None and not isinstance(config[section], dict):
            raise ConfigError(f"{section} must be a mapping of settings, got {config[section]!r}")
    losses = config.get("losses") or {}
    if not isinstance(losses, dict):
        raise ConfigError(f"losses must be a mapping of {', '.join(LOSS_TERMS)}, got {losses!r}")
    refuse_unknown(losses, LOSS_TERMS, "'losses' term(s)")
    for term, spec in losses.items():
        weight = (spec or {}).get("weight", 1.0) if isinstance(spec, dict) else None
        if not finite_number(weight) or weight < 0:
            raise ConfigError(f"losses.{term}.weight must be a finite number >= 0, got {weight!r}")


def check_config(config: Dict[str, Any]) -> Tuple["DataSettings", "TrainSettings"]:
    """Every check a run config gets before anything runs (the run folder is touched, data read):
    sections, loss terms and the ``data:``/``train:`` keys and values; returns those two sections."""
    check_sections(config)
    return (section_settings(DataSettings, config.get("data") or {}, "data"),
            section_settings(TrainSettings, config.get("train") or {}, "train"))


@dataclass
class DataSettings:
    """The config's ``data:`` section."""

    resize_to: Optional[int] = None  # 128 for MicroGAN-FS only
    batch_size: int = 1  # per process; > 1: crops of similar size share a batch (data.samplers)
    bucket_ratio: float = DEFAULT_BUCKET_RATIO
    num_workers: int = 0
    degradation: Optional[Dict[str, Any]] = None  # spec drawn per crop visit; None: the prepared LR crops (paper)
    augment: Optional[Dict[str, Any]] = None  # flips / stain jitter of the HR crop (needs degradation)
    #: visits per epoch of each crop of each --data folder, in order (None: once each). Domains
    #: trained together are otherwise weighted by their crop counts: [8, 1] lets a small folder
    #: count as much as one eight times its size, each visit a fresh degradation draw.
    repeat: Optional[List[int]] = None

    def __post_init__(self) -> None:
        check_values(self, "data")
        if self.batch_size < 1:
            raise ConfigError(f"data.batch_size must be >= 1, got {self.batch_size}")
        if self.repeat is not None:
            if not isinstance(self.repeat, list) or not self.repeat or any(
                isinstance(r, bool) or not isinstance(r, int) or r < 1 for r in self.repeat
            ):
                raise ConfigError(f"data.repeat must be a list of whole numbers >= 1, one per --data folder, got {self.repeat!r}")


@dataclass
class TrainSettings:
    """The config's ``train:`` section."""

    epochs: Optional[int] = 200
    steps: Optional[int] = None
    max_minutes: Optional[float] = None
    optimizer: Dict[str, Any] = field(default_factory=dict)
    critic_optimizer: Dict[str, Any] = field(default_factory=dict)  # the critic's Adam; {}: the generator's
    lr_schedule: str = "constant"
    lr_min: float = 0.0
    critic_steps: int = 4
    critic_batches: str = "fresh"
    pixel_warmup_steps: int = 0
    critic_warmup_steps: int = 0  # after the pixel warm-up: critic-only steps on the frozen generator
    precision: str = "fp32"
    channels_last: bool = False
    val_every: int = 1000
    val_max_crops: int = 64
    val_samples: int = 4
    ckpt_every: int = 500
    ckpt_every_minutes: Optional[float] = 10.0  # also write last this often (bounds what a kill loses); null: off
    log_every: int = 50
    seed: int = 0
    threads: Optional[int] = None  # torch intra-op threads; None = torch's default (all cores)
    #: None: validate and keep the live weights; 0 < d < 1: an exponential moving average of them
    #: (train.ema), ~1 / (1 - d) steps long, is what validation scores and checkpoints serve
    ema_decay: Optional[float] = None
    #: restoration or adversarial (ALGORITHMS); null: adversarial unless the pixel warm-up covers every step
    algorithm: Optional[str] = None

    @property
    def adversarial(self) -> bool:
        """Whether this run builds a critic and trains against it (:data:`ALGORITHMS`)."""
        if self.algorithm is not None:
            return self.algorithm == "adversarial"
        return self.steps is None or self.pixel_warmup_steps < self.steps

    def __post_init__(self) -> None:
        check_values(self, "train")
        if self.algorithm is not None and self.algorithm not in ALGORITHMS:
            raise ConfigError(f"train.algorithm must be one of {', '.join(ALGORITHMS)} (or null), got '{self.algorithm}'")
        if self.algorithm == "adversarial" and self.steps is not None and self.pixel_warmup_steps >= self.steps:
            raise ConfigError("train.algorithm adversarial, but train.pixel_warmup_steps covers every step: it would never "
                              "reach the critic (lower the warm-up, or train.algorithm: restoration)")
        self.optimizer = {"lr": 1.0e-4, "betas": [0.9, 0.999], **self.optimizer}
        self.critic_optimizer = {**self.optimizer, **self.critic_optimizer}
        for name, opt in (("optimizer", self.optimizer), ("critic_optimizer", self.critic_optimizer)):
            unknown = sorted(set(opt) - {"lr", "betas"})
            if unknown:
                raise ConfigError(f"train.{name} takes lr and betas, not {', '.join(unknown)}")
            numbers = [opt["lr"], *(opt["betas"] if isinstance(opt["betas"], (list, tuple)) else [])]
            if (not all(finite_number(v) for v in numbers)
                    or opt["lr"] < 0 or len(numbers) != 3 or not all(0 <= b < 1 for b in numbers[1:])):
                raise ConfigError(f"train.{name}: lr must be a finite number >= 0 and betas a pair in [0, 1), got {opt}")
        if self.pixel_warmup_steps < 0 or self.critic_warmup_steps < 0:
            raise ConfigError("train.pixel_warmup_steps and train.critic_warmup_steps must be >= 0")
        if self.precision not in PRECISIONS:
            raise ConfigError(f"train.precision must be one of {', '.join(PRECISIONS)}, got '{self.precision}'")
        if self.lr_schedule not in LR_SCHEDULES:
            raise ConfigError(f"train.lr_schedule must be one of {', '.join(LR_SCHEDULES)}, got '{self.lr_schedule}'")
        if self.lr_schedule == "cosine" and not self.steps:
            raise ConfigError("train.lr_schedule cosine decays over train.steps: set train.steps (or --steps)")
        if self.critic_batches not in ("fresh", "same"):
            raise ConfigError(f"train.critic_batches must be 'fresh' or 'same', got '{self.critic_batches}'")
        if self.critic_steps < 1:
            raise ConfigError(f"train.critic_steps must be >= 1, got {self.critic_steps}")
        if not (self.epochs or self.steps or self.max_minutes):
            raise ConfigError("training never stops: set train.epochs, train.steps or train.max_minutes")
        for key in ("epochs", "steps", "threads"):
            if getattr(self, key) is not None and getattr(self, key) < 1:
                raise ConfigError(f"train.{key} must be at least 1 (or null), got {getattr(self, key)}")
        if self.max_minutes is not None and not self.max_minutes > 0:
            raise ConfigError(f"train.max_minutes must be > 0 (or null), got {self.max_minutes}")
        if self.lr_min < 0 or self.val_max_crops < 1 or self.val_samples < 0:
            raise ConfigError("train.lr_min must be >= 0, train.val_max_crops >= 1 and train.val_samples >= 0")
        for key in ("val_every", "ckpt_every", "log_every"):
            if getattr(self, key) < 1:
                raise ConfigError(f"train.{key} must be >= 1")
        if self.ema_decay is not None and (
            isinstance(self.ema_decay, bool) or not isinstance(self.ema_decay, (int, float)) or not 0.0 < self.ema_decay < 1.0
        ):
            raise ConfigError(f"train.ema_decay must be between 0 and 1 (e.g. 0.999), or null: off; got {self.ema_decay!r}")
        if self.ckpt_every_minutes is not None and not self.ckpt_every_minutes > 0:
            raise ConfigError(f"train.ckpt_every_minutes must be > 0 (or null: off), got {self.ckpt_every_minutes}")


def drop_retired(config: Dict[str, Any]) -> Tuple[Dict[str, Any], List[str]]:
    """A copy of ``config`` without :data:`RETIRED` keys, and the keys it dropped (for a resume of a
    run whose saved config predates their removal)."""
    out = copy.deepcopy(config)
    dropped = []
    for dotted in RETIRED:
        section, key = dotted.split(".")
        if isinstance(out.get(section), dict) and key in out[section]:
            del out[section][key]
            dropped.append(dotted)
    return out, dropped


def scheduled_lr(settings: TrainSettings, step: int, optimizer: str = "optimizer") -> float:
    """The learning rate at ``step`` of the generator's optimizer (or ``critic_optimizer``):
    constant, or a cosine from the configured rate down to ``lr_min`` (scaled by the critic's rate
    over the generator's for the critic) at ``steps``. A function of the step alone, so a resumed
    run sets exactly the rate the uninterrupted run would have (nothing extra to checkpoint)."""
    base = float(getattr(settings, optimizer)["lr"])
    if settings.lr_schedule == "constant":
        return base
    generator_base = float(settings.optimizer["lr"])
    floor = settings.lr_min * (base / generator_base) if generator_base else settings.lr_min
    progress = min(step / settings.steps, 1.0)
    return floor + 0.5 * (base - floor) * (1.0 + math.cos(math.pi * progress))
