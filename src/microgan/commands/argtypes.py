"""Argument types shared by the sub-commands: numbers with a lower bound, and optional keywords.

argparse turns an ``ArgumentTypeError`` into the usual one-line usage error, so a bad ``--tile`` or
``--limit`` is refused before any model or data is loaded.
"""
from __future__ import annotations

import argparse
from typing import Any, Callable, Mapping, Optional


def bounded(
    cast: Callable[[str], Any],
    minimum: float,
    *,
    strict: bool = False,
    words: Optional[Mapping[str, Any]] = None,
    what: str = "a number",
) -> Callable[[str], Any]:
    """An argparse ``type``: ``cast(value) >= minimum`` (``>`` if ``strict``), or one of ``words``
    mapped to its value (e.g. ``{"auto": "auto", "off": None}``)."""
    words = dict(words or {})
    choices = "".join(f"{w}, " for w in words)
    relation = ">" if strict else ">="

    def parse(value: str) -> Any:
        if value in words:
            return words[value]
        try:
            number = cast(value)
        except ValueError:
            raise argparse.ArgumentTypeError(f"'{value}' is not {choices}{what}") from None
        if number < minimum or (strict and number == minimum):
            raise argparse.ArgumentTypeError(f"must be {relation} {minimum:g}, got {value}")
        return number

    return parse


positive_int = bounded(int, 1, what="a whole number")
positive_minutes = bounded(float, 0, strict=True, what="a number of minutes")
