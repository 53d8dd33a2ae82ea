"""File helpers shared by data preparation, restoration and classification."""
from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Iterable, Union

#: Image files MicroGAN reads from folders (lower-case suffixes).
IMAGE_SUFFIXES = (".png", ".tif", ".tiff", ".jpg", ".jpeg")


def file_digest(path: Union[str, Path], algorithm: str = "sha256") -> str:
    """Hex digest of a file's bytes, read in 1 MiB blocks (archives and checkpoints can be large)."""
    digest = hashlib.new(algorithm)
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def user_cache_dir(*parts: str) -> Path:
    """``$XDG_CACHE_HOME/microgan/...`` (default ``~/.cache``): what MicroGAN derives once per
    machine and keeps between runs (ONNX graphs of a model, measured backend speeds)."""
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base).joinpath("microgan", *parts)


def check_writable(path: Union[str, Path], what: str, folder: bool = False) -> None:
    """Refuse, before any work, an output place that cannot be written: ``path`` itself when it
    exists (a folder for ``folder``, else a file), or the nearest folder above it that exists (where
    it would be made). Probed by creating and removing a temporary file there (permission bits say
    nothing for root, nor for read-only or virtual file systems). Hours of evaluation must not end in
    "No such file"."""
    import tempfile

    from microgan.errors import MicroGANError

    path = Path(path)
    if path.exists() and folder != path.is_dir():
        raise MicroGANError(f"{path}: exists and is not a folder ({what} names a folder)" if folder
                            else f"{path}: is a folder ({what} names a file)")
    place = path if (folder and path.is_dir()) else path.parent
    while not place.exists() and place != place.parent:
        place = place.parent
    if not place.is_dir():
        raise MicroGANError(f"{path}: {what} cannot be made: {place} is not a folder")
    try:
        handle, probe = tempfile.mkstemp(prefix=".microgan-probe-", dir=place)
        os.close(handle)
        os.unlink(probe)
    except OSError as exc:
        raise MicroGANError(f"{path}: {what} cannot be written in {place} ({exc.strerror or exc})") from None


def remove_files(root: Path, files: Iterable[Path]) -> None:
    """Delete ``files`` (absent ones ignored), then the folders under ``root`` that this leaves
    empty (``root`` itself kept): how a command takes back exactly what it wrote, never a folder's
    other contents."""
    files = list(files)
    for path in files:
        if path.is_file() or path.is_symlink():
            path.unlink()
    for folder in sorted({p.parent for p in files}, key=lambda p: -len(p.parts)):
        while folder != root and folder.is_dir() and not any(folder.iterdir()):
            folder.rmdir()
            folder = folder.parent
