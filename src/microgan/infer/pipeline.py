"""Restore image files with reading, computing and writing overlapped.

While the main thread restores one batch of files, one thread decodes the next batch and another
encodes and writes the previous one, so on a folder of fields the model is what the run waits
for. Decoders, encoders and both backends release the GIL, so the threads really overlap.

Memory stays bounded: batches are cut by count and by decoded bytes (:func:`make_batches`), at
most three are in flight (reading, restoring, writing), and the restoration plans its tiles
with the other two held back (``reserve``).

A file that cannot be read, restored or written is reported and skipped; the rest of the batch
goes on. Outputs are written atomically (``data.io.write_image``), so an interrupted run leaves
each output either complete or absent, and a rerun skips the complete ones.
"""
from __future__ import annotations

from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, List, Optional, Sequence, Tuple


from microgan.data.io import DEFAULT_MAX_PIXELS, Image, probe, read_image, write_image
from microgan.data.normalize import AutoNormalizer, Normalizer
from microgan.errors import ImageReadError, MicroGANError

#: Reports one finished file: (input, None) when written, (input, reason) when it failed.
Report = Callable[[Path, Optional[str]], None]
#: Reports a note on reading a file (an alpha channel dropped, a palette expanded): (input, note).
Note = Callable[[Path, str], None]


def failure_reason(exc: BaseException, src: Path) -> str:
    """One line for a failed file: our errors as they are, anything else with its type (a decoder
    or encoder bug must cost one file, not the batch, and still say what it was)."""
    text = str(exc).removeprefix(f"{src}: ")
    return text if isinstance(exc, MicroGANError) else f"{type(exc).__name__}: {text}"


@dataclass(frozen=True)
class Job:
    """One file to restore, with its size as its header declares it (0 when unknown)."""

    src: Path
    dst: Path
    nbytes: int = 0  # decoded
    pixels: int = 0


def make_job(src: Path, dst: Path) -> Job:
    """A job sized from the file's header (sizes 0 when it cannot be read: reading the file
    will then report why)."""
    try:
        info = probe(src)
    except (ImageReadError, MicroGANError, OSError):
        return Job(src, dst)
    channels = 3 if info.palette else min(info.channels, 3)
    sample = 1 if info.bit_depth <= 8 else 2 if info.bit_depth <= 16 else 4
    pixels = info.width * info.height
    if pixels > DEFAULT_MAX_PIXELS:  # refused unread: it must not hold memory back from its neighbours
        return Job(src, dst)
    return Job(src, dst, pixels * channels * sample, pixels)


def make_batches(jobs: Sequence[Job], max_files: int, max_bytes: int) -> List[List[Job]]:
    """Consecutive jobs in batches of at most ``max_files`` files and ``max_bytes`` decoded bytes
    (a file larger than that alone)."""
    batches: List[List[Job]] = []
    size = 0
    for job in jobs:
        if not batches or len(batches[-1]) >= max_files or size + job.nbytes > max_bytes:
            batches.append([])
            size = 0
        batches[-1].append(job)
        size += job.nbytes
    return batches


def normalizer_for(base: Normalizer, image: Any) -> Normalizer:
    """The normalizer an image gets: ``auto`` with the top value its file declares (a 12-bit camera's
    TIFF: 4095, ``Image.declared_top``, or a slide's, ``SlideSource.declared_top``), else ``base`` itself."""
    if isinstance(base, AutoNormalizer) and base.top is None and image.declared_top is not None:
        return AutoNormalizer(top=image.declared_top)
    return base


def _read(batch: Sequence[Job], enhancer: Any, base: Normalizer) -> Tuple[list, list, list]:
    """(ready, failed, notes) of one batch. A file whose array lacks part of it (other pages of a
    stack, other samples) is refused: its restored output would silently lack them too. How the
    enhancer's normalizer maps an image's intensities, where that is not the type's range, is a note."""
    ready, failed, notes = [], [], []
    for job in batch:
        try:
            image = read_image(job.src)
            if image.dropped:
                raise MicroGANError(f"{'; '.join(image.dropped)}: split the file into single images")
            enhancer.check(image.array)
            ready.append((job, image))
            notes.extend((job.src, text) for text in image.notes)
            mapping = normalizer_for(base, image).note(image.array)
            if mapping:
                notes.append((job.src, mapping))
        except Exception as exc:  # noqa: BLE001 - one bad file is reported, the batch goes on
            failed.append((job.src, failure_reason(exc, job.src)))
    return ready, failed, notes


def _write(ready: Sequence[Tuple[Job, Image]], outputs: Sequence, overwrite: bool) -> list:
    results = []
    for (job, image), output in zip(ready, outputs):
        if isinstance(output, str):
            continue  # failed while restoring: already reported
        try:
            write_image(job.dst, output, like=image, overwrite=overwrite)
            results.append((job.src, None))
        except Exception as exc:  # noqa: BLE001 - one unwritable file is reported, the rest go on
            results.append((job.src, failure_reason(exc, job.dst)))
    return results


def _restore(enhancer, ready: Sequence[Tuple[Job, Image]], reserve: int, base: Normalizer) -> Tuple[list, list]:
    """(outputs in order, a string where that file failed; the data-consistency fit of each, or
    None). Files whose intensities map differently (a declared bit depth) are restored in groups,
    each under its normalizer."""
    outputs: list = [None] * len(ready)
    fits: list = [None] * len(ready)
    groups: dict = {}
    for i, (_, image) in enumerate(ready):
        norm = normalizer_for(base, image)
        groups.setdefault(repr(norm.spec()), (norm, []))[1].append(i)
    for norm, members in groups.values():
        enhancer.normalizer = norm
        try:
            done, fitted = _restore_group(enhancer, [ready[i] for i in members], reserve)
        finally:
            enhancer.normalizer = base
        for i, output, fit in zip(members, done, fitted):
            outputs[i], fits[i] = output, fit
    return outputs, fits


def _restore_group(enhancer, ready: Sequence[Tuple[Job, Image]], reserve: int) -> Tuple[list, list]:
    """:func:`_restore` for files of one normalizer. A batch that fails as a whole is retried one
    file at a time, to name the culprit and save the others."""
    arrays = [image.array for _, image in ready]
    try:
        outputs = list(enhancer.enhance_batch(arrays, reserve=reserve))
        fits = list(getattr(enhancer, "fits", []))
        return outputs, fits if len(fits) == len(outputs) else [None] * len(outputs)
    except (MicroGANError, RuntimeError, ValueError):
        pass
    outputs: list = []
    fits: list = []
    for job, image in ready:
        try:
            outputs.append(enhancer.enhance(image.array, reserve=reserve))
            fits.append(next(iter(getattr(enhancer, "fits", [])), None))
        except Exception as exc:  # noqa: BLE001 - names the culprit, saves the others
            outputs.append(failure_reason(exc, job.src))
            fits.append(None)
    return outputs, fits


def restore_files(enhancer, jobs: Sequence[Job], report: Report, *, batch: int = 8,
                  max_bytes: int = 64 * 2**20, overwrite: bool = False, note: Optional[Note] = None,
                  fitted: Optional[Callable[[Path, Any], None]] = None) -> None:
    """Restore ``jobs`` with ``enhancer``, calling ``report`` once per job, ``note`` for each
    reading note and ``fitted`` with each restored file's data-consistency fit (main thread)."""
    batches = make_batches(jobs, batch, max_bytes)
    if not batches:
        return

    def held(index: int) -> int:  # decoded bytes of a neighbouring batch (x2: codec temporaries)
        return 2 * sum(job.nbytes for job in batches[index]) if 0 <= index < len(batches) else 0

    base = enhancer.normalizer  # read by the reading thread while restoring swaps the enhancer's
    with ThreadPoolExecutor(1, "microgan-read") as reader, ThreadPoolExecutor(1, "microgan-write") as writer:
        reading: Optional[Future] = reader.submit(_read, batches[0], enhancer, base)
        writing: Optional[Future] = None
        for k in range(len(batches)):
            ready, failed, notes = reading.result()  # type: ignore[union-attr]
            reading = reader.submit(_read, batches[k + 1], enhancer, base) if k + 1 < len(batches) else None
            for src, text in notes if note is not None else ():
                note(src, text)
            for src, reason in failed:
                report(src, reason)
            outputs, fits = _restore(enhancer, ready, held(k - 1) + held(k + 1), base) if ready else ([], [])
            for (job, _), output, fit in zip(ready, outputs, fits):
                if isinstance(output, str):
                    report(job.src, output)
                elif fit is not None and fitted is not None:
                    fitted(job.src, fit)
            if writing is not None:
                for src, reason in writing.result():
                    report(src, reason)
            writing = writer.submit(_write, ready, outputs, overwrite)
        for src, reason in writing.result():  # type: ignore[union-attr]
            report(src, reason)
