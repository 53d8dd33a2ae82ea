"""Run configuration: YAML files (bundled by name or any path) plus dotted command-line overrides.

A bundled config is referred to by its variant name (``microgan``, ``microgan-fs``, ...) or by the
repository path ``configs/<name>.yaml``; any other path is read as a file. A config may start from
another with ``base: NAME-OR-PATH`` (a path relative to the config's folder) and state only what
differs: mappings merge key by key, anything else replaces. The variants do this, so that the
paper's schedule is written once (``microgan.yaml``) and a variant file shows what makes it one.
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


def _resolve(ref: str | Path, relative_to: Path | None = None) -> Path:
    path = Path(ref)
    if relative_to is not None and not path.is_absolute() and (relative_to / path).is_file():
        return relative_to / path
    if path.is_file():
        return path
    candidate = BUNDLED_CONFIGS / f"{path.stem}.yaml"
    if not candidate.is_file():
        names = ", ".join(bundled_config_names())
        raise ConfigError(f"{ref}: no such config file or bundled config (bundled: {names})")
    return candidate


def _yaml_problem(exc: yaml.YAMLError) -> str:
    """A YAML error on one line: what is wrong and where (PyYAML's own text spans several lines)."""
    mark = getattr(exc, "problem_mark", None)
    problem = getattr(exc, "problem", None) or str(exc).strip().splitlines()[0]
    where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
    return f"{problem}{where}".replace("\n", " ")


def read_yaml(path: Path) -> Dict[str, Any]:
    """A YAML mapping from a file (configs, recipes): one-line errors for unreadable, non-UTF-8 or
    invalid YAML, python tags refused."""
    return _read(Path(path))


def _read(path: Path) -> Dict[str, Any]:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path}: not UTF-8 text (byte {exc.start}); save the config as UTF-8") from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read the config ({exc.strerror or exc})") from None
    except yaml.YAMLError as exc:  # python tags (!!python/...) too: safe_load refuses them
        raise ConfigError(f"{path}: invalid YAML ({_yaml_problem(exc)})") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: a config must be a mapping at the top level")
    return data


def merge(base: Mapping[str, Any], child: Mapping[str, Any]) -> Dict[str, Any]:
    """``child`` over ``base``: nested mappings merge key by key, any other value replaces."""
    out = copy.deepcopy(dict(base))
    for key, value in child.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), Mapping):
            out[key] = merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def load_config(ref: str | Path, _chain: tuple[Path, ...] = ()) -> Dict[str, Any]:
    """Load a config by bundled name or path (following ``base:``) and return a fresh dict."""
    path = _resolve(ref, _chain[-1].parent if _chain else None).resolve()
    if path in _chain:
        cycle = " -> ".join(str(p) for p in (*_chain, path))
        raise ConfigError(f"{path}: config inherits from itself ({cycle})")
    data = _read(path)
    base = data.pop("base", None)
    if base is None:
        return data
    if not isinstance(base, (str, Path)):
        raise ConfigError(f"{path}: 'base' must name a config, got {base!r}")
    return merge(load_config(base, (*_chain, path)), data)


def apply_overrides(config: Mapping[str, Any], overrides: Iterable[str]) -> Dict[str, Any]:
    """Return a copy of ``config`` with ``key.sub=value`` overrides applied (values parsed as YAML)."""
    out = copy.deepcopy(dict(config))
    for item in overrides:
        key, sep, raw = item.partition("=")
        if not sep or not key:
            raise ConfigError(f"override '{item}' is not of the form key.sub=value")
        set_dotted(out, key, parse_value(raw))
    return out


def set_dotted(config: Dict[str, Any], dotted: str, value: Any) -> None:
    """``config["a"]["b"] = value`` for ``a.b`` (in place), making the sections on the way."""
    node = config
    parts = dotted.split(".")
    for part in parts[:-1]:
        child = node.setdefault(part, {})
        if not isinstance(child, dict):
            raise ConfigError(f"override {dotted}: '{part}' is not a section")
        node = child
    node[parts[-1]] = value


def parse_value(raw: str) -> Any:
    """Parse a command-line value as YAML, but read ``2e-4`` as a number (YAML 1.1 needs ``2.0e-4``)."""
    if raw == "":
        return None
    try:
        value = yaml.safe_load(raw)
    except yaml.YAMLError as exc:
        raise ConfigError(f"value {raw!r} is not valid YAML ({_yaml_problem(exc)})") from None
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
