"""Fetch a data set archive, verify its SHA-256 before anything is unpacked, extract what is needed.

Used by the sources that can download themselves (BCCD, Chula RBC-12). The checksum is required:
unverified data must never end up in a training set. The archive is downloaded and unpacked inside a
temporary folder under ``dest`` and only moved into place once complete, so an interrupted download
leaves nothing half-written behind; members that would land outside the output are ignored.
"""
from __future__ import annotations

import os
import re
import shutil
import tempfile
import urllib.request
import zipfile
from pathlib import Path, PurePosixPath
from typing import Callable, Optional, Tuple

from microgan.core.files import file_digest
from microgan.errors import MicroGANError

#: Maps an archive member's path parts to its path parts under the output folder, or None to skip it.
Select = Callable[[Tuple[str, ...]], Optional[Tuple[str, ...]]]


def check_sha256(sha256: Optional[str], what: str) -> str:
    if not re.fullmatch(r"[0-9a-fA-F]{64}", sha256 or ""):
        raise MicroGANError(f"{what}: the download needs the archive's 64-hex-digit SHA-256, got {sha256!r}")
    return str(sha256).lower()


def extract(archive: Path, out: Path, select: Select) -> int:
    """Unpack the selected members of a zip archive under ``out``; returns how many were written."""
    written = 0
    with zipfile.ZipFile(archive) as zf:
        for member in zf.infolist():
            parts = PurePosixPath(member.filename).parts
            if member.is_dir() or ".." in parts or not parts:
                continue
            relative = select(parts)
            if not relative or ".." in relative:
                continue
            target = out.joinpath(*relative)
            target.parent.mkdir(parents=True, exist_ok=True)
            with zf.open(member) as src, open(target, "wb") as dst:
                shutil.copyfileobj(src, dst)
            written += 1
    return written


def download_archive(url: str, sha256: str, dest: Path, select: Select, name: str) -> Path:
    """Download ``url``, verify ``sha256``, extract the selected members and move them to
    ``dest/name`` (which must not exist yet). Returns ``dest/name``."""
    expected = check_sha256(sha256, url)
    dest.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=dest) as tmp:
        archive = Path(tmp) / "archive.zip"
        try:
            with urllib.request.urlopen(url) as response, open(archive, "wb") as fh:
                shutil.copyfileobj(response, fh)
        except OSError as exc:
            raise MicroGANError(f"{url}: download failed ({exc})") from None
        actual = file_digest(archive)
        if actual != expected:
            raise MicroGANError(f"{url}: SHA-256 {actual} does not match the pinned {expected}")
        unpacked = Path(tmp) / "unpacked"
        try:
            count = extract(archive, unpacked, select)
        except zipfile.BadZipFile as exc:
            raise MicroGANError(f"{url}: not a zip archive ({exc})") from None
        if not count:
            raise MicroGANError(f"{url}: the archive holds none of the expected files")
        os.replace(unpacked, dest / name)
    return dest / name
