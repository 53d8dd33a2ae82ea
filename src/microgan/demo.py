"""``microgan demo``: the paper's pipeline end to end, in minutes, on real microscopy already on disk.

A newcomer should see a trained generator restore real cells, and by how much, before preparing data or training
anything. The demo therefore only *chooses* its inputs and settings; every step is the toolkit's own
public code, so what it shows is what the commands do:

1. **Images.** BCCD where it is found (:func:`microgan.data.sources.find_bccd`): a spread of its test
   images to score, a few of its validation images to tune the baselines on (and, with ``train``, a
   spread of its training images). Without BCCD, the two microscopy images scikit-image ships inside
   its wheel (:func:`skimage_images`), which need no download. Either way they are copied to
   ``OUT/source/{train,val,test}/`` so the report's inputs stay next to it.
2. **Segment and degrade** with :func:`microgan.data.prepare.prepare` (folder source, the paper's
   segmentation, the paper's 15x15 Gaussian blur) into ``OUT/prepared``.
3. **Model.** The bundled pretrained generator, a given checkpoint, or (``train``) a fresh one trained
   within a time budget by :func:`microgan.train.trainer.run_training` into ``OUT/run``.
4. **Evaluate** against the blurred input and Richardson-Lucy tuned on the validation crops, with
   :mod:`microgan.evaluate.pipeline`, twice: the paper's clean blur (``OUT/report.json``, the
   self-contained ``OUT/report.html``) and the same blur with camera noise (:data:`NOISY_CASE`,
   ``OUT/report-noisy.*``), because a real microscope's images are never noise-free. When the
   model is the bundled default, the other bundled models are scored beside it (:func:`companions`),
   so a newcomer sees what the default buys over the paper's noise-free BCCD model.

Speed: Richardson-Lucy is the slow part (about a second per crop at the iteration count tuning picks
on BCCD, on a 2-core CPU), so the demo scores an evenly spread subset of the test crops (``limit``)
and tunes on a few validation crops (``tune_limit``); docs/paper-notes.md has the timings.
"""
from __future__ import annotations

import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

from microgan.errors import CheckpointError, ConfigError, MicroGANError

DEFAULT_OUT = Path("microgan-demo")
INPUT_NAME = "identity"  # the blurred input, scored as a method
RL_NAME = "richardson-lucy"
BASELINES = (INPUT_NAME, RL_NAME)
#: The second case: the paper's blur plus Gaussian camera noise of 1 % of the range (~2.5 grey levels),
#: made from the HR crops with a seeded draw (``microgan evaluate --degradation`` spelling).
NOISY_CASE = "paper+noise:0.01"
#: What a demo writes into OUT; ``overwrite`` removes exactly these and nothing else.
OUTPUTS = ("source", "prepared", "run", "report.json", "report.html", "report-noisy.json", "report-noisy.html")
#: The recipe of the bundled model (configs/microgan-bccd.yaml: MicroGAN's generator trained with L1,
#: batch of one, sized for a CPU budget), so ``--train`` shows how the pretrained model came to be.
TRAIN_CONFIG = "microgan-bccd"
#: Validation crops scored during --train: enough to pick the best checkpoint, few enough that one
#: validation costs seconds, not a minute, on a CPU.
TRAIN_VAL_CROPS = 16

#: scikit-image's images are a gray single cell and a dense RGB tissue section, not blood smears:
#: the BCCD-tuned segmentation merges the tissue into one object. Without dilation and with a
#: smaller minimum area it cuts nuclei and gland fragments of 14..90 px (measured in demo-notes).
#: :class:`~microgan.data.segment.SegmentationParams` keyword arguments.
SKIMAGE_SEGMENTATION = {"dilate_iterations": 0, "min_area": 150}
#: Row bands of the tissue image that stand in for the missing splits (fractions of its height):
#: the top half trains (``train`` only), the next band tunes the baselines, the bottom is scored.
SKIMAGE_BANDS = {"train": (0.0, 0.5), "val": (0.5, 0.6875), "test": (0.6875, 1.0)}

Log = Callable[[str], None]


@dataclass
class DemoConfig:
    """What to run; the defaults are the ``microgan demo`` ones (under 5 minutes on 2 CPU cores)."""

    out: Path = DEFAULT_OUT
    data: Optional[Path] = None  # where to look for BCCD (None: find_bccd's default places)
    images: int = 12  # BCCD test images segmented
    val_images: int = 3  # BCCD validation images segmented (baseline tuning, training validation)
    train_images: int = 48  # BCCD training images segmented (train only)
    limit: Optional[int] = 16  # test crops scored, evenly spread (None: all): 3 models x 2 cases within a minute
    tune_limit: int = 8  # validation crops Richardson-Lucy is tuned on
    model: Optional[Path] = None  # checkpoint or run folder; None: the bundled model
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
        if self.max_minutes <= 0:
            raise ConfigError(f"demo max_minutes must be positive, got {self.max_minutes}")


@dataclass
class DemoImages:
    """The raw images the demo copied to ``OUT/source/<split>/`` and how to segment them."""

    origin: str  # a sentence for the console and the notes
    counts: Dict[str, int]  # images per split
    segmentation: Dict[str, Any] = field(default_factory=dict)  # SegmentationParams changes from the defaults
    blood_smears: bool = True  # False for the scikit-image fallback, unlike the bundled model's training data


@dataclass
class Headline:
    """The numbers the demo prints: the model's mean PSNR/SSIM and its gains over the others.

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

    def lines(self, rl_iterations: Optional[int] = None) -> List[str]:
        out = [f"model {self.model}{', told the PSF as Richardson-Lucy is' if self.told else ''}: {self.training}"]
        for other, label in ((INPUT_NAME, "the blurred input"), (RL_NAME, "Richardson-Lucy")):
            if rl_iterations is not None and other == RL_NAME:
                label += f" ({rl_iterations} iterations)"
            ssim = self.gain(other, "ssim")
            ssim_text = "n/a" if ssim is None else f"{ssim:+.4f}"
            out.append(f"{self.model} vs {label}: PSNR {self.gain(other):+.2f} dB, SSIM {ssim_text}")
        return out


@dataclass
class DemoCase:
    """One degradation the demo scored: its name, reports and headline."""

    name: str  # "paper blur", "paper blur + noise"
    degradation: Optional[str]  # None: the prepared LR crops (the paper's blur); else NOISY_CASE
    report: Dict[str, Any]
    report_json: Path
    report_html: Path
    headline: Headline
    #: the models told the PSF (as Richardson-Lucy is), other than the headline's: their own lines
    told: List[Headline] = field(default_factory=list)

    @property
    def rl_iterations(self) -> Optional[int]:
        return self.report["methods"][RL_NAME]["settings"].get("num_iter")


@dataclass
class DemoResult:
    out: Path
    cases: List[DemoCase]  # the paper's clean blur first, then the noisy case
    images: DemoImages
    model: Path
    seconds: Dict[str, float]  # wall time per phase
    train_steps: Optional[int] = None  # generator steps trained here (train only)

    @property
    def clean(self) -> DemoCase:
        return self.cases[0]

    # the clean case's, as before the noisy case existed
    @property
    def report(self) -> Dict[str, Any]:
        return self.clean.report

    @property
    def report_json(self) -> Path:
        return self.clean.report_json

    @property
    def report_html(self) -> Path:
        return self.clean.report_html

    @property
    def headline(self) -> Headline:
        return self.clean.headline

    @property
    def rl_iterations(self) -> Optional[int]:
        return self.clean.rl_iterations


# ----------------------------------------------------------------------------------- output folder


def claim_output(out: Path, overwrite: bool) -> None:
    """Refuse a folder holding an earlier demo unless ``overwrite``; then remove only its outputs."""
    present = [name for name in OUTPUTS if (out / name).exists()]
    if present and not overwrite:
        raise MicroGANError(
            f"{out}: already holds a previous demo ({', '.join(present)}); pass --overwrite to replace it"
        )
    for name in present:
        path = out / name
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path)
        else:
            path.unlink()


def pretrained_model(model: Optional[Path]) -> Path:
    """The checkpoint to evaluate: ``model`` or the bundled default, checked before any work starts."""
    from microgan.core.checkpoint import resolve_model_path

    try:
        return resolve_model_path(model)
    except CheckpointError as exc:
        if model is None:  # the bundled model is missing: the demo can also train one
            raise CheckpointError(f"{exc}, or --train to train one first") from None
        raise


# ----------------------------------------------------------------------------------- images


def _spread(items: Sequence[Any], n: int) -> List[Any]:
    """``n`` items evenly spaced over ``items`` (all of them when there are fewer): a quick demo
    still sees smears from across the data set rather than its first few files."""
    import numpy as np

    if n >= len(items):
        return list(items)
    return [items[i] for i in np.unique(np.linspace(0, len(items) - 1, n).round().astype(int))]


def bccd_images(root: Path, dest: Path, config: DemoConfig) -> DemoImages:
    """Copy a spread of BCCD's own test and val (and train) images to ``dest/<split>/`` unchanged."""
    from microgan.data.sources import BCCDSource

    entries = BCCDSource(root, crops="segment").images()  # segment: no annotation parsing needed
    wanted = {"test": config.images, "val": config.val_images}
    if config.train:
        wanted["train"] = config.train_images
    counts: Dict[str, int] = {}
    for split, n in wanted.items():
        chosen = _spread([e for e in entries if e.split_hint == split], n)
        if not chosen:
            raise MicroGANError(f"{root}: BCCD lists no {split} images (ImageSets/Main/{split}.txt)")
        (dest / split).mkdir(parents=True, exist_ok=True)
        for entry in chosen:
            shutil.copyfile(entry.path, dest / split / entry.path.name)
        counts[split] = len(chosen)
    return DemoImages(origin=f"BCCD blood smears from {root}", counts=counts)


def skimage_images(dest: Path, train: bool) -> DemoImages:
    """scikit-image's bundled microscopy, written as PNG: ``cell`` (a gray single cell, 660x550) is
    scored whole; ``immunohistochemistry`` (RGB tissue, 512x512) is cut into row bands that stand in
    for the splits BCCD would provide (:data:`SKIMAGE_BANDS`), so the baselines are still tuned on
    pixels that are never scored."""
    import numpy as np
    from skimage import data as skdata

    from microgan.data.io import write_image

    counts: Dict[str, int] = {}

    def put(split: str, name: str, array: "np.ndarray") -> None:
        write_image(dest / split / f"{name}.png", array)
        counts[split] = counts.get(split, 0) + 1

    put("test", "cell", skdata.cell())
    tissue = skdata.immunohistochemistry()
    for split, (top, bottom) in SKIMAGE_BANDS.items():
        if split == "train" and not train:
            continue
        rows = slice(round(top * tissue.shape[0]), round(bottom * tissue.shape[0]))
        put(split, f"immunohistochemistry-{split}", np.ascontiguousarray(tissue[rows]))
    origin = "scikit-image's bundled microscopy (skimage.data.cell, skimage.data.immunohistochemistry)"
    return DemoImages(origin=origin, counts=counts, segmentation=dict(SKIMAGE_SEGMENTATION), blood_smears=False)


def gather_images(config: DemoConfig, dest: Path, log: Log) -> DemoImages:
    """BCCD when found, else scikit-image's images (saying why)."""
    from microgan.data.sources import find_bccd

    try:
        root = find_bccd(config.data)
    except MicroGANError as exc:
        log(f"{exc.args[0].split(';')[0]}: using scikit-image's bundled microscopy instead")
        return skimage_images(dest, config.train)
    return bccd_images(root, dest, config)


# ----------------------------------------------------------------------------------- training


def training_settings(config: DemoConfig) -> Dict[str, Any]:
    """The run config for ``train``: ``config.train_config`` with the demo's cadence, then the user's
    overrides (``--set``, last, so they win). Built before any work so a bad key fails at once.

    Validation runs every 50 steps on a few crops so ``best.safetensors`` exists early and tracks the
    best model seen; no mid-run ``last`` checkpoints (one is written at the end anyway)."""
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
    """Train from scratch on the demo's train crops within the time budget; returns the checkpoint
    to evaluate and the trainer's summary (steps, stop reason, validation scores)."""
    from microgan.core.checkpoint import resolve_model_path
    from microgan.train.trainer import run_training

    summary = run_training(settings, prepared, run, overwrite=True, quiet=not config.progress, device=config.device)
    return resolve_model_path(run), summary


# ----------------------------------------------------------------------------------- the demo


def companions(model: Path, given: Optional[Path], train: bool) -> List[Path]:
    """The other bundled models, scored beside the bundled default (none beside a given or trained one)."""
    from microgan.core.checkpoint import BUNDLED_DIR

    if given is not None or train:
        return []
    return sorted(p for p in BUNDLED_DIR.glob("*.safetensors") if p.resolve() != Path(model).resolve())


def model_name(checkpoint: Path) -> str:
    """What the report calls the model: its config's name (``microgan-bccd``), never a baseline's."""
    from microgan.core.checkpoint import read_meta

    name = str((read_meta(checkpoint).get("config") or {}).get("name") or "model")
    return name if name not in (*BASELINES, "LR", "HR") else f"model-{name}"


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


def run_demo(config: DemoConfig, log: Log = lambda line: None) -> DemoResult:
    """Run the whole demo into ``config.out``; ``log`` receives one line per step."""
    from microgan.data.manifest import read_manifest
    from microgan.data.prepare import PrepareConfig, prepare
    from microgan.data.segment import SegmentationParams
    from microgan.evaluate.pipeline import crop_progress, evaluate_and_report, tuned_baselines
    from microgan.core.device import resolve_device
    from microgan.data.degrade.presets import parse_degradation_text
    from microgan.evaluate.runner import TRUE_PSF, CropSource, model_method, select

    out = Path(config.out)
    # fail before any work: no model to evaluate, a training config that does not load, no such device
    model = None if config.train else pretrained_model(config.model)
    resolve_device(config.device)
    settings = training_settings(config) if config.train else None
    claim_output(out, config.overwrite)
    seconds: Dict[str, float] = {}
    train_steps: Optional[int] = None
    started = time.perf_counter()

    images = gather_images(config, out / "source", log)
    log(f"images: {images.origin}; " + ", ".join(f"{n} {s}" for s, n in images.counts.items()))
    segmentation = SegmentationParams(**images.segmentation)
    summary = prepare(
        PrepareConfig(out=out / "prepared", source="folder", data=out / "source", segmentation=segmentation),
        progress=config.progress,
    )
    prepared = summary.out
    seconds["prepare"] = time.perf_counter() - started
    log(summary.lines()[0])

    if settings is not None:
        tick = time.perf_counter()
        log(f"training a fresh generator ({settings.get('name', config.train_config)}) for up to "
            f"{config.max_minutes:g} min into {out / 'run'}")
        model, trained = train_model(config, settings, prepared, out / "run")
        seconds["train"] = time.perf_counter() - tick
        train_steps = int(trained["step"])
        log(f"trained {train_steps} steps in {seconds['train']:.1f} s ({trained['reason']}): {model}")

    records = read_manifest(prepared)
    test = select(records, "test", config.limit)
    tune_on = select(records, "val", config.tune_limit)
    if not test or not tune_on:
        missing = "test" if not test else "val"
        raise MicroGANError(f"{prepared}: segmentation found no {missing} crops in the demo images")
    name = model_name(model)
    # a model told the PSF is told each crop's own, as Richardson-Lucy is (models trained blind ignore it)
    models = [model_method(name, model, config.device, psf=TRUE_PSF)]
    models += [model_method(model_name(p), p, config.device, psf=TRUE_PSF) for p in companions(model, config.model, config.train)]
    cases: List[DemoCase] = []
    for case, degradation, stem in (("paper blur", None, "report"), ("paper blur + noise", NOISY_CASE, "report-noisy")):
        tick = time.perf_counter()
        data = prepared if degradation is None else CropSource(prepared, parse_degradation_text(degradation), seed=0)
        baselines, tuning = tuned_baselines(data, tune_on, BASELINES, "val", log)
        json_path, html_path = out / f"{stem}.json", out / f"{stem}.html"
        # VIF / MS-SSIM / hf_ratio cost more than the restorations here: `microgan evaluate` has them
        _, report = evaluate_and_report(
            data, test, [*models, *baselines], "test", tuning=tuning, json_path=json_path, html_path=html_path,
            progress=crop_progress(config.progress, f"evaluate ({case})"), sharpness=False,
        )
        seconds[f"evaluate {case}"] = time.perf_counter() - tick
        log(f"{case}: tuned the baselines, scored {len(test)} test crops and wrote {html_path.name} "
            f"in {seconds[f'evaluate {case}']:.1f} s")
        told = [headline(report, n) for n, m in report["methods"].items()
                if n != name and m.get("kind") == "model" and _told(m)]
        cases.append(DemoCase(case, degradation, report, json_path, html_path, headline(report, name), told))
    seconds["total"] = time.perf_counter() - started
    return DemoResult(out=out, cases=cases, images=images, model=Path(model), seconds=seconds, train_steps=train_steps)
