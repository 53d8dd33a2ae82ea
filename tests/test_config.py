"""Config loading by bundled name or path, and dotted overrides."""
from __future__ import annotations

from pathlib import Path

import pytest

from microgan.config import apply_overrides, bundled_config_names, deep_get, load_config
from microgan.errors import ConfigError

VARIANTS = ["deblurgan", "microgan", "microgan-fs", "microgan-nt"]


def test_bundled_variants_load_by_name_and_repo_path() -> None:
    assert set(VARIANTS) <= set(bundled_config_names())
    for name in VARIANTS:
        cfg = load_config(name)
        assert cfg["name"] == name
        assert load_config(f"configs/{name}.yaml") == cfg
        assert {"generator", "critic", "losses", "data", "train"} <= set(cfg)


def test_only_microgan_fs_resizes() -> None:
    assert {n: deep_get(load_config(n), "data.resize_to") for n in VARIANTS} == {
        "deblurgan": None, "microgan": None, "microgan-fs": 128, "microgan-nt": None}


def test_overrides_parse_yaml_values_and_do_not_mutate() -> None:
    cfg = load_config("microgan")
    out = apply_overrides(cfg, ["train.optimizer.lr=2e-4", "data.batch_size=4", "new.section.flag=true", "train.name=abc"])
    assert out["train"]["optimizer"]["lr"] == 2e-4
    assert out["data"]["batch_size"] == 4 and out["new"]["section"]["flag"] is True
    assert out["train"]["name"] == "abc"
    assert cfg["train"]["optimizer"]["lr"] == 1e-4


@pytest.mark.parametrize("bad", ["novalue", "=3", "name.sub=1"])
def test_bad_override_is_a_clear_error(bad: str) -> None:
    with pytest.raises(ConfigError):
        apply_overrides({"name": "x"}, [bad])


def test_missing_and_invalid_config_files(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no such config"):
        load_config(tmp_path / "nope.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("a: [1, 2")
    with pytest.raises(ConfigError, match="invalid YAML"):
        load_config(bad)
    bad.write_text("- 1\n- 2\n")
    with pytest.raises(ConfigError, match="mapping"):
        load_config(bad)


def test_variants_inherit_the_paper_schedule_and_change_only_their_networks() -> None:
    base = load_config("microgan")
    for name in ("microgan-fs", "microgan-nt", "deblurgan"):
        cfg = load_config(name)
        assert cfg["train"] == base["train"] and cfg["losses"] == base["losses"]
        assert "base" not in cfg
    nt = load_config("microgan-nt")
    assert nt["generator"] == {**base["generator"], "type": "unet-full"}
    assert load_config("microgan-fs")["critic"] == {"type": "fc", "in_channels": 3, "input_size": 128}


def test_base_of_a_user_config_is_merged_key_by_key(tmp_path: Path) -> None:
    (tmp_path / "mine.yaml").write_text("base: microgan\nname: mine\ntrain: {optimizer: {lr: 5.0e-4}}\n")
    (tmp_path / "child.yaml").write_text("base: mine.yaml\ndata: {bucket_ratio: 1.2, batch_size: 4}\n")
    cfg = load_config(tmp_path / "child.yaml")  # a relative base is found beside the config
    assert cfg["name"] == "mine" and cfg["data"]["batch_size"] == 4
    assert cfg["train"]["optimizer"] == {"lr": 5.0e-4, "betas": [0.9, 0.999]}
    assert cfg["train"]["critic_steps"] == load_config("microgan")["train"]["critic_steps"]


def test_bad_bases_are_clear_errors(tmp_path: Path) -> None:
    (tmp_path / "a.yaml").write_text("base: b.yaml\n")
    (tmp_path / "b.yaml").write_text("base: a.yaml\n")
    with pytest.raises(ConfigError, match="inherits from itself"):
        load_config(tmp_path / "a.yaml")
    (tmp_path / "c.yaml").write_text("base: nowhere\n")
    with pytest.raises(ConfigError, match="nowhere: no such config"):
        load_config(tmp_path / "c.yaml")
    (tmp_path / "d.yaml").write_text("base: [1]\n")
    with pytest.raises(ConfigError, match="'base' must name a config"):
        load_config(tmp_path / "d.yaml")
