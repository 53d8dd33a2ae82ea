"""What a command wrote into its output folder, so that ``--overwrite`` removes exactly that.

A folder a user points a command at may hold their own files (a ``labels.csv``, notes, an earlier
run of something else). ``--overwrite`` must never reach them: a command that owns a folder lists
every file it wrote in a ledger beside them (:data:`LEDGER_NAME`, written atomically after each
stage, so a killed run leaves a ledger of what it had finished). The next run of that command
refuses an earlier run's output unless told ``--overwrite``, and then deletes the files the ledger
lists and the folders left empty by that, nothing else. Files it finds at its own output names
that no ledger lists are someone else's: they are named in the refusal, and with ``--overwrite``
replaced where the command writes over them, never deleted as a folder.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Iterable, List, Set

from microgan.core.atomic import atomic_write_json
from microgan.core.files import remove_files
from microgan.errors import MicroGANError

LEDGER_NAME = ".microgan-outputs.json"


def _files(folder: Path, names: Iterable[str]) -> Set[Path]:
    found: Set[Path] = set()
    for name in names:
        path = folder / name
        if path.is_file() or path.is_symlink():
            found.add(path)
        elif path.is_dir():
            found.update(p for p in path.rglob("*") if p.is_file() or p.is_symlink())
    return found


class Ledger:
    """The files ``command`` wrote under ``folder``'s ``names`` (files or folders) in this run."""

    def __init__(self, folder: Path, command: str, names: Iterable[str]) -> None:
        self.folder = Path(folder)
        self.command = command
        self.names = tuple(names)
        self.path = self.folder / LEDGER_NAME
        self._before: Set[Path] = set()

    def listed(self) -> List[Path]:
        """The files an earlier run of this command listed (absent ones left out)."""
        if not self.path.is_file():
            return []
        try:
            entry = json.loads(self.path.read_text(encoding="utf-8"))
            files = [self.folder / f for f in entry["files"] if isinstance(f, str)]
        except (OSError, ValueError, KeyError, TypeError):
            raise MicroGANError(f"{self.path}: not a readable MicroGAN output list; remove it or choose another "
                                "folder") from None
        root = self.folder.resolve()
        kept = []
        for path in files:  # a ledger is data, not truth: only files inside the folder, under this command's names
            try:
                inside = path.resolve().relative_to(root)
            except ValueError:
                continue
            if inside.parts and inside.parts[0] in self.names and (path.is_file() or path.is_symlink()):
                kept.append(root / inside)
        return kept

    def claim(self, overwrite: bool) -> None:
        """Refuse earlier output unless ``overwrite``; then delete what an earlier run listed."""
        listed = self.listed()
        present = sorted(_files(self.folder, self.names))
        if present and not overwrite:
            what = "a previous " + self.command if listed else "files at the names it writes"
            shown = ", ".join(str(p.relative_to(self.folder)) for p in present[:3]) + (", ..." if len(present) > 3 else "")
            raise MicroGANError(f"{self.folder}: already holds {what} ({shown}); pass --overwrite to replace it")
        remove_files(self.folder.resolve(), listed)
        if listed:
            self.path.unlink()
        self._before = _files(self.folder, self.names)

    def foreign(self, name: str) -> List[Path]:
        """Files under ``name`` that were there before this run and no earlier run of the command
        listed: someone else's, which this run must not clear (only valid after :meth:`claim`)."""
        return sorted(p for p in self._before if p.relative_to(self.folder).parts[0] == name)

    def record(self) -> None:
        """List every file written under the names since :meth:`claim` (call after each stage)."""
        new = sorted(str(p.relative_to(self.folder)) for p in _files(self.folder, self.names) - self._before)
        self.folder.mkdir(parents=True, exist_ok=True)
        atomic_write_json(self.path, {"command": self.command, "files": new})
