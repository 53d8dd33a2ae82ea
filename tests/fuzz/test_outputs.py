"""Output places that cannot be used: a file where a folder is expected, a folder that cannot be
created. One line naming the place (exit 2), nothing half-written, the file left as it was."""
from __future__ import annotations

from pathlib import Path

import pytest

from microgan.data.io import write_image

COMMANDS: dict = {
    "enhance": lambda inp, model, data, out: ["enhance", "--model", model, inp, "-o", out, "--quiet"],
    "prepare": lambda inp, model, data, out: ["prepare", "--source", "folder", "--data", inp, "--out", out, "--quiet",
                                              "--min-area", "100"],
    "train": lambda inp, model, data, out: ["train", "--data", data, "--out", out, "--config", "microgan", "--steps", "1",
                                            "--quiet", "--set", "generator.channels=[4,8]", "--set", "critic.base=4"],
}


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_output_folder_that_is_a_file(command: str, tmp_path: Path, check, field, rgb_model: Path, tiny_prepared: Path) -> None:
    inputs = tmp_path / "in"
    write_image(inputs / "a.png", field())
    target = tmp_path / "taken"
    target.write_text("a file, not a folder")
    before = check.hashes(tmp_path)
    result = check.cli(*COMMANDS[command](inputs, rgb_model, tiny_prepared, target))
    assert result.code == 2
    check.one_line_naming(result.err, f"microgan {command}: error: {target}: exists and is not a folder")
    assert check.hashes(tmp_path) == before and check.leftovers(tmp_path) == []


@pytest.mark.parametrize("command", ["enhance", "prepare"])
def test_output_folder_that_cannot_be_made(command: str, tmp_path: Path, check, field, rgb_model: Path, tiny_prepared: Path) -> None:
    inputs = tmp_path / "in"
    write_image(inputs / "a.png", field())
    before = check.hashes(inputs)
    target = Path("/proc/nope/out")
    result = check.cli(*COMMANDS[command](inputs, rgb_model, tiny_prepared, target))
    assert result.code in (1, 2)  # enhance: the batch ran and every file failed; prepare: refused
    check.one_line_naming(result.err, str(Path("/proc/nope")))
    assert check.hashes(inputs) == before and check.leftovers(inputs) == []


@pytest.mark.parametrize("extra, reason", [
    (["--suffix", "/../../in/b"], "--suffix '/../../in/b': must be part of a file name"),
    (["--suffix", "/../../escaped"], "--suffix '/../../escaped': must be part of a file name"),
    (["--suffix", "..\\x"], "must be part of a file name"),
    (["--glob", "../*"], "--glob '../*': must be a pattern inside the input folders"),
    (["--glob", "/etc/*"], "must be a pattern inside the input folders"),
])
def test_suffixes_and_globs_cannot_leave_the_folders(extra, reason, tmp_path: Path, check, field, rgb_model: Path) -> None:
    """Nothing outside -o is written, no input replaced: refused before any work, one line."""
    inputs = tmp_path / "in"
    write_image(inputs / "a.png", field())
    write_image(inputs / "b.png", field())
    write_image(tmp_path / "outside.png", field())
    before = check.hashes(tmp_path)
    result = check.cli("enhance", "--model", str(rgb_model), str(inputs / "a.png"), str(inputs / "b.png"), str(inputs),
                       "-o", str(tmp_path / "out" / "deep"), "--overwrite", "--quiet", *extra)
    assert result.code == 2, result.err
    check.one_line_naming(result.err, reason)
    assert check.hashes(tmp_path) == before and not (tmp_path / "out").exists()


def test_an_output_never_replaces_another_input_of_the_batch(tmp_path: Path, check, field, rgb_model: Path) -> None:
    """-o is the input folder, and a file named like another input's output is an input too."""
    inputs = tmp_path / "in"
    write_image(inputs / "a.png", field())
    write_image(inputs / "a-x.png", field())  # what a.png --suffix -x would become
    before = check.hashes(inputs / "a-x.png")
    result = check.cli("enhance", "--model", str(rgb_model), str(inputs / "a.png"), str(inputs / "a-x.png"),
                       "-o", str(inputs), "--suffix=-x", "--overwrite", "--quiet")
    assert result.code == 1, result.err
    assert "would overwrite an input of this batch" in result.err and str(inputs / "a.png") in result.err
    assert check.hashes(inputs / "a-x.png") == before
    assert (inputs / "a-x-x.png").is_file()  # the rest of the batch written


def test_an_input_folder_inside_the_output_folder_is_restored(tmp_path: Path, check, field, rgb_model: Path) -> None:
    """`enhance proj/raw -o proj` skipped every file as if it were an earlier output."""
    raw = tmp_path / "proj" / "raw"
    write_image(raw / "a.png", field())
    result = check.cli("enhance", "--model", str(rgb_model), str(raw), "-o", str(tmp_path / "proj"), "--quiet")
    assert result.code == 0, result.err
    assert (tmp_path / "proj" / "a.png").is_file()


def test_a_file_whose_name_ends_like_the_suffix_is_still_an_input(tmp_path: Path, check, field, rgb_model: Path) -> None:
    """With -o the input folder and --suffix x, box.png is an input (no bo.png beside it), not an earlier output."""
    folder = tmp_path / "in"
    write_image(folder / "box.png", field())
    write_image(folder / "cell.png", field())
    write_image(folder / "cellx.png", field())  # cell.png's earlier output: left alone
    before = check.hashes(folder / "cellx.png")
    result = check.cli("enhance", "--model", str(rgb_model), str(folder), "-o", str(folder), "--suffix", "x", "--quiet")
    assert result.code == 0, result.err
    assert (folder / "boxx.png").is_file() and not (folder / "cellxx.png").exists()
    assert check.hashes(folder / "cellx.png") == before  # skipped: output exists (no --overwrite)
