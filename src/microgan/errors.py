"""Exceptions that the CLI turns into one clear line and a non-zero exit."""
from __future__ import annotations


class MicroGANError(Exception):
    """A user-facing error: the message names the file (if any) and the reason."""


class ImageReadError(MicroGANError):
    """An input image cannot be read or is not usable (truncated, not an image, too large...)."""


class CheckpointError(MicroGANError):
    """A checkpoint or weights file is missing, corrupt or does not match the expected model."""


class ConfigError(MicroGANError):
    """A configuration value is missing or invalid."""


class PsfError(MicroGANError):
    """A point spread function given by a user is unusable (bad file, spec, optics or values)."""
