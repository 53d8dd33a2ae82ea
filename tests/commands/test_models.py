"""``microgan models``: the variant table and its JSON form."""
from __future__ import annotations

import pytest

import json

from microgan.cli import main

EXPECTED = {  # generator, critic parameters of the bundled configs (RGB)
    "microgan": (3_008_043, 2_764_737),
    "microgan-fs": (3_008_043, 3_028_930),
    "microgan-nt": (31_031_875, 2_764_737),
    "deblurgan": (11_378_179, 2_764_737),
}


def test_models_json(capsys):
    assert main(["models", "--json", "--size", "16", "--repeats", "1"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert list(data) == list(EXPECTED)
    for variant, row in data.items():
        assert set(row) == {"generator_params", "critic_params", "ms_per_megapixel"}
        assert (row["generator_params"], row["critic_params"]) == EXPECTED[variant]
        assert isinstance(row["ms_per_megapixel"], float) and row["ms_per_megapixel"] > 0


def test_models_table(capsys):
    assert main(["models", "--variants", "microgan", "--size", "8", "--repeats", "1"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split()[:3] == ["variant", "generator", "params"]
    assert lines[2].split()[:3] == ["microgan", "3,008,043", "2,764,737"]
    assert len(lines) == 4 and "8x8" in lines[3]


def test_models_rejects_bad_size(capsys):
    with pytest.raises(SystemExit) as refused:
        main(["models", "--size", "0"])
    assert refused.value.code == 2 and "--size: must be >= 8" in capsys.readouterr().err
    assert main(["models", "--size", "100000"]) == 2 and "at most 2048" in capsys.readouterr().err
