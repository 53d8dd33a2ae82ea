"""``microgan prepare`` end to end: real BCCD images, summary, refusal, exit codes."""
from __future__ import annotations

import json

import pytest

from microgan.cli import main
from microgan.data.manifest import read_manifest


def test_prepare_bccd_end_to_end(bccd_root, tmp_path, capsys):
    out = tmp_path / "out"
    code = main(["prepare", "--source", "bccd", "--data", str(bccd_root), "--out", str(out), "--limit", "2"])
    captured = capsys.readouterr()
    assert code == 0
    records = read_manifest(out)
    assert f"prepared {len(records)} crops from 2 of 2 images" in captured.out
    assert "crop size: width" in captured.out and "0 files skipped" in captured.out
    assert "prepare" in captured.err  # the tqdm bar goes to stderr
    settings = json.loads((out / "prepare.json").read_text())
    assert settings["degradation"] == {"type": "gaussian-blur", "kernel_size": 15, "sigma": 2.6}
    assert settings["source"]["crops"] == "voc"


def test_second_run_refuses_without_overwrite(bccd_root, tmp_path, capsys):
    args = ["prepare", "--data", str(bccd_root), "--out", str(tmp_path / "out"), "--limit", "1", "--quiet"]
    assert main(args) == 0
    assert capsys.readouterr().out == ""  # --quiet: no summary, no bar
    assert main(args) == 2
    err = capsys.readouterr().err
    assert "microgan prepare: error:" in err and "already holds a prepared data set" in err and "--overwrite" in err
    assert main(args + ["--overwrite"]) == 0


def test_options_reach_the_pipeline(bccd_root, tmp_path, capsys):
    out = tmp_path / "out"
    code = main([
        "prepare", "--data", str(bccd_root), "--out", str(out), "--limit", "1", "--quiet", "--crops", "segment",
        "--blur-kernel", "9", "--blur-sigma", "0", "--noise", "0.01", "--margin", "0", "--min-area", "3000",
        "--split", "0.5,0.5,0",
    ])
    assert code == 0
    settings = json.loads((out / "prepare.json").read_text())
    assert settings["degradation"] == {
        "type": "compose",
        "steps": [{"type": "gaussian-blur", "kernel_size": 9, "sigma": None}, {"type": "gaussian-noise", "sigma": 0.01}],
    }
    assert settings["segmentation"]["min_area"] == 3000 and settings["margin"] == 0
    assert all(r.label == "" for r in read_manifest(out))


@pytest.mark.parametrize(
    "extra, message",
    [
        (["--blur-kernel", "14"], "kernel_size must be odd"),
        (["--split", "0.5,0.1"], "split fractions"),
        (["--block-size", "8"], "block_size must be odd"),
    ],
)
def test_bad_options_are_one_line_errors(bccd_root, tmp_path, capsys, extra, message):
    code = main(["prepare", "--data", str(bccd_root), "--out", str(tmp_path / "o"), "--limit", "1", "--quiet"] + extra)
    assert code == 2 and message in capsys.readouterr().err


def test_nothing_prepared_exits_non_zero(tmp_path, capsys):
    (tmp_path / "raw").mkdir()
    (tmp_path / "raw" / "x.png").write_text("no image")
    code = main(["prepare", "--source", "folder", "--data", str(tmp_path / "raw"), "--out", str(tmp_path / "out"), "--quiet"])
    assert code == 2
    assert "nothing could be prepared" in capsys.readouterr().err


def test_missing_bccd_is_a_clear_error(tmp_path, capsys):
    code = main(["prepare", "--data", str(tmp_path / "nowhere"), "--out", str(tmp_path / "out"), "--quiet"])
    assert code == 2 and "BCCD not found" in capsys.readouterr().err


def test_skipped_files_exit_1_and_are_listed_even_when_quiet(tmp_path, capsys):
    """A batch where something failed ends non-zero, like enhance; the crops of the rest are made."""
    import numpy as np

    from microgan.data.io import write_image

    raw = tmp_path / "raw"
    field = np.full((80, 100), 200, np.uint8)
    field[20:50, 20:50] = 60
    write_image(raw / "good.png", field)
    (raw / "bad.tif").write_bytes(b"II*\x00\x08\x00\x00\x00")
    out = tmp_path / "out"
    code = main(["prepare", "--source", "folder", "--data", str(raw), "--out", str(out), "--quiet", "--min-area", "100"])
    captured = capsys.readouterr()
    assert code == 1 and captured.out == ""
    assert "bad.tif: corrupt TIFF file" in captured.err and "1 files skipped" in captured.err
    assert len(read_manifest(out)) == 1
