"""Atomic file writes: a crash leaves the old file or the new one, never half of one.

Used for everything MicroGAN writes that a user keeps (images, manifests, checkpoints). The data go
to a temporary file in the target's folder (so the final rename stays on one file system and is
atomic), are fsynced, and the file gets the permissions a plain ``open`` would give (mkstemp's 0600
would hide checkpoints and images from the rest of a lab group), then replace the target.
"""
from __future__ import annotations

import glob
import json
import os
import tempfile
from pathlib import Path
from typing import Any, Callable, List, Mapping, Union

PathLike = Union[str, Path]


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _temporary_prefix(path: Path) -> str:
    return f".{path.name}."


def stale_temporaries(path: PathLike) -> List[Path]:
    """Temporary files an interrupted :func:`atomic_write` of ``path`` left behind (a kill -9
    between creating and renaming one). Only call this when no other process is writing ``path``."""
    path = Path(path)
    if not path.parent.is_dir():
        return []
    return sorted(path.parent.glob(f"{glob.escape(_temporary_prefix(path))}*.tmp"))


def atomic_write(path: PathLike, write: Callable[[str], None]) -> Path:
    """Call ``write(tmp_path)`` to fill a temporary file, then move it onto ``path``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=_temporary_prefix(path), suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        write(tmp)
        with open(tmp, "rb+") as fh:
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def atomic_write_bytes(path: PathLike, data: bytes) -> Path:
    return atomic_write(path, lambda tmp: Path(tmp).write_bytes(data))


def atomic_write_json(path: PathLike, doc: Mapping[str, Any]) -> Path:
    """Indented JSON, strict: NaN or infinity raise ValueError instead of writing invalid JSON."""
    text = json.dumps(doc, indent=2, allow_nan=False) + "\n"
    return atomic_write(path, lambda tmp: Path(tmp).write_text(text, encoding="utf-8"))
