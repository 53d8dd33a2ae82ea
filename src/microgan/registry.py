"""Name -> constructor registries, one per kind (BasicSR style).

Every configurable piece (architecture, loss, dataset source, metric, degradation, baseline) is
registered under a stable name, so configs and the CLI build objects by name and the trainer,
inference and evaluation never special-case a variant.
"""
from __future__ import annotations

import inspect
from typing import Any, Callable, Dict, Iterator, Mapping, TypeVar

from microgan.errors import ConfigError

T = TypeVar("T", bound=Callable[..., Any])


class Registry:
    """A named table of constructors. Unknown names and keywords a constructor does not take are
    :class:`~microgan.errors.ConfigError` naming them (a config typo, not a bug)."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._table: Dict[str, Callable[..., Any]] = {}

    def register(self, name: str) -> Callable[[T], T]:
        """Decorator: ``@GENERATORS.register("unet")`` adds a class or factory under ``name``."""

        def deco(obj: T) -> T:
            if name in self._table:
                raise KeyError(f"{self.kind} '{name}' is registered twice")
            self._table[name] = obj
            return obj

        return deco

    def get(self, name: str) -> Callable[..., Any]:
        try:
            return self._table[name]
        except (KeyError, TypeError):  # TypeError: an unhashable name from a config
            known = ", ".join(sorted(self._table)) or "(none)"
            raise ConfigError(f"unknown {self.kind} '{name}'; known: {known}") from None

    def build(self, spec: Mapping[str, Any]) -> Any:
        """Build from a config mapping ``{"type": NAME, **kwargs}`` without mutating it.

        The keywords are checked against the constructor's signature before it is called, so a
        missing or unknown key is a ConfigError while a TypeError raised inside the constructor
        (a bug) still surfaces as one."""
        if not isinstance(spec, Mapping) or "type" not in spec:
            raise ConfigError(f"a {self.kind} spec must be a mapping with a 'type' key, got {spec!r}")
        kwargs = dict(spec)
        name = kwargs.pop("type")
        factory = self.get(name)
        try:
            inspect.signature(factory).bind(**kwargs)
        except TypeError as exc:
            raise ConfigError(f"{self.kind} '{name}': {exc}") from None
        return factory(**kwargs)

    def __contains__(self, name: str) -> bool:
        return name in self._table

    def __iter__(self) -> Iterator[str]:
        return iter(sorted(self._table))


GENERATORS = Registry("generator")
CRITICS = Registry("critic")
CLASSIFIERS = Registry("classifier")
LOSSES = Registry("loss")
SOURCES = Registry("dataset source")
METRICS = Registry("metric")
DEGRADATIONS = Registry("degradation")
BASELINES = Registry("baseline")
