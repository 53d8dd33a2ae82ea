"""Argument types shared by the sub-commands: numbers with a lower bound, and optional keywords.

argparse turns an ``ArgumentTypeError`` into the usual one-line usage error, so a bad ``--tile`` or
``--limit`` is refused before any model or data is loaded.
"""
from __future__ import annotations

import argparse
import math
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
        except (ValueError, OverflowError):
            raise argparse.ArgumentTypeError(f"'{value}' is not {choices}{what}") from None
        if not math.isfinite(number):
            raise argparse.ArgumentTypeError(f"must be a finite number, got {value}")
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
    if not number > 0 or not math.isfinite(number * _UNITS[unit]):
        raise argparse.ArgumentTypeError(f"must be a size above 0 such as 1.5G, or off; got {value}")
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


#: The bundled model a ``--psf`` without ``--model`` restores with.
PSF_MODEL = "microgan-psf"

_positive = bounded(float, 0, strict=True, what="a positive number")


def add_psf_options(parser: argparse.ArgumentParser, evaluation: bool = False) -> None:
    """``--psf`` (a spec or a PSF image file; for evaluation also ``true``, each crop's own) or the
    optics (``--na``, ``--wavelength``, ``--pixel-size``): the PSF a PSF-aware model is told."""
    group = parser.add_argument_group("the PSF (for a model told the PSF, such as microgan-psf)")
    true = ("; true: each crop's own PSF (its degradation's), as the oracle baselines are told; models trained "
            "blind ignore it" if evaluation else "; without --model it selects the bundled PSF-aware model")
    group.add_argument("--psf", default=None, metavar="SPEC|FILE" + ("|true" if evaluation else ""),
                       help="the microscope's PSF: gauss:SIGMA, gauss:SX,SY,ANGLE, disk:R, airy:R (px, degrees) or a "
                       "2-D PSF image (.npy, .tif, .png; normalised to sum 1, odd sides, centre = origin)" + true +
                       "; without a PSF a PSF-aware model estimates it per image")
    group.add_argument("--na", type=_positive, default=None, metavar="NA",
                       help="numerical aperture: with --wavelength and --pixel-size, the Gaussian approximation of a "
                       "widefield PSF (sigma = 0.21 lambda / NA)")
    group.add_argument("--wavelength", type=_positive, default=None, metavar="NM", help="emission/illumination wavelength, nm")
    group.add_argument("--pixel-size", type=_positive, default=None, metavar="UM", help="pixel size at the sample, um")


def psf_argument(args: argparse.Namespace) -> Any:
    """The PSF the options name (a spec/file string, a kernel from the optics), or None; one clear
    error for a half-given optics or both routes at once."""
    from microgan.core.psf import psf_from_optics
    from microgan.errors import PsfError

    optics = [args.na, args.wavelength, args.pixel_size]
    if any(v is not None for v in optics):
        if args.psf is not None:
            raise PsfError("give either --psf or the optics (--na, --wavelength, --pixel-size), not both")
        if any(v is None for v in optics):
            raise PsfError("the optics need all three of --na, --wavelength (nm) and --pixel-size (um at the sample)")
        return psf_from_optics(args.na, args.wavelength, args.pixel_size)
    return args.psf


#: The bundled upscaling model of each scale (issue 34): microgan-psf trained with the camera's sampling.
UPSCALING_MODEL = "microgan-psf-x{scale}"


def add_scale_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--scale", type=int, choices=(1, 2, 4), default=None,
                        help="upscale by this factor (output sides x2 or x4; needs the PSF): without --model the "
                             f"bundled {UPSCALING_MODEL.format(scale='N')}; a --model must upscale by it "
                             "(default: the model's own scale, 1 for every restoration model)")


def model_for(args: argparse.Namespace, psf: Any) -> Any:
    """``--model``, else the bundled upscaling model of ``--scale`` (above 1), else the bundled PSF-aware
    model when a PSF is given, else None (the default)."""
    if args.model is not None:
        return args.model
    scale = getattr(args, "scale", None) or 1
    if scale > 1:
        return UPSCALING_MODEL.format(scale=scale)
    return None if psf is None else PSF_MODEL
