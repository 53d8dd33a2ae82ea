"""Run configuration: YAML files (bundled by name or any path) plus dotted command-line overrides.

A bundled config is referred to by its variant name (``microgan``, ``microgan-fs``, ...) or by the
repository path ``configs/<name>.yaml``; any other path is read as a file.
"""
from __future__ import annotations

import copy
from pathlib import Path
from typing import Any, Dict, Iterable, Mapping

import yaml

from microgan.errors import ConfigError

BUNDLED_CONFIGS = Path(__file__).resolve().parent / "configs"


def bundled_config_names() -> list[str]:
    return sorted(p.stem for p in BUNDLED_CONFIGS.glob("*.yaml"))


def load_config(ref: str | Path) -> Dict[str, Any]:
    """Load a config by bundled name or path and return a fresh dict."""
    path = Path(ref)
    if not path.is_file():
        candidate = BUNDLED_CONFIGS / f"{path.stem}.yaml"
        if not candidate.is_file():
            names = ", ".join(bundled_config_names())
            raise ConfigError(f"{ref}: no such config file or bundled config (bundled: {names})")
        path = candidate
    try:
        data = yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: invalid YAML ({exc})") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: a config must be a mapping at the top level")
    return data


def apply_overrides(config: Mapping[str, Any], overrides: Iterable[str]) -> Dict[str, Any]:
    """Return a copy of ``config`` with ``key.sub=value`` overrides applied (values parsed as YAML)."""
    out = copy.deepcopy(dict(config))
    for item in overrides:
        key, sep, raw = item.partition("=")
        if not sep or not key:
            raise ConfigError(f"override '{item}' is not of the form key.sub=value")
        node = out
        parts = key.split(".")
        for part in parts[:-1]:
            child = node.setdefault(part, {})
            if not isinstance(child, dict):
                raise ConfigError(f"override '{item}': '{part}' is not a section")
            node = child
        node[parts[-1]] = parse_value(raw)
    return out


def parse_value(raw: str) -> Any:
    """Parse a command-line value as YAML, but read ``2e-4`` as a number (YAML 1.1 needs ``2.0e-4``)."""
    if raw == "":
        return None
    value = yaml.safe_load(raw)
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            return value
    return value


def deep_get(config: Mapping[str, Any], dotted: str, default: Any = None) -> Any:
    node: Any = config
    for part in dotted.split("."):
        if not isinstance(node, Mapping) or part not in node:
            return default
        node = node[part]
    return node
