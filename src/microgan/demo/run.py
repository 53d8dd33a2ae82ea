"""Run the demo: images, segmentation and blur, the model(s), tuned baselines, reports, the page.

Every step is the toolkit's own public code, so what the demo shows is what the commands do:
:func:`microgan.data.prepare.prepare` segments and degrades, :mod:`microgan.evaluate.pipeline` tunes
Richardson-Lucy on crops that are never scored and evaluates, :func:`microgan.train.trainer.run_training`
trains (``train``). Each section (:mod:`microgan.demo.images`) is scored twice: the paper's clean blur,
and the same blur with camera noise (:data:`NOISY_CASE`), because a real microscope's images are never
noise-free.

The models: by default the two bundled models a user gets from ``microgan enhance``: ``microgan-psf``
told each crop's PSF, as Richardson-Lucy is (what ``enhance --psf`` runs), and ``microgan-blind``,
told nothing (what ``enhance`` runs without a PSF). The first is the headline: it is given exactly
what the classical baseline is given.

Speed: Richardson-Lucy is the slow part, so the demo scores an evenly spread subset of the test crops
(``limit``) and tunes on a few validation crops (``tune_limit``); docs/paper-notes.md has the timings.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

from microgan.demo.images import DemoImages, bccd_images, bundled_images, skimage_images
from microgan.errors import CheckpointError, ConfigError, MicroGANError

DEFAULT_OUT = Path("microgan-demo")
INPUT_NAME = "identity"  # the blurred input, scored as a method
RL_NAME = "richardson-lucy"
BASELINES = (INPUT_NAME, RL_NAME)
#: The second case: the paper's blur plus Gaussian camera noise of 1 % of the range (~2.5 grey levels),
#: made from the HR crops with a seeded draw (``microgan evaluate --degradation`` spelling).
NOISY_CASE = "paper+noise:0.01"
CASES = (("paper blur", None, "clean"), ("paper blur + noise", NOISY_CASE, "noisy"))
#: What a demo writes into OUT (files and folders); ``overwrite`` removes only what a demo wrote there.
OUTPUTS = ("source", "prepared", "run", "details", "report.html")
#: The bundled models the demo shows by default (a model that takes a PSF is told each crop's own)
DEFAULT_MODELS = ("microgan-psf", "microgan-blind")
#: The recipe ``--train`` trains (configs/microgan-bccd.yaml: the paper's generator with L1, batch of one).
TRAIN_CONFIG = "microgan-bccd"
#: Validation crops scored during --train: enough to pick the best checkpoint, few enough that one
#: validation costs seconds, not a minute, on a CPU.
TRAIN_VAL_CROPS = 16

Log = Callable[[str], None]


@dataclass
class DemoConfig:
    """What to run; the defaults are the ``microgan demo`` ones (under a minute on 2 CPU cores)."""

    out: Path = DEFAULT_OUT
    data: Optional[Path] = None  # a BCCD copy to take the blood smears from (None: the bundled fields)
    images: int = 12  # BCCD test images segmented (with data)
    val_images: int = 4  # BCCD validation images segmented (with data)
    train_images: int = 48  # BCCD training images segmented (with data and train)
    limit: Optional[int] = 16  # test crops scored per section, evenly spread (None: all)
    tune_limit: int = 8  # validation crops Richardson-Lucy is tuned on
    held_out: bool = True  # also score scikit-image's cell and tissue images
    model: Optional[Path] = None  # checkpoint or run folder; None: the bundled models
    train: bool = False
    max_minutes: float = 5.0  # training budget (train only)
    train_config: str = TRAIN_CONFIG  # bundled config name or YAML file (train only)
    overrides: Sequence[str] = ()  # training config overrides, KEY=VALUE
    device: str = "auto"
    overwrite: bool = False
    progress: bool = True

    def __post_init__(self) -> None:
        for name in ("images", "val_images", "tune_limit"):
            if getattr(self, name) < 1:
                raise ConfigError(f"demo {name} must be at least 1, got {getattr(self, name)}")
        if self.train and self.train_images < 1:
            raise ConfigError(f"demo train_images must be at least 1, got {self.train_images}")
        if self.limit is not None and self.limit < 1:
            raise ConfigError(f"demo limit must be at least 1, got {self.limit}")
        if self.train and self.model is not None:
            raise ConfigError("give either a model to evaluate or train=True (--train), not both")
        if not self.max_minutes > 0 or self.max_minutes == float("inf"):
            raise ConfigError(f"demo max_minutes must be a positive number, got {self.max_minutes}")


@dataclass
class Headline:
    """One model's mean PSNR/SSIM in a case and its gains over the baselines.

    The model is named as what it is (its config's name and how it was trained,
    :mod:`microgan.core.provenance`): an L1-trained generator is not presented as a GAN."""

    model: str
    training: str
    psnr: Dict[str, float]
    ssim: Dict[str, Optional[float]]
    told: bool = False  # a model told the PSF (each crop's own, as Richardson-Lucy is)

    def gain(self, other: str, metric: str = "psnr") -> Optional[float]:
        values = self.psnr if metric == "psnr" else self.ssim
        mine, theirs = values[self.model], values[other]
        return None if mine is None or theirs is None else mine - theirs

    @property
    def label(self) -> str:
        return f"{self.model}, {'told the PSF' if self.told else 'no PSF given'}"

    def beats(self, other: str = RL_NAME) -> bool:
        """Better than ``other`` in PSNR and SSIM (where both have an SSIM)."""
        psnr, ssim = self.gain(other), self.gain(other, "ssim")
        return psnr is not None and psnr > 0 and (ssim is None or ssim > 0)

    def summary(self) -> str:
        """``microgan-psf, told the PSF: 45.42 dB / 0.9790 (vs Richardson-Lucy +0.31 dB, SSIM +0.0009)``."""
        ssim = self.ssim[self.model]
        score = f"{self.psnr[self.model]:.2f} dB / {'n/a' if ssim is None else f'{ssim:.4f}'}"
        ssim_gain = self.gain(RL_NAME, "ssim")
        gain = f"{self.gain(RL_NAME):+.2f} dB, SSIM {'n/a' if ssim_gain is None else f'{ssim_gain:+.4f}'}"
        return f"{self.label}: {score} (vs Richardson-Lucy {gain})"


@dataclass
class DemoCase:
    """One degradation of one section: its report, the models' headlines, the examples shown."""

    name: str  # "paper blur", "paper blur + noise"
    degradation: Optional[str]  # None: the prepared LR crops (the paper's blur); else NOISY_CASE
    report: Dict[str, Any]
    report_json: Path
    headlines: List[Headline]  # one per model, the first is the headline
    evaluation: Any = None  # microgan.evaluate.runner.Evaluation
    examples: Dict[str, Dict[str, Any]] = field(default_factory=dict)  # crop id -> {"LR", method.., "HR"}

    @property
    def headline(self) -> Headline:
        return self.headlines[0]

    @property
    def rl_iterations(self) -> Optional[int]:
        return self.report["methods"][RL_NAME]["settings"].get("num_iter")


@dataclass
class DemoSection:
    key: str  # "blood", "held-out"
    title: str
    images: DemoImages
    cases: List[DemoCase]


@dataclass
class DemoResult:
    out: Path
    sections: List[DemoSection]
    models: List[Path]
    page: Path
    seconds: Dict[str, float]  # wall time per phase
    train_steps: Optional[int] = None  # generator steps trained here (train only)

    @property
    def cases(self) -> List[DemoCase]:
        return self.sections[0].cases


# ----------------------------------------------------------------------------------- models


def pretrained_model(model: Optional[Path], name: Optional[str] = None) -> Path:
    """A checkpoint to evaluate: ``model``, or the bundled model ``name`` (default: the bundled
    default), checked before any work starts."""
    from microgan.core.checkpoint import resolve_model_path

    try:
        return resolve_model_path(model if model is not None else name)
    except CheckpointError as exc:
        if model is None:  # a bundled model is missing: the demo can also train one
            raise CheckpointError(f"{exc}: reinstall microgan, give one with --model, or --train to train one first") from None
        raise


def model_name(checkpoint: Path) -> str:
    """What the report calls the model: its config's name (``microgan-bccd``), never a baseline's."""
    from microgan.core.checkpoint import read_meta

    name = str((read_meta(checkpoint).get("config") or {}).get("name") or "model")
    return name if name not in (*BASELINES, "LR", "HR") else f"model-{name}"


def demo_models(config: DemoConfig) -> List[Path]:
    """The checkpoints to score (before any work): the given one, or the bundled defaults."""
    if config.model is not None:
        return [pretrained_model(config.model)]
    return [pretrained_model(None, name) for name in DEFAULT_MODELS]


def _told(method: Dict[str, Any]) -> bool:
    """Whether a report's model method was told each crop's PSF (a model told the PSF)."""
    return str((method.get("settings") or {}).get("psf", "")).startswith("told")


def headline(report: Dict[str, Any], model: str) -> Headline:
    methods = report["methods"]
    return Headline(
        model=model,
        training=methods[model]["settings"]["training"],
        psnr={name: methods[name]["psnr"] for name in (model, *BASELINES)},
        ssim={name: methods[name]["ssim"] for name in (model, *BASELINES)},
        told=_told(methods[model]),
    )


# ----------------------------------------------------------------------------------- training


def training_settings(config: DemoConfig) -> Dict[str, Any]:
    """The run config for ``train``: ``config.train_config`` with the demo's cadence, then the user's
    overrides (``--set``, last, so they win). Built before any work so a bad key fails at once."""
    from microgan.config import apply_overrides, load_config
    from microgan.train.settings import check_config

    defaults = [
        f"train.max_minutes={config.max_minutes}",
        "train.val_every=200",  # batch of one: ~1 min of CPU training between validations
        f"train.val_max_crops={TRAIN_VAL_CROPS}",
        "train.ckpt_every=1000000",
        "train.ckpt_every_minutes=null",
    ]
    settings = apply_overrides(load_config(config.train_config), [*defaults, *config.overrides])
    check_config(settings)
    return settings


def train_model(config: DemoConfig, settings: Dict[str, Any], prepared: Path, run: Path) -> Tuple[Path, Dict[str, Any]]:
    """Train from scratch on the blood-smear section's train crops within the time budget; returns
    the checkpoint to evaluate and the trainer's summary (steps, stop reason, validation scores)."""
    from microgan.core.checkpoint import resolve_model_path
    from microgan.train.trainer import run_training

    summary = run_training(settings, prepared, run, overwrite=True, quiet=not config.progress, device=config.device)
    return resolve_model_path(run), summary


# ----------------------------------------------------------------------------------- the demo


def _prepare(images: DemoImages, source: Path, prepared: Path, progress: bool) -> Path:
    from microgan.data.prepare import PrepareConfig, prepare
    from microgan.data.segment import SegmentationParams

    summary = prepare(
        PrepareConfig(out=prepared, source="folder", data=source, segmentation=SegmentationParams(**images.segmentation)),
        progress=progress,
    )
    return summary.out


def _score(config: DemoConfig, section: str, prepared: Path, models: Sequence[Any], details: Path,
           log: Log) -> List[DemoCase]:
    """Both cases of one section: tune the baselines, evaluate, keep the page's examples."""
    from microgan.data.degrade.presets import parse_degradation_text
    from microgan.data.manifest import read_manifest
    from microgan.evaluate import report as rep
    from microgan.evaluate.pipeline import crop_progress, evaluate_and_report, tuned_baselines
    from microgan.evaluate.runner import CropSource, restore_examples, select

    records = read_manifest(prepared)
    test = select(records, "test", config.limit)
    tune_on = select(records, "val", config.tune_limit)
    if not test or not tune_on:
        missing = "test" if not test else "val"
        raise MicroGANError(f"{prepared}: segmentation found no {missing} crops in the demo images")
    cases: List[DemoCase] = []
    for case, degradation, stem in CASES:
        tick = time.perf_counter()
        data = prepared if degradation is None else CropSource(prepared, parse_degradation_text(degradation), seed=0)
        log(f"{section}, {case}: tuning Richardson-Lucy on {len(tune_on)} crops")
        baselines, tuning = tuned_baselines(data, tune_on, BASELINES, "val", log)
        json_path = details / f"{section}-{stem}.json"
        # VIF / MS-SSIM / hf_ratio cost more than the restorations here: `microgan evaluate` has them
        evaluation, report = evaluate_and_report(
            data, test, [*models, *baselines], "test", tuning=tuning, json_path=json_path,
            progress=crop_progress(config.progress, f"{section}, {case}"), sharpness=False,
        )
        shown = {i for _, i in rep.pick_examples(evaluation)}
        examples = restore_examples(data, [r for r in test if r.id in shown], [*models, baselines[-1]])
        heads = [headline(report, m.name) for m in models]
        cases.append(DemoCase(case, degradation, report, json_path, heads, evaluation, examples))
        log(f"{section}, {case}: scored {len(test)} test crops in {time.perf_counter() - tick:.1f} s")
    return cases


def run_demo(config: DemoConfig, log: Log = lambda line: None) -> DemoResult:
    """Run the whole demo into ``config.out``; ``log`` receives one line per step."""
    from microgan.core.device import resolve_device
    from microgan.core.files import check_writable
    from microgan.core.ledger import Ledger
    from microgan.demo.page import write_page
    from microgan.evaluate.runner import TRUE_PSF, model_method

    out = Path(config.out)
    # fail before any work: no model to evaluate, a training config that does not load, no such device
    checkpoints = [] if config.train else demo_models(config)
    resolve_device(config.device)
    settings = training_settings(config) if config.train else None
    check_writable(out, "the demo's output folder", folder=True)
    ledger = Ledger(out, "demo", OUTPUTS)
    ledger.claim(config.overwrite)
    if settings is not None and ledger.foreign("run"):  # training clears its run folder: never someone else's run
        raise MicroGANError(f"{out / 'run'}: holds files no demo wrote ({ledger.foreign('run')[0].name}, ...); "
                            "choose another --out")
    seconds: Dict[str, float] = {}
    train_steps: Optional[int] = None
    started = time.perf_counter()

    try:
        gathered: List[Tuple[str, str, DemoImages]] = []
        blood_source = out / "source" / "blood"
        if config.data is not None:
            from microgan.data.sources import find_bccd

            images = bccd_images(find_bccd(config.data), blood_source, config.images, config.val_images,
                                 config.train_images if config.train else None)
        else:
            images = bundled_images(blood_source, config.train)
        gathered.append(("blood", "Blood smears", images))
        if config.held_out:
            gathered.append(("held-out", "Held out: tissue and a single cell", skimage_images(out / "source" / "held-out")))
        prepared: Dict[str, Path] = {}
        for key, _, images in gathered:
            log(f"{key}: {images.origin}; " + ", ".join(f"{n} {s}" for s, n in images.counts.items()))
            prepared[key] = _prepare(images, out / "source" / key, out / "prepared" / key, config.progress)
            ledger.record()
        seconds["prepare"] = time.perf_counter() - started

        if settings is not None:
            tick = time.perf_counter()
            log(f"training a fresh generator ({settings.get('name', config.train_config)}) for up to "
                f"{config.max_minutes:g} min into {out / 'run'}")
            checkpoint, trained = train_model(config, settings, prepared["blood"], out / "run")
            checkpoints = [checkpoint]
            seconds["train"] = time.perf_counter() - tick
            train_steps = int(trained["step"])
            ledger.record()
            log(f"trained {train_steps} steps in {seconds['train']:.1f} s ({trained['reason']}): {checkpoint}")

        # a model told the PSF is told each crop's own, as Richardson-Lucy is (models trained blind ignore it)
        log("models: " + ", ".join(str(p) for p in checkpoints))
        models = [model_method(model_name(p), p, config.device, psf=TRUE_PSF) for p in checkpoints]
        sections: List[DemoSection] = []
        for key, title, images in gathered:
            tick = time.perf_counter()
            cases = _score(config, key, prepared[key], models, out / "details", log)
            sections.append(DemoSection(key, title, images, cases))
            seconds[f"evaluate {key}"] = time.perf_counter() - tick
            ledger.record()
        seconds["total"] = time.perf_counter() - started
        result = DemoResult(out=out, sections=sections, models=[Path(p) for p in checkpoints], page=out / "report.html",
                            seconds=seconds, train_steps=train_steps)
        write_page(result)
        ledger.record()
    finally:  # a stage that failed still leaves a list of what it wrote, for the next --overwrite
        ledger.record()
    return result
