"""The registries build objects by name; unknown names and keywords are config errors naming them."""
from __future__ import annotations

import pytest

from microgan.errors import ConfigError
from microgan.registry import Registry


def test_register_build_and_unknown_name() -> None:
    reg = Registry("widget")

    @reg.register("pair")
    def make_pair(a: int, b: int = 2) -> tuple:
        return (a, b)

    spec = {"type": "pair", "a": 1}
    assert reg.build(spec) == (1, 2) and spec == {"type": "pair", "a": 1}
    assert "pair" in reg and list(reg) == ["pair"]
    with pytest.raises(ConfigError, match="unknown widget 'nope'; known: pair"):
        reg.get("nope")
    with pytest.raises(KeyError, match="twice"):
        reg.register("pair")(make_pair)


def test_bad_specs_are_config_errors_but_constructor_bugs_are_not() -> None:
    reg = Registry("widget")

    @reg.register("pair")
    def make_pair(a: int, b: int = 2) -> tuple:
        return (a, b)

    @reg.register("buggy")
    def buggy() -> None:
        return None + 1  # type: ignore[operator]

    with pytest.raises(ConfigError, match="widget 'pair': .*'c'"):
        reg.build({"type": "pair", "a": 1, "c": 3})
    with pytest.raises(ConfigError, match="widget 'pair': .*'a'"):
        reg.build({"type": "pair"})
    with pytest.raises(ConfigError, match="'type' key"):
        reg.build({"a": 1})
    with pytest.raises(ConfigError, match="unknown widget"):
        reg.build({"type": "triple"})
    with pytest.raises(TypeError):
        reg.build({"type": "buggy"})
