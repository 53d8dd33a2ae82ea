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


_UNITS = {"": 1, "K": 10**3, "M": 10**6, "G": 10**9, "T": 10**12,
          "KI": 2**10, "MI": 2**20, "GI": 2**30, "TI": 2**40}


def memory_size(value: str) -> Optional[int]:
    """``1.5G`` (1.5 x 10^9 bytes), ``800M``, ``1.5Gi`` (1.5 x 2^30), ``2000000000`` -> bytes (a
    trailing ``B`` is allowed: ``1.5GB``, ``1.5GiB``); ``off`` -> None (no limit)."""
    if value == "off":
        return None
    text = value.strip().upper().removesuffix("B")
    unit = next((u for u in sorted(_UNITS, key=len, reverse=True) if u and text.endswith(u)), "")
    try:
        number = float(text[: len(text) - len(unit)])
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{value}' is not off or a size such as 1.5G, 800M, 2Gi") from None
    if not number > 0:
        raise argparse.ArgumentTypeError(f"must be > 0, got {value}")
    return int(number * _UNITS[unit])


#: ``--consistency`` words -> the Enhancer's ``consistency`` argument.
CONSISTENCY = {"auto": "auto", "on": True, "off": False}


def add_consistency_option(parser: argparse.ArgumentParser) -> None:
    """``--consistency auto|on|off``: the data-consistency step after the network (enhance, evaluate)."""
    parser.add_argument(
        "--consistency", choices=tuple(CONSISTENCY), default="auto",
        help="correct the model's output against its input with a PSF fitted to the pair "
        "(docs/results.md, 'Data consistency'); auto: on for models trained blind (microgan-blind and "
        "its fine-tunes), off for models trained on one known blur (default: auto)",
    )
