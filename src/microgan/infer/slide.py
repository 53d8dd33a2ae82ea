"""Whole slides: one image larger than memory, restored tile by tile, by one process or many, resumably.

A slide (:mod:`microgan.data.slides`) is never decoded whole and its restoration is never held
whole. It is restored in the same exact tiles as an image in memory (:mod:`microgan.infer.tiles`:
the same canvas, reflected and padded by index; the same halos; the same kept centres), and the
blind model's data-consistency step in the same regions (:func:`microgan.core.fourier.solve_block`),
so the streamed result equals the in-memory one pixel for pixel. Four stages:

1. **Survey** (rank 0): one pass over the slide, band by band, for what the whole image decides:
   its normalization bounds (minimum, maximum; a histogram for the percentile normalizer) and the
   texture profile that picks the window the PSF is fitted on (:func:`~microgan.infer.consistency.window_from_texture`).
2. **Network**: the plan's tiles shared among the ranks; each tile reads its window of the slide,
   runs, and writes its kept centre into a raw canvas beside the output (:class:`~microgan.data.pyramid.RawCanvas`).
3. **Consistency** (blind models): rank 0 fits the PSF on the window from stage 1; then the
   :data:`BLOCK`-px blocks of regions are shared among the ranks, each read from the slide and the
   network canvas and written to a second canvas.
4. **Pyramid** (rank 0): the finished canvas becomes a tiled, pyramidal BigTIFF
   (:func:`~microgan.data.pyramid.write_pyramid`), and the work folder goes.

**Resumable.** Everything lives in ``OUTPUT.parts/`` beside the output: ``job.json`` (what the run
restores and how: the input's identity, the model's digest, the settings, the tile plan, the
survey and the fit) and one manifest per rank, a line appended and fsynced after every tile (once its
pixels are on disk), naming the tile, the CRC-32 of its pixels and the attempt that computed it.
``--resume`` checks the job is the same; rank 0 re-reads every listed tile from the canvas, keeps
those whose CRC matches and shares out the rest; before the consistency step and the pyramid it checks
every tile is listed: a ``kill -9`` costs at most the tiles in flight. The manifest of the
whole run (every tile once, with its attempt) is kept beside the output as ``OUTPUT.tiles.json``.

Memory: a tile's window of the slide, its pass (planned by :class:`~microgan.infer.planner.TilePlanner`
within ``max_memory``), a block's windows, a band of the survey and of the pyramid: never the image.
"""
from __future__ import annotations

import json
import math
import os
import time
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Tuple

import numpy as np

from microgan.core.atomic import atomic_write, atomic_write_json, stale_temporaries
from microgan.core.fourier import TILE, block_window, solve_block
from microgan.core.ranks import RankPosition
from microgan.data.normalize import Normalizer, PercentileNormalizer
from microgan.data.pyramid import RawCanvas, write_pyramid
from microgan.data.slides import SlideSource, source_identity
from microgan.errors import MicroGANError
from microgan.infer.consistency import (
    CONTEXT,
    FIT_WINDOW,
    TEXTURE_STEP,
    PsfFit,
    fit_psf,
    kernel,
    texture,
    thumbnail,
    window_from_texture,
)
from microgan.infer.pipeline import normalizer_for
from microgan.infer.tiles import Span, TilePlan

#: Side of the consistency step's blocks (a multiple of its regions' TILE): what one process solves
#: and writes at a time.
BLOCK = 4 * TILE
#: Rows of the slide the survey reads at a time (a multiple of the texture step).
SURVEY_ROWS = 512
#: Files of the work folder, and nothing else, are what ``--overwrite`` removes there.
WORK_FILES = ("job.json", "network.raw", "consistency.raw")
JOB_VERSION = 1

#: progress(stage, done, total, megapixels done): how a front end shows a slide's progress
Progress = Callable[[str, int, int, float], None]


def work_folder(dst: Path) -> Path:
    return dst.with_name(dst.name + ".parts")


def tile_manifest(dst: Path) -> Path:
    return dst.with_name(dst.name + ".tiles.json")


@dataclass
class SlideResult:
    """What one restoration of a slide did: tiles computed by this rank (per stage), tiles found done."""

    computed: Dict[str, int]
    reused: Dict[str, int]
    fit: Optional[PsfFit]
    seconds: float


# ---------------------------------------------------------------------------------------- survey


def survey(source: SlideSource, normalizer: Normalizer, fit_needed: bool, max_memory: Optional[int] = None) -> Dict[str, Any]:
    """The slide's ``low``/``high`` samples, its percentiles where the normalizer needs them, and (for
    the PSF fit) the texture row profile, JSON-ready. The profile is what
    :func:`~microgan.infer.consistency.fit_window` computes on the whole image, row for row (each
    band's last thumbnail row differenced with the next); it needs the normalization bounds, so it
    takes a second pass unless the sample type alone decides them (8-bit data, ``range``)."""
    low, high = math.inf, -math.inf
    percentile = isinstance(normalizer, PercentileNormalizer)
    if percentile and source.dtype.kind == "f":
        raise MicroGANError(f"{source.path}: the percentile normalizer needs every sample of a float slide at once: "
                            "use --normalize auto or range")
    hist = np.zeros(np.iinfo(source.dtype).max + 1, np.int64) if percentile else None
    fixed = _type_bounds(normalizer, source)
    profile: List[float] = []
    rows = _band_rows(source, max_memory)
    for band, own, r0 in _bands(source, rows):
        low, high = min(low, float(own.min())), max(high, float(own.max()))
        if source.dtype.kind == "f" and not np.isfinite(own).all():
            raise MicroGANError(f"{source.path}: float slide holds NaN or Inf values (rows {r0}-{r0 + len(own)})")
        if hist is not None:
            for k in range(0, len(own), 16):  # bincount counts through 8-byte integers: a few rows at a time
                hist += np.bincount(own[k : k + 16].reshape(-1), minlength=hist.size)
        if fit_needed and fixed is not None:
            profile.extend(_row_texture(band, own, normalizer, fixed))
    found: Dict[str, Any] = {"low": low, "high": high}
    if hist is not None:
        found["percentiles"] = _percentiles(hist, [normalizer.pmin, normalizer.pmax])  # type: ignore[attr-defined]
    if fit_needed and fixed is None:
        bounds = slide_bounds(normalizer, source, found)
        for band, own, _ in _bands(source, rows):
            profile.extend(_row_texture(band, own, normalizer, bounds))
    found["profile"] = profile
    return found


def _band_rows(source: SlideSource, max_memory: Optional[int]) -> int:
    """Rows the survey reads at a time: :data:`SURVEY_ROWS`, fewer where a band of that many rows would
    take more than a 32nd of the budget (a 100,000 px wide slide), a multiple of the texture step."""
    row = source.width * source.channels * source.dtype.itemsize
    fits = int((max_memory or 8 * 10**9) // 32 // max(row, 1))
    return max(TEXTURE_STEP, min(SURVEY_ROWS, fits) // TEXTURE_STEP * TEXTURE_STEP)


def _bands(source: SlideSource, rows: int = SURVEY_ROWS):
    """(band with one more thumbnail row below it, the band's own rows, first row), top to bottom."""
    h, w = source.height, source.width
    for r0 in range(0, h, rows):
        r1 = min(r0 + rows, h)
        band = source.read(r0, min(r1 + TEXTURE_STEP, h), 0, w)
        yield band, band[: r1 - r0], r0


def _row_texture(band: np.ndarray, own: np.ndarray, normalizer: Normalizer, bounds: Tuple[float, float]) -> List[float]:
    energy = texture(thumbnail(band, lambda a: normalizer.normalize(a, bounds)))
    return [float(v) for v in energy[: -(-len(own) // TEXTURE_STEP)].sum(axis=1)]


def _type_bounds(normalizer: Normalizer, source: SlideSource) -> Optional[Tuple[float, float]]:
    """The bounds when the sample type alone decides them (the same for the darkest and the
    brightest possible slide), else None."""
    if isinstance(normalizer, PercentileNormalizer) or source.dtype.kind == "f":
        return None
    top = float(np.iinfo(source.dtype).max)
    dark, bright = (normalizer.bounds(_probe_array(source, v, v)) for v in (0.0, top))
    return dark if dark == bright else None


def _percentiles(hist: np.ndarray, qs: List[float]) -> List[float]:
    """np.percentile's linear interpolation of integer samples, from their histogram."""
    cum = np.cumsum(hist)
    n = int(cum[-1])
    out = []
    for q in qs:
        pos = q / 100.0 * (n - 1)
        lo, frac = int(math.floor(pos)), pos - math.floor(pos)
        a = float(np.searchsorted(cum, lo + 1))
        b = float(np.searchsorted(cum, min(lo + 2, n)))
        # numpy's linear interpolation, term for term (its result's last bit decides bounds that must match)
        out.append(float(np.float64(b) - np.float64(b - a) * np.float64(1.0 - frac)) if frac >= 0.5
                   else float(np.float64(a) + np.float64(b - a) * np.float64(frac)))
    return out


def _probe_array(source: SlideSource, low: float, high: float) -> np.ndarray:
    """A 1x2 image with the slide's sample type, channels, minimum and maximum: all the auto and
    range normalizers read of an image to map it."""
    values = np.array([low, high], dtype=source.dtype).reshape(1, 2)
    return values if source.channels == 1 else np.repeat(values[..., None], source.channels, axis=2)


def slide_bounds(normalizer: Normalizer, source: SlideSource, found: Dict[str, Any]) -> Tuple[float, float]:
    if "percentiles" in found:
        return float(found["percentiles"][0]), float(found["percentiles"][1])
    return normalizer.bounds(_probe_array(source, found["low"], found["high"]))


def fit_region(source: SlideSource, normalizer: Normalizer, bounds: Tuple[float, float],
               profile: List[float]) -> Tuple[Tuple[slice, slice], Tuple[int, int]]:
    """The window the PSF is fitted on: :func:`~microgan.infer.consistency.fit_window` of the whole image."""
    h, w = source.height, source.width
    if h <= FIT_WINDOW + 2 * CONTEXT and w <= FIT_WINDOW + 2 * CONTEXT:
        return (slice(0, h), slice(0, w)), (0, 0)

    def columns(t0: int, t1: int) -> np.ndarray:
        r0, r1 = t0 * TEXTURE_STEP, min(t1 * TEXTURE_STEP + TEXTURE_STEP, h)
        band = source.read(r0, r1, 0, w)
        return texture(thumbnail(band, lambda a: normalizer.normalize(a, bounds)))[: t1 - t0].sum(axis=0)

    return window_from_texture((h, w), np.asarray(profile, np.float32), columns)


# ---------------------------------------------------------------------------------------- the job


def _settings(enhancer: Any, normalizer: Normalizer) -> Dict[str, Any]:
    """What decides the restored pixels besides the input: a resumed run must match all of it."""
    return {"model": enhancer.digest, "precision": enhancer.precision, "backend": enhancer.backend.candidate,
            "consistency": bool(enhancer.consistency), "self_ensemble": bool(enhancer.self_ensemble),
            "normalizer": normalizer.spec(), "halo": enhancer.halo, "edge_margin": enhancer.edge_margin,
            "per_channel": bool(enhancer.per_channel)}


def _spans(spans: List[Span]) -> List[List[int]]:
    return [[s.start, s.stop, s.keep_start, s.keep_stop] for s in spans]


def _plan_of(job: Dict[str, Any]) -> TilePlan:
    return TilePlan([Span(*s) for s in job["plan"]["rows"]], [Span(*s) for s in job["plan"]["cols"]])


def _consistency_blocks(h: int, w: int) -> List[Tuple[int, int, int, int]]:
    return [(r0, min(r0 + BLOCK, h), c0, min(c0 + BLOCK, w)) for r0 in range(0, h, BLOCK) for c0 in range(0, w, BLOCK)]


class Manifest:
    """One rank's finished tiles, one JSON line each (``[stage, index, crc32, attempt]``), appended and
    fsynced after the tile's pixels are: a kill leaves at most a torn last line, which is ignored (and
    that tile computed again). A new attempt starts the file afresh, atomically, from the entries
    rank 0 verified."""

    def __init__(self, folder: Path, rank: int) -> None:
        self.path = folder / f"tiles.rank{rank}.jsonl"
        self._file: Any = None

    def start(self, entries: Optional[List[List[Any]]]) -> None:
        """Begin this attempt's file with ``entries`` (None: go on with the file as it is)."""
        if entries is not None:
            text = "".join(json.dumps(e) + "\n" for e in entries)
            atomic_write(self.path, lambda tmp: Path(tmp).write_text(text, encoding="utf-8"))
        self._file = open(self.path, "a", encoding="utf-8")

    def add(self, stage: str, index: int, crc: int, attempt: int) -> None:
        self._file.write(json.dumps([stage, index, crc, attempt]) + "\n")
        self._file.flush()
        os.fsync(self._file.fileno())

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None

    @staticmethod
    def load_all(folder: Path) -> Dict[str, Dict[int, List[int]]]:
        """Every rank's entries (any world size an earlier attempt had); for a tile listed twice, the
        latest attempt's."""
        merged: Dict[str, Dict[int, List[int]]] = {"network": {}, "consistency": {}}
        for path in sorted(folder.glob("tiles.rank*.jsonl")):
            try:
                lines = path.read_text(encoding="utf-8").splitlines()
            except OSError:
                continue
            for line in lines:
                try:
                    stage, index, crc, attempt = json.loads(line)
                    entries = merged[stage]
                except (ValueError, TypeError, KeyError):
                    continue  # a torn last line: that tile is computed again
                if int(index) not in entries or int(attempt) >= entries[int(index)][1]:
                    entries[int(index)] = [int(crc), int(attempt)]
        return merged


def _crc(block: np.ndarray) -> int:
    return zlib.crc32(np.ascontiguousarray(block).tobytes())


def _kept(plan: TilePlan, index: int, top: int, left: int, h: int, w: int) -> Optional[Tuple[int, int, int, int]]:
    """The image rows and columns (r0, r1, c0, c1) tile ``index`` of ``plan`` keeps, None if only padding."""
    r, c = plan.rows[index // len(plan.cols)], plan.cols[index % len(plan.cols)]
    r0, r1 = max(r.keep_start, top) - top, min(r.keep_stop, top + h) - top
    c0, c1 = max(c.keep_start, left) - left, min(c.keep_stop, left + w) - left
    return (r0, r1, c0, c1) if r0 < r1 and c0 < c1 else None


# ---------------------------------------------------------------------------------------- restore


def restore_slide(enhancer: Any, source: SlideSource, dst: Path, ranks: RankPosition, *, resume: bool = False,
                  overwrite: bool = False, progress: Optional[Progress] = None,
                  stop_after: Optional[int] = None) -> SlideResult:
    """Restore ``source`` into the pyramidal BigTIFF (or OME-Zarr) ``dst`` with every rank of ``ranks``
    taking part (see the module docstring). ``resume``: go on from ``dst.parts``; ``overwrite``: start
    again over a partial run (and replace ``dst``). ``stop_after``: raise after this many tiles of this
    rank (tests of an interrupted run). Every rank must call it; every rank raises the same error."""
    started = time.perf_counter()
    if getattr(enhancer, "takes_psf", False):
        raise MicroGANError(f"{source.path}: a model told the PSF does not restore slides yet: use a blind model "
                            "(the default) for slides")
    if enhancer.tile is None or (enhancer.tile == "auto" and enhancer.max_memory is None):
        raise MicroGANError(f"{source.path}: a slide is restored in tiles within a memory budget: give --max-memory "
                            "(not off) or --tile N (not off)")
    enhancer.check(_probe_array(source, 0, 0))  # an RGB slide on a gray model, a sample type it cannot take
    folder = work_folder(dst)
    base = enhancer.normalizer
    normalizer = normalizer_for(base, source)  # auto with the top value the file declares, as for files
    enhancer.normalizer = normalizer
    try:
        # rank 0's backend on every rank: a slide's tiles from one runtime, as one process would compute them
        enhancer.use_backend(_agreed(lambda: enhancer.backend.candidate, ranks))
        job = _agreed(lambda: _start(enhancer, source, dst, folder, normalizer, resume, overwrite), ranks)
        result = _run(enhancer, source, dst, folder, job, ranks, progress, stop_after, overwrite)
    finally:
        enhancer.normalizer = base
    result.seconds = time.perf_counter() - started
    return result


def _agreed(work: Callable[[], Any], ranks: RankPosition) -> Any:
    """Rank 0's ``work()`` on every rank; its error (one of ours, or the file system's) raised on every rank."""
    answer = None
    if ranks.is_main:
        try:
            answer = (None, work())
        except MicroGANError as exc:
            answer = (str(exc), None)
        except (OSError, ValueError) as exc:  # a full disk, an unwritable folder: one line on every rank
            answer = (f"{type(exc).__name__}: {exc}", None)
    error, value = ranks.broadcast(answer)
    if error is not None:
        raise MicroGANError(error)
    return value


def _start(enhancer: Any, source: SlideSource, dst: Path, folder: Path, normalizer: Normalizer,
           resume: bool, overwrite: bool) -> Dict[str, Any]:
    """Rank 0: the job to run, new or resumed; its files in place. Nothing is written before the
    survey has passed (a refused slide leaves no work folder)."""
    settings = _settings(enhancer, normalizer)
    identity = json.loads(source_identity(source.path))
    job_path = folder / "job.json"
    if folder.exists():
        if resume and job_path.is_file():
            job = json.loads(job_path.read_text())
            if job.get("version") != JOB_VERSION or job.get("source") != identity:
                raise MicroGANError(f"{folder}: a partial run of another input (or of this one before it changed): "
                                    "--overwrite to start again")
            if job.get("settings") != settings:
                diff = sorted(k for k in settings if job["settings"].get(k) != settings[k])
                raise MicroGANError(f"{folder}: the partial run used other settings ({', '.join(diff)}): resume "
                                    "with the same model and options, or --overwrite to start again")
            job["attempt"] = int(job["attempt"]) + 1
            atomic_write_json(job_path, job)
            return job
        if job_path.is_file() and not overwrite:
            raise MicroGANError(f"{folder}: a partial restoration of this slide is there: --resume to finish it, "
                                "--overwrite to start again")
        _remove_work(folder)  # ours, killed before its job was written, or given up with --overwrite
    found = survey(source, normalizer, enhancer.consistency, enhancer.max_memory)
    bounds = slide_bounds(normalizer, source, found)
    region = margins = None
    if enhancer.consistency:
        region, margins = fit_region(source, normalizer, bounds, found["profile"])
    rows, top, cols, left = enhancer.canvas(source.height, source.width)
    planes = 3 if (enhancer.channels == 1 and source.channels == 3) else 1
    plan = enhancer.plan(len(rows), len(cols), planes, 0)
    window = 2 * plan.tile_pixels * source.channels * source.dtype.itemsize  # a tile's window of the slide, in and out
    plan = enhancer.plan(len(rows), len(cols), planes, window)
    job = {"version": JOB_VERSION, "source": identity, "settings": settings, "attempt": 1,
           "shape": list(source.shape), "dtype": source.dtype.str, "bounds": list(bounds),
           "flat": found["low"] == found["high"], "plan": {"rows": _spans(plan.rows), "cols": _spans(plan.cols)},
           "fit_region": None if region is None else [region[0].start, region[0].stop, region[1].start, region[1].stop],
           "fit_margins": None if margins is None else list(margins), "fit": None}
    folder.mkdir(parents=True, exist_ok=True)
    RawCanvas(folder / "network.raw", source.shape, source.dtype, create=True).close()
    atomic_write_json(job_path, job)
    return job


def _remove_work(folder: Path) -> None:
    """Delete what a partial run of ours left (its known files, manifests, scratch levels and the
    temporaries a kill left mid-write), then the folder; refuse if anything else is in it."""
    if not folder.is_dir():
        return
    ours = [folder / name for name in WORK_FILES] + sorted(folder.glob("tiles.rank*.jsonl"))
    for path in ours:
        for stale in stale_temporaries(path):
            stale.unlink(missing_ok=True)
        path.unlink(missing_ok=True)
    for path in folder.glob("*.level*.raw"):
        path.unlink()
    try:
        folder.rmdir()
    except OSError:
        raise MicroGANError(f"{folder}: holds files this run did not write: move them, then run again") from None


def _verified(path: Path, source: SlideSource, entries: Dict[int, List[int]],
              regions: Callable[[int], Optional[Tuple[int, int, int, int]]]) -> Dict[int, List[int]]:
    """The manifest entries whose pixels on the canvas at ``path`` still have the CRC recorded."""
    if not entries or not path.is_file():
        return {}
    kept = {}
    with RawCanvas(path, source.shape, source.dtype) as canvas:
        for index, (crc, attempt) in entries.items():
            where = regions(index)
            if where is not None and _crc(canvas.read(*where)) == crc:
                kept[index] = [crc, attempt]
    return kept


def _run(enhancer: Any, source: SlideSource, dst: Path, folder: Path, job: Dict[str, Any], ranks: RankPosition,
         progress: Optional[Progress], stop_after: Optional[int], overwrite: bool) -> SlideResult:
    h, w = source.height, source.width
    bounds = (float(job["bounds"][0]), float(job["bounds"][1]))
    attempt = int(job["attempt"])
    plan = _plan_of(job)
    rows, top, cols, left = enhancer.canvas(h, w)
    regions = lambda i: _kept(plan, i, top, left, h, w)  # noqa: E731
    blocks = _consistency_blocks(h, w)
    wanted = {"network": [i for i in range(len(plan)) if regions(i) is not None], "consistency": list(range(len(blocks)))}

    def check_done() -> Dict[str, Dict[int, List[int]]]:
        """Rank 0, while no rank writes: what earlier attempts finished, re-read and verified, kept in
        rank 0's manifest alone (the other ranks start theirs empty)."""
        done = Manifest.load_all(folder)
        verified = {"network": _verified(folder / "network.raw", source, done["network"], regions),
                    "consistency": _verified(folder / "consistency.raw", source, done["consistency"], lambda i: blocks[i])}
        for path in folder.glob("tiles.rank*.jsonl"):
            path.unlink()
        kept = Manifest(folder, 0)
        kept.start([[stage, i, *v] for stage, entries in verified.items() for i, v in sorted(entries.items())])
        kept.close()
        return verified

    finished = _agreed(check_done, ranks)
    manifest = Manifest(folder, ranks.rank)
    manifest.start(None if ranks.is_main else [])  # rank 0's holds what check_done verified
    computed = {"network": 0, "consistency": 0}
    reused = {stage: len(entries) for stage, entries in finished.items()}
    budget = [stop_after]

    def tick() -> None:
        if budget[0] is not None:
            if budget[0] <= 0:
                raise MicroGANError("stopped on request (stop_after)")
            budget[0] -= 1

    def complete(stage: str) -> None:
        """Rank 0: every tile of ``stage`` is listed (no rank skipped one), before what reads them."""
        missing = set(wanted[stage]) - set(Manifest.load_all(folder)[stage])
        if missing:
            raise MicroGANError(f"{folder}: {len(missing)} {stage} tiles were not written (first: {min(missing)}): "
                                "--resume to compute them")

    try:
        # stage 2: the network's tiles
        with RawCanvas(folder / "network.raw", source.shape, source.dtype) as network:
            todo = [i for i in wanted["network"] if i not in finished["network"]]

            def tile(index: int) -> Tuple[int, int, np.ndarray]:
                r0, _, c0, _ = regions(index)
                return r0, c0, _network_tile(enhancer, source, plan, index, rows, top, cols, left, bounds, job["flat"])

            computed["network"] = _compute("network", todo[ranks.rank :: ranks.world_size], tile, network, manifest,
                                           attempt, progress, tick)
        ranks.barrier()
        _agreed(lambda: complete("network"), ranks)

        # stage 3: the consistency step (a blind model's), rank 0 fitting the PSF first
        fit = None
        final = folder / "network.raw"
        if enhancer.consistency and not job["flat"]:
            fit = _fit(enhancer, source, folder, job, ranks, bounds)
            if fit.informative:
                final = folder / "consistency.raw"

                def canvas() -> None:
                    if not final.exists():
                        RawCanvas(final, source.shape, source.dtype, create=True).close()

                _agreed(canvas, ranks)
                computed["consistency"] = _consistency(enhancer, source, folder, fit, bounds, ranks, manifest, attempt,
                                                       finished["consistency"], progress, tick)
                ranks.barrier()
                _agreed(lambda: complete("consistency"), ranks)
    finally:
        manifest.close()

    # stage 4: the pyramid, by rank 0 (its errors raised on every rank)
    def pyramid() -> None:
        if dst.exists() and not overwrite:
            raise MicroGANError(f"{dst}: appeared while the slide was restored: --overwrite to replace it")
        with RawCanvas(final, source.shape, source.dtype) as canvas:
            if progress:
                progress("pyramid", 0, 1, 0.0)
            write_pyramid(dst, canvas, source.pixel_size_um, overwrite=True)
        _keep_manifest(dst, folder, job, fit)
        _remove_work(folder)

    _agreed(pyramid, ranks)
    return SlideResult(computed, reused, fit, 0.0)


def _network_tile(enhancer: Any, source: SlideSource, plan: TilePlan, index: int, rows: np.ndarray, top: int,
                  cols: np.ndarray, left: int, bounds: Tuple[float, float], flat: bool) -> np.ndarray:
    """Tile ``index`` of ``plan`` run exactly as the in-memory pass runs it (``Enhancer.run_tiles`` on the
    same canvas indices, rebased onto the tile's window of the slide); its kept part, native samples."""
    r, c = plan.rows[index // len(plan.cols)], plan.cols[index % len(plan.cols)]
    tile_rows, tile_cols = rows[r.start : r.stop], cols[c.start : c.stop]
    y0, y1 = int(tile_rows.min()), int(tile_rows.max()) + 1
    x0, x1 = int(tile_cols.min()), int(tile_cols.max()) + 1
    window = source.read(y0, y1, x0, x1)
    h, w = source.height, source.width
    k0, k1 = max(r.keep_start, top) - top, min(r.keep_stop, top + h) - top
    j0, j1 = max(c.keep_start, left) - left, min(c.keep_stop, left + w) - left
    if flat:  # a flat field is its own restoration (Enhancer.enhance)
        return window[k0 - y0 : k1 - y0, j0 - x0 : j1 - x0].copy()
    out = np.empty(window.shape, window.dtype)
    one = TilePlan([r], [c])
    enhancer.run_tiles([window], one, [bounds], [out], rows - y0, top + y0, cols - x0, left + x0)
    return out[k0 - y0 : k1 - y0, j0 - x0 : j1 - x0]


def _fit(enhancer: Any, source: SlideSource, folder: Path, job: Dict[str, Any], ranks: RankPosition,
         bounds: Tuple[float, float]) -> PsfFit:
    """The PSF fitted on the job's window (rank 0, once per job; kept in job.json), on every rank."""

    def fitted() -> Dict[str, Any]:
        if job.get("fit"):
            return job["fit"]
        a, b, c, d = job["fit_region"]
        to_unit = lambda v: enhancer.normalizer.normalize(v, bounds)  # noqa: E731
        with RawCanvas(folder / "network.raw", source.shape, source.dtype) as network:
            restored = network.read(a, b, c, d)
        found = fit_psf(to_unit(restored), to_unit(source.read(a, b, c, d)), tuple(job["fit_margins"]))
        job["fit"] = {"kind": found.kind, "width": found.width, "residual": found.residual, "informative": found.informative}
        atomic_write_json(folder / "job.json", job)
        return job["fit"]

    doc = _agreed(fitted, ranks)
    job["fit"] = doc
    return PsfFit(doc["kind"], doc["width"], kernel(doc["kind"], doc["width"]), doc["residual"], informative=doc["informative"])


def _compute(stage: str, mine: List[int], work: Callable[[int], Tuple[int, int, np.ndarray]], canvas: RawCanvas,
             manifest: Manifest, attempt: int, progress: Optional[Progress], tick: Callable[[], None]) -> int:
    """This rank's tiles of ``stage``: each computed (``work(index)`` -> first row, first column, pixels),
    written, synced, then listed in the manifest (in that order: a listed tile is on disk)."""
    pixels = 0.0
    for n, index in enumerate(mine):
        tick()
        r0, c0, block = work(index)
        canvas.write(r0, c0, block)
        canvas.sync()
        manifest.add(stage, index, _crc(block), attempt)
        pixels += block.shape[0] * block.shape[1] / 1e6
        if progress:
            progress(stage, n + 1, len(mine), pixels)
    return len(mine)


def _consistency(enhancer: Any, source: SlideSource, folder: Path, fit: PsfFit, bounds: Tuple[float, float],
                 ranks: RankPosition, manifest: Manifest, attempt: int, finished: Dict[int, List[int]],
                 progress: Optional[Progress], tick: Callable[[], None]) -> int:
    """Stage 3 on this rank's share of the blocks not ``finished``: the blocks computed."""
    h, w = source.height, source.width
    norm = enhancer.normalizer
    clip = (lambda v: np.clip(v, 0, 1, out=v)) if norm.bounded else (lambda v: v)
    to_unit = lambda a: norm.normalize(a, bounds)  # noqa: E731
    from_unit = lambda v, like: norm.denormalize(clip(v), like, bounds).astype(like.dtype, copy=False)  # noqa: E731
    blocks = _consistency_blocks(h, w)
    mine = [i for i in range(len(blocks)) if i not in finished][ranks.rank :: ranks.world_size]
    with RawCanvas(folder / "consistency.raw", source.shape, source.dtype) as out, \
            RawCanvas(folder / "network.raw", source.shape, source.dtype) as network:

        def solved(index: int) -> Tuple[int, int, np.ndarray]:
            block = blocks[index]
            a, b, c, d = block_window(block, (h, w), fit.kernel)
            y, prior = source.read(a, b, c, d), network.read(a, b, c, d)
            return block[0], block[2], solve_block(y, fit.kernel, fit.weight, prior, (a, c), (h, w), block, to_unit, from_unit)

        return _compute("consistency", mine, solved, out, manifest, attempt, progress, tick)


def _keep_manifest(dst: Path, folder: Path, job: Dict[str, Any], fit: Optional[PsfFit]) -> None:
    """``OUTPUT.tiles.json``: every tile of the run once, with the attempt that computed it."""
    merged = Manifest.load_all(folder)
    doc = {"source": job["source"], "settings": job["settings"], "attempts": job["attempt"],
           "shape": job["shape"], "fit": job.get("fit"),
           "tiles": {stage: {str(k): {"crc32": v[0], "attempt": v[1]} for k, v in sorted(entries.items())}
                     for stage, entries in merged.items()}}
    atomic_write_json(tile_manifest(dst), doc)
