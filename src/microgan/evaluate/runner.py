"""Run restoration methods over every crop of a split, at native size, and keep per-crop scores.

A *method* is anything that maps an LR crop to a restored crop of the HR crop's shape (the same as the
LR's, or ``scale`` times larger when the degradation samples: upscaling) and the LR's dtype: a trained
generator (through :class:`microgan.infer.Enhancer`) or a classical baseline. The runner treats both
the same way, so models and baselines are scored by the same code, on the same crops, in the same
process, and their times are comparable. Non-blind baselines need the known PSF, so a method also
receives the crop's degradation spec; models ignore it.

Timing: each method first restores one crop untimed (lazy initialisation, allocator warm-up, and the
place where a model/data mismatch fails before a long run), then every crop is timed with
``time.perf_counter`` around the restore call only: reading the PNGs and computing metrics are not
counted, conversion to and from the network's tensors is.
"""
from __future__ import annotations

import math
import time
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Dict, Iterable, List, Mapping, Optional, Sequence, Tuple, Union

import numpy as np

from microgan.data.degrade import Degradation, build_degradation
from microgan.core.sampling import crop_to_scale, upsample
from microgan.data.io import from_float, read_image, to_float
from microgan.data.manifest import CropRecord
from microgan.errors import MicroGANError
from microgan.infer.classical import TuningResult, degradation_psf, parse_degradation
from microgan.core.metrics import PSNR_CAP_DB, hf_ratio, ms_ssim, psnr, ssim, ssim_win_size, vif

RestoreFn = Callable[[np.ndarray, Mapping[str, Any]], np.ndarray]


@dataclass
class Method:
    """One column of the results table: a restore function plus what the report says about it."""

    name: str
    restore: RestoreFn
    kind: str  # "model" or "baseline"
    params: Optional[int] = None  # learned parameters; None for classical methods
    settings: Dict[str, Any] = field(default_factory=dict)  # checkpoint path or tuned parameters
    val_psnr: Optional[float] = None  # baselines: mean PSNR on the tuning crops with ``settings``


@dataclass
class CropScore:
    """Per-crop results of every method, kept for the HTML report (size plots, worst cases)."""

    id: str
    height: int
    width: int
    label: str
    psnr_input: float  # PSNR of the LR crop itself: the reference for "gain"
    psnr: Dict[str, float] = field(default_factory=dict)
    ssim: Dict[str, float] = field(default_factory=dict)
    time_s: Dict[str, float] = field(default_factory=dict)
    #: the measures that see sharpness (NaN where a crop is too small for one: see core.metrics)
    vif: Dict[str, float] = field(default_factory=dict)
    ms_ssim: Dict[str, float] = field(default_factory=dict)
    hf_ratio: Dict[str, float] = field(default_factory=dict)

    @property
    def pixels(self) -> int:
        return self.height * self.width


@dataclass
class MethodSummary:
    """Aggregates over crops. SSIM statistics skip NaN crops (too small for a window)."""

    psnr: float
    ssim: Optional[float]
    psnr_std: float
    ssim_std: Optional[float]
    time_s: float
    megapixels_per_s: float
    n_psnr_capped: int
    #: means over the crops each measure is defined on (None when it is defined on none)
    vif: Optional[float] = None
    ms_ssim: Optional[float] = None
    hf_ratio: Optional[float] = None


@dataclass
class Evaluation:
    """Everything one ``evaluate`` run measured."""

    split: str
    methods: List[Method]
    crops: List[CropScore]

    def summary(self, name: str) -> MethodSummary:
        psnrs = np.array([c.psnr[name] for c in self.crops], dtype=np.float64)
        ssims = np.array([c.ssim[name] for c in self.crops], dtype=np.float64)
        times = np.array([c.time_s[name] for c in self.crops], dtype=np.float64)
        valid = ssims[~np.isnan(ssims)]
        pixels = float(sum(c.pixels for c in self.crops))
        total = float(times.sum())
        def nanmean(key: str) -> Optional[float]:
            values = np.array([getattr(c, key).get(name, math.nan) for c in self.crops], dtype=np.float64)
            values = values[~np.isnan(values)]
            return float(values.mean()) if values.size else None

        return MethodSummary(
            vif=nanmean("vif"),
            ms_ssim=nanmean("ms_ssim"),
            hf_ratio=nanmean("hf_ratio"),
            psnr=float(psnrs.mean()),
            psnr_std=float(psnrs.std()),
            ssim=float(valid.mean()) if valid.size else None,
            ssim_std=float(valid.std()) if valid.size else None,
            time_s=float(times.mean()),
            megapixels_per_s=pixels / total / 1e6 if total > 0 else math.inf,
            n_psnr_capped=int((psnrs >= PSNR_CAP_DB).sum()),
        )

    @property
    def n_ssim_skipped(self) -> int:
        """Crops too small for any SSIM window (the same crops for every method)."""
        return sum(1 for c in self.crops if ssim_win_size(c.height, c.width) is None)


def select(records: Sequence[CropRecord], split: str, limit: Optional[int] = None) -> List[CropRecord]:
    """The records of ``split`` sorted by id; with ``limit``, an evenly spaced subset of that many.

    Evenly spaced rather than the first N so that a quick run still covers many source images
    (ids are grouped by source image) and the whole range of crop sizes."""
    chosen = sorted((r for r in records if r.split == split), key=lambda r: r.id)
    if limit is not None and 0 < limit < len(chosen):
        idx = np.linspace(0, len(chosen) - 1, limit).round().astype(int)
        chosen = [chosen[i] for i in idx]
    return chosen


@dataclass(frozen=True)
class CropSource:
    """Where evaluated pairs come from: a prepared folder, its LR crops as prepared or, with
    ``degradation`` (fixed), made from the HR crops with a draw seeded by ``(seed, crop id)`` so one
    prepared folder serves every degradation and every method sees the same LR crops."""

    prepared: Path
    degradation: Optional[Degradation] = None
    seed: int = 0

    def __str__(self) -> str:
        return str(self.prepared)

    def pair(self, record: CropRecord) -> Tuple[np.ndarray, np.ndarray, Dict[str, Any]]:
        """(LR array, HR array, degradation dict) of one manifest record, checked to match. A
        degradation that samples (upscaling) is given the HR crop cut to multiples of its scale
        (:func:`microgan.core.sampling.crop_to_scale`), and that cut HR crop is the truth."""
        hr = read_image(Path(self.prepared) / record.hr_path).array
        if self.degradation is not None:
            scale = self.degradation.scale
            hr = np.ascontiguousarray(crop_to_scale(hr, scale))
            if hr.shape[0] < scale or hr.shape[1] < scale:
                raise MicroGANError(f"{Path(self.prepared) / record.hr_path}: a crop smaller than the scale {scale}")
            rng = np.random.default_rng([self.seed, zlib.crc32(record.id.encode())])
            return self.degradation(hr, rng), hr, self.degradation.spec()
        lr = read_image(Path(self.prepared) / record.lr_path).array
        if lr.shape != hr.shape or lr.dtype != hr.dtype:
            raise MicroGANError(
                f"{Path(self.prepared) / record.lr_path}: LR {lr.shape} {lr.dtype} does not match HR {hr.shape} {hr.dtype}"
            )
        return lr, hr, parse_degradation(record.degradation)


Data = Union[Path, CropSource]


def as_source(data: Data) -> CropSource:
    return data if isinstance(data, CropSource) else CropSource(Path(data))


def load_pair(data: Data, record: CropRecord) -> Tuple[np.ndarray, np.ndarray, Dict[str, Any]]:
    """(LR array, HR array, degradation dict) of one manifest record (see :class:`CropSource`)."""
    return as_source(data).pair(record)


def _restore_checked(method: Method, lr: np.ndarray, degradation: Mapping[str, Any], where: str,
                     expected: Tuple[int, ...]) -> np.ndarray:
    """Restore one crop; an error or a result not of the HR crop's shape (``expected``) and the
    input's dtype names the method and the crop's file."""
    try:
        out = method.restore(lr, degradation)
    except MicroGANError as exc:
        raise type(exc)(f"{where}: method '{method.name}': {exc}") from None
    if out.shape != expected or out.dtype != lr.dtype:
        raise MicroGANError(
            f"{where}: method '{method.name}' returned {out.shape} {out.dtype} for an input of {lr.shape} {lr.dtype}"
            f" (expected {expected})"
        )
    return out


def input_on_hr_grid(lr: np.ndarray, hr: np.ndarray) -> np.ndarray:
    """The LR crop as the HR grid sees it, for the input's own scores: itself, or enlarged by bicubic
    interpolation when it is coarser (upscaling), what any viewer shows."""
    if lr.shape == hr.shape:
        return lr
    scale = hr.shape[0] // lr.shape[0]
    return from_float(upsample(to_float(lr), scale, "bicubic"), lr.dtype)


def evaluate(
    prepared: Data,
    records: Sequence[CropRecord],
    methods: Sequence[Method],
    split: str,
    progress: Optional[Callable[[Iterable[Any]], Iterable[Any]]] = None,
    sharpness: bool = True,
) -> Evaluation:
    """Score every method on every record at native size; see the module docstring for timing rules.
    ``sharpness`` adds VIF, MS-SSIM and the HF ratio (about a quarter of a second per crop and method
    on a CPU, more than most restorations: a long grid of PSNR/SSIM can leave them out)."""
    source = as_source(prepared)
    if not records:
        raise MicroGANError(f"{source}: no crops in split '{split}'")
    if not methods:
        raise MicroGANError("nothing to evaluate: give at least one --model or --baselines")
    lr0, hr0, deg0 = source.pair(records[0])
    for method in methods:  # warm-up, untimed; fails fast on a model that cannot take this data
        _restore_checked(method, lr0, deg0, str(source.prepared / records[0].hr_path), hr0.shape)
    crops: List[CropScore] = []
    for record in progress(records) if progress else records:
        lr, hr, degradation = source.pair(record)
        score = CropScore(
            id=record.id, height=hr.shape[0], width=hr.shape[1], label=record.label or "",
            psnr_input=psnr(input_on_hr_grid(lr, hr), hr),
        )
        for method in methods:
            start = time.perf_counter()
            out = _restore_checked(method, lr, degradation, str(source.prepared / record.hr_path), hr.shape)
            score.time_s[method.name] = time.perf_counter() - start
            score.psnr[method.name] = psnr(out, hr)
            score.ssim[method.name] = ssim(out, hr)
            if sharpness:
                score.vif[method.name] = vif(out, hr)
                score.ms_ssim[method.name] = ms_ssim(out, hr)
                score.hf_ratio[method.name] = hf_ratio(out, hr)
        crops.append(score)
    return Evaluation(split=split, methods=list(methods), crops=crops)


def restore_examples(
    prepared: Data, records: Sequence[CropRecord], methods: Sequence[Method]
) -> Dict[str, Dict[str, np.ndarray]]:
    """Restore a few crops again for the report's picture grid: ``{id: {"LR": .., name: .., "HR": ..}}``.

    Re-running (every method is deterministic) keeps memory flat during the timed run instead of
    holding every restored crop of the split."""
    out: Dict[str, Dict[str, np.ndarray]] = {}
    for record in records:
        lr, hr, degradation = load_pair(prepared, record)
        images = {"LR": input_on_hr_grid(lr, hr)}
        images.update({m.name: m.restore(lr, degradation) for m in methods})
        images["HR"] = hr
        out[record.id] = images
    return out


#: ``psf`` of a model method: told each crop's own PSF (the degradation's), as the oracle baselines are.
TRUE_PSF = "true"


def model_method(name: str, checkpoint: Path, device: str = "auto", precision: str = "fp32",
                 self_ensemble: bool = False, consistency: Union[str, bool] = "auto", psf: Any = None) -> Method:
    """A trained generator as a method, through the same :class:`~microgan.infer.Enhancer` users run
    (``self_ensemble``: averaged over the eight rotations and mirror images, ``enhance --self-ensemble``;
    ``consistency``: the data-consistency step, ``enhance --consistency``, by default the model's own;
    ``psf``, for a model told the PSF: None to let it estimate the PSF per crop, :data:`TRUE_PSF` to
    tell it each crop's own, or a PSF (``enhance --psf``); models trained blind ignore it).

    fp32 by default: the table compares quality, and a bf16 autocast would cost the model PSNR that a
    float64 baseline does not pay. A missing file or weights that do not fit the architecture named in
    the checkpoint raise a :class:`~microgan.errors.CheckpointError` naming the method and the file."""
    enhancer = _load_enhancer(name, checkpoint, device, precision, self_ensemble, consistency)
    return _as_method(name, checkpoint, enhancer, psf)


def model_and_ensemble_methods(name: str, checkpoint: Path, device: str = "auto", precision: str = "fp32",
                               consistency: Union[str, bool] = "auto", psf: Any = None) -> Tuple[Method, Method]:
    """``name`` and ``name+x8`` (:func:`model_method` plain and self-ensembled) from one loaded model."""
    import copy

    from microgan.infer.ensemble import ENSEMBLE_SUFFIX

    plain = _load_enhancer(name, checkpoint, device, precision, False, consistency)
    plain.backend  # built (raced) now, so the copy shares it instead of building its own
    ensembled = copy.copy(plain)  # shares the network, its backend and measurements; passes differ
    ensembled.self_ensemble = True
    return _as_method(name, checkpoint, plain, psf), _as_method(f"{name}{ENSEMBLE_SUFFIX}", checkpoint, ensembled, psf)


def _load_enhancer(name: str, checkpoint: Path, device: str, precision: str, self_ensemble: bool,
                   consistency: Union[str, bool]) -> Any:
    from microgan.errors import CheckpointError
    from microgan.infer import Enhancer

    from microgan.data.normalize import build_normalizer

    try:
        enhancer = Enhancer.from_model(checkpoint, device=device, precision=precision, self_ensemble=self_ensemble,
                                       consistency=consistency)
        # scored in the regime it was trained in: the normalizer its contract records (range), so a
        # 16-bit prepared crop maps as in training, whatever bit depth its own maximum suggests
        enhancer.normalizer = build_normalizer(enhancer.contract.get("normalizer", "range"))
        return enhancer
    except CheckpointError as exc:
        raise CheckpointError(f"model '{name}': {exc}") from None


def _as_method(name: str, checkpoint: Path, enhancer: Any, psf: Any = None) -> Method:
    from microgan.archs import count_params
    from microgan.core.provenance import describe
    from microgan.core.psf import describe_psf

    meta = enhancer.meta
    settings: Dict[str, Any] = {"checkpoint": str(meta.get("path", checkpoint)), "precision": enhancer.precision}
    restore = lambda lr, _degradation: enhancer.enhance(lr)  # noqa: E731
    if enhancer.takes_psf:
        if psf is None:
            settings["psf"] = f"estimated per crop (fitted to {enhancer.psf_estimator}'s restoration)"
        elif isinstance(psf, str) and psf == TRUE_PSF:
            settings["psf"] = "told each crop's own (the degradation's)"

            def restore(lr: Any, degradation: Any) -> Any:
                enhancer.set_psf(degradation_psf(degradation))  # a degradation without blur: a ConfigError
                return enhancer.enhance(lr)
        else:
            enhancer.set_psf(psf)
            settings["psf"] = f"given: {psf if isinstance(psf, str) else describe_psf(enhancer.psf)}"
    if enhancer.self_ensemble:
        settings["self_ensemble"] = True
    settings["consistency"] = enhancer.consistency
    if meta.get("config", {}).get("name"):
        settings["config"] = meta["config"]["name"]
    if meta.get("step") is not None:
        settings["step"] = meta["step"]
    settings["training"] = describe(meta.get("training"))
    return Method(
        name=name,
        restore=restore,
        kind="model",
        params=count_params(enhancer.generator),
        settings=settings,
    )


def baseline_method(tuned: TuningResult, name: Optional[str] = None, psf_scale: Optional[float] = None) -> Method:
    """A classical baseline frozen at its tuned parameters; with ``psf_scale`` it deconvolves with
    the degradation's blur widened by that factor (a mis-specified PSF) instead of the true one."""
    baseline = tuned.build()
    settings: Dict[str, Any] = dict(tuned.params)
    restore: RestoreFn = baseline
    if psf_scale is not None:
        settings["psf_scale"] = psf_scale
        restore = lambda lr, degradation: baseline(lr, build_degradation(dict(degradation)).scaled(psf_scale).spec())  # noqa: E731
    return Method(
        name=name or tuned.name,
        restore=restore,
        kind="baseline",
        params=None,
        settings=settings,
        val_psnr=tuned.val_psnr,
    )
