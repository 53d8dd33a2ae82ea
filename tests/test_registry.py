"""The registries build objects by name and name the known entries when asked for an unknown one."""
from __future__ import annotations

import pytest

from microgan.registry import Registry


def test_register_build_and_unknown_name() -> None:
    reg = Registry("widget")

    @reg.register("pair")
    def make_pair(a: int, b: int = 2) -> tuple:
        return (a, b)

    spec = {"type": "pair", "a": 1}
    assert reg.build(spec) == (1, 2) and spec == {"type": "pair", "a": 1}
    assert "pair" in reg and list(reg) == ["pair"]
    with pytest.raises(KeyError, match="unknown widget 'nope'; known: pair"):
        reg.get("nope")
    with pytest.raises(KeyError, match="twice"):
        reg.register("pair")(make_pair)
