"""The ``microgan`` command: a thin dispatcher over ``microgan.commands.<name>``.

Each sub-command lives in its own module with ``register(subparsers)`` (adds its parser and sets
``func``), so features stay next to their own argument parsing and heavy imports (torch) happen
only when a command runs. User-facing errors become one line on stderr and exit code 2.
"""
from __future__ import annotations

import argparse
import importlib
import signal
import sys
from typing import Any, List, Optional

from microgan import __version__
from microgan.errors import MicroGANError

COMMANDS = ["prepare", "models", "train", "enhance", "export", "evaluate", "classify", "demo"]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="microgan",
        description="Size-invariant GAN restoration of single-cell microscopy images.",
    )
    parser.add_argument("--version", action="version", version=f"microgan {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMANDS:
        importlib.import_module(f"microgan.commands.{name}").register(sub)
    return parser


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised where the program is so that every command's cleanup runs as for Ctrl-C."""


def _raise_terminated(signum: int, frame: object) -> None:
    raise Terminated()


def _terminate_like_interrupt() -> Any:
    """A scheduler's stop or ``kill`` (SIGTERM) unwinds like Ctrl-C: partial outputs are removed
    and temporaries deleted, instead of the process vanishing mid-write. Returns the handler it
    replaced (restored when the command returns: a process that calls :func:`main`, such as a test
    runner, keeps its own), or None where none was set."""
    try:
        previous = signal.signal(signal.SIGTERM, _raise_terminated)
    except ValueError:  # not the main thread (an embedding application): leave its handlers alone
        return None
    return signal.SIG_DFL if previous is None else previous  # None: set outside Python; the default is what it did


def _is_allocation_failure(exc: BaseException) -> bool:
    text = str(exc).lower()
    return "can't allocate memory" in text or "out of memory" in text or "failed to allocate" in text


def _out_of_memory(command: str) -> int:
    print(f"microgan {command}: error: out of memory (lower --max-memory or --batch, or use --tile where the "
          "command has them, or free memory)", file=sys.stderr)
    return 2


def main(argv: Optional[List[str]] = None) -> int:
    previous = _terminate_like_interrupt()
    try:
        return _main(argv)
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)


def _main(argv: Optional[List[str]]) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        return int(args.func(args) or 0)
    except MicroGANError as exc:
        print(f"microgan {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except MemoryError:
        return _out_of_memory(args.command)
    except RuntimeError as exc:  # torch reports a failed allocation as a RuntimeError
        if not _is_allocation_failure(exc):
            raise
        return _out_of_memory(args.command)
    except Terminated:
        print(f"microgan {args.command}: terminated (SIGTERM)", file=sys.stderr)
        return 143
    except KeyboardInterrupt:
        print(f"microgan {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
