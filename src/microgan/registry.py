"""Name -> constructor registries, one per kind (BasicSR style).

Every configurable piece (architecture, loss, dataset source, metric, degradation, baseline) is
registered under a stable name, so configs and the CLI build objects by name and the trainer,
inference and evaluation never special-case a variant.
"""
from __future__ import annotations

from typing import Any, Callable, Dict, Iterator, TypeVar

T = TypeVar("T", bound=Callable[..., Any])


class Registry:
    """A named table of constructors with a helpful error for unknown names."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._table: Dict[str, Callable[..., Any]] = {}

    def register(self, name: str) -> Callable[[T], T]:
        """Decorator: ``@ARCHS.register("unet")`` adds a class or factory under ``name``."""

        def deco(obj: T) -> T:
            if name in self._table:
                raise KeyError(f"{self.kind} '{name}' is registered twice")
            self._table[name] = obj
            return obj

        return deco

    def get(self, name: str) -> Callable[..., Any]:
        try:
            return self._table[name]
        except KeyError:
            known = ", ".join(sorted(self._table)) or "(none)"
            raise KeyError(f"unknown {self.kind} '{name}'; known: {known}") from None

    def build(self, spec: Dict[str, Any]) -> Any:
        """Build from a config dict ``{"type": NAME, **kwargs}`` without mutating it."""
        kwargs = dict(spec)
        name = kwargs.pop("type")
        return self.get(name)(**kwargs)

    def __contains__(self, name: str) -> bool:
        return name in self._table

    def __iter__(self) -> Iterator[str]:
        return iter(sorted(self._table))


ARCHS = Registry("architecture")
LOSSES = Registry("loss")
SOURCES = Registry("dataset source")
METRICS = Registry("metric")
DEGRADATIONS = Registry("degradation")
BASELINES = Registry("baseline")
