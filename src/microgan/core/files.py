"""File helpers shared by data preparation, restoration and classification."""
from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Union

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
