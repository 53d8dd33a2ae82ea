"""``microgan classify`` on the command line: outputs on success, one-line errors with exit code 2."""
from __future__ import annotations

import pytest

import json

import numpy as np

from microgan.cli import main
from microgan.data.io import write_image


def _two_colour_cells(root, per_class: int = 6):
    rng = np.random.default_rng(0)
    for name, level in (("pale", 200), ("deep", 60)):
        for i in range(per_class):
            size = int(rng.integers(16, 28))
            write_image(root / name / f"{i}.png", np.clip(level + rng.normal(0, 10, (size, size, 3)), 0, 255).astype(np.uint8))
    return root


def test_classify_writes_json_and_heat_maps(tmp_path, capsys):
    data = _two_colour_cells(tmp_path / "cells")
    out_json = tmp_path / "res" / "classify.json"
    rc = main(["classify", "--data", str(data), "--inputs", "lr", "--classifier", "tiny", "--folds", "3",
               "--epochs", "20", "--device", "cpu", "--json", str(out_json), "--out", str(tmp_path / "maps")])
    assert rc == 0
    doc = json.loads(out_json.read_text())
    assert doc["classes"] == ["deep", "pale"]
    assert doc["settings"]["recipe"]["epochs"] == 20
    assert 0.0 <= doc["inputs"]["lr"]["accuracy"] <= 1.0
    assert (tmp_path / "maps" / "confusion-lr.png").stat().st_size > 1000
    printed = capsys.readouterr().out
    assert "| lr |" in printed and "normalized confusion, lr" in printed


def test_classify_errors_are_one_line_and_exit_2(tmp_path, capsys):
    data = _two_colour_cells(tmp_path / "cells", per_class=3)
    rc = main(["classify", "--data", str(data), "--inputs", "lr", f"sr:{tmp_path}/missing.safetensors",
               "--classifier", "tiny", "--json", str(tmp_path / "c.json")])
    err = capsys.readouterr().err.strip()
    assert rc == 2 and "missing.safetensors" in err and len(err.splitlines()) == 1
    assert not (tmp_path / "c.json").exists()
    rc = main(["classify", "--data", str(tmp_path / "nowhere"), "--inputs", "lr", "--json", str(tmp_path / "c.json")])
    assert rc == 2 and "nowhere: no such folder" in capsys.readouterr().err
    with pytest.raises(SystemExit) as refused:  # argparse's own refusal: usage and one error line
        main(["classify", "--data", str(data), "--inputs", "lr", "--folds", "1"])
    assert refused.value.code == 2 and "--folds: must be >= 2" in capsys.readouterr().err


def test_unknown_classifier_names_the_known_ones(tmp_path, capsys):
    data = _two_colour_cells(tmp_path / "data")
    rc = main(["classify", "--data", str(data), "--inputs", "lr", "--classifier", "resnet", "--json", str(tmp_path / "c.json")])
    err = capsys.readouterr().err
    assert rc != 0 and "unknown classifier 'resnet'" in err and "efficientnet-lite0" in err and "tiny" in err
