"""``microgan enhance``: folders and files, format/bit depth kept, skip/overwrite, failures, inputs untouched."""
from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Callable, Dict

import cv2
import numpy as np
import pytest
import torch

import microgan
from microgan import cli
from microgan.data.io import read_image, write_image
from microgan.core import checkpoint as ck


def _hashes(folder: Path) -> Dict[str, str]:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.fixture()
def inputs(tmp_path: Path) -> Path:
    rng = np.random.default_rng(0)
    root = tmp_path / "in"
    write_image(root / "a.png", rng.integers(0, 255, (20, 30, 3), dtype=np.uint8))
    write_image(root / "sub" / "b.tif", rng.integers(0, 65535, (17, 9), dtype=np.uint16))
    write_image(root / "sub" / "c.jpg", rng.integers(0, 255, (12, 14, 3), dtype=np.uint8))
    (root / "sub" / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n not really")
    (root / "notes.txt").write_text("not an image")
    return root


def _run(*argv: str) -> int:
    return cli.main(["enhance", *argv])


def test_folder_recursive_keeps_structure_format_and_bit_depth(
    tmp_path: Path, inputs: Path, capsys: pytest.CaptureFixture[str], save_tiny_generator: Callable[..., Path]) -> None:
    model = save_tiny_generator(tmp_path / "m.safetensors")
    before = _hashes(inputs)
    out = tmp_path / "out"
    assert _run("--model", str(model), str(inputs), "-o", str(out), "--recursive", "--suffix", "_sr") == 1
    captured = capsys.readouterr()
    assert "failed: " in captured.err and "broken.png" in captured.err
    assert "enhanced 3, skipped 0 (output exists; --overwrite to redo), failed 1" in captured.out
    assert sorted(_hashes(out)) == ["a_sr.png", "sub/b_sr.tif", "sub/c_sr.jpg"]
    for src, dst in [("a.png", "a_sr.png"), ("sub/b.tif", "sub/b_sr.tif"), ("sub/c.jpg", "sub/c_sr.jpg")]:
        a, b = read_image(inputs / src), read_image(out / dst)
        assert (b.format, b.bit_depth, b.array.shape, b.array.dtype) == (a.format, a.bit_depth, a.array.shape, a.array.dtype)
    assert _hashes(inputs) == before  # inputs never modified


def test_existing_outputs_are_skipped_unless_overwrite(tmp_path: Path, inputs: Path, capsys: pytest.CaptureFixture[str], save_tiny_generator: Callable[..., Path]) -> None:
    model = str(save_tiny_generator(tmp_path / "m.safetensors"))
    out = tmp_path / "out"
    assert _run("--model", model, str(inputs / "a.png"), "-o", str(out)) == 0
    (out / "a.png").write_bytes(b"sentinel")
    capsys.readouterr()
    assert _run("--model", model, str(inputs / "a.png"), "-o", str(out)) == 0
    assert (out / "a.png").read_bytes() == b"sentinel"
    assert "enhanced 0, skipped 1" in capsys.readouterr().out
    # nothing to do: the model is not even loaded (a missing one is then no error)
    assert _run("--model", str(tmp_path / "gone.safetensors"), str(inputs / "a.png"), "-o", str(out)) == 0
    assert "enhanced 0, skipped 1" in capsys.readouterr().out
    assert _run("--model", model, str(inputs / "a.png"), "-o", str(out), "--overwrite", "--quiet") == 0
    assert read_image(out / "a.png").array.shape == (20, 30, 3)
    assert capsys.readouterr().out == ""  # --quiet: no summary when nothing failed


def test_output_folder_inside_input_folder_is_not_read_again(tmp_path: Path, inputs: Path, capsys: pytest.CaptureFixture[str], save_tiny_generator: Callable[..., Path]) -> None:
    model = str(save_tiny_generator(tmp_path / "m.safetensors"))
    out = inputs / "restored"
    for _ in range(2):
        _run("--model", model, str(inputs), "-o", str(out), "--recursive", "--overwrite")
        assert "enhanced 3," in capsys.readouterr().out
    assert sorted(_hashes(out)) == ["a.png", "sub/b.tif", "sub/c.jpg"]


def test_same_folder_needs_a_suffix_and_skips_suffixed_files(tmp_path: Path, inputs: Path, capsys: pytest.CaptureFixture[str], save_tiny_generator: Callable[..., Path]) -> None:
    model = str(save_tiny_generator(tmp_path / "m.safetensors"))
    assert _run("--model", model, str(inputs), "-o", str(inputs)) == 2
    assert "give a --suffix" in capsys.readouterr().err
    for _ in range(2):
        assert _run("--model", model, str(inputs), "-o", str(inputs), "--suffix", "_sr", "--overwrite") == 0
        assert "enhanced 1," in capsys.readouterr().out
    assert (inputs / "a_sr.png").is_file() and not (inputs / "a_sr_sr.png").exists()


def test_glob_without_recursion_and_missing_inputs(tmp_path: Path, inputs: Path, capsys: pytest.CaptureFixture[str], save_tiny_generator: Callable[..., Path]) -> None:
    model = str(save_tiny_generator(tmp_path / "m.safetensors"))
    out = tmp_path / "out"
    assert _run("--model", model, str(inputs / "sub"), "-o", str(out), "--glob", "*.tif") == 0
    assert sorted(_hashes(out)) == ["b.tif"]
    assert _run("--model", model, str(inputs), str(tmp_path / "nope.png"), "-o", str(out), "--overwrite") == 1
    captured = capsys.readouterr()
    assert "nope.png: no such file or folder" in captured.err and "enhanced 1," in captured.out
    assert _run("--model", model, str(inputs), "-o", str(out), "--glob", "*.bmp") == 2
    assert "no input images matching '*.bmp'" in capsys.readouterr().err


def test_rgb_on_gray_model_fails_that_file_only_and_per_channel_restores_it(
    tmp_path: Path, inputs: Path, capsys: pytest.CaptureFixture[str], save_tiny_generator: Callable[..., Path]) -> None:
    model = str(save_tiny_generator(tmp_path / "gray.safetensors", in_channels=1))
    out = tmp_path / "out"
    assert _run("--model", model, str(inputs / "a.png"), str(inputs / "sub" / "b.tif"), "-o", str(out)) == 1
    captured = capsys.readouterr()
    assert "a.png: RGB image given to a grayscale model" in captured.err and "enhanced 1," in captured.out
    assert _run("--model", model, str(inputs / "a.png"), "-o", str(out), "--per-channel") == 0
    assert read_image(out / "a.png").array.shape == (20, 30, 3)


def test_fixed_tiles_match_the_whole_image(tmp_path: Path, save_tiny_generator: Callable[..., Path]) -> None:
    model = str(save_tiny_generator(tmp_path / "m.safetensors"))
    rng = np.random.default_rng(1)
    write_image(tmp_path / "big.tif", rng.integers(0, 65535, (150, 170), dtype=np.uint16))
    assert _run("--model", model, str(tmp_path / "big.tif"), "-o", str(tmp_path / "w"), "--tile", "off", "--quiet") == 0
    assert _run("--model", model, str(tmp_path / "big.tif"), "-o", str(tmp_path / "t"), "--tile", "96", "--quiet") == 0
    whole = read_image(tmp_path / "w" / "big.tif").array.astype(np.int64)
    tiled = read_image(tmp_path / "t" / "big.tif").array.astype(np.int64)
    assert np.abs(whole - tiled).max() <= 257  # within 1/255 of the range, in 16-bit levels


def test_self_ensemble_writes_the_averaged_restoration(tmp_path: Path, save_tiny_generator: Callable[..., Path]) -> None:
    model = str(save_tiny_generator(tmp_path / "m.safetensors"))
    image = np.random.default_rng(2).integers(0, 65535, (40, 52), dtype=np.uint16)
    write_image(tmp_path / "x.tif", image)
    # fp32 as the reference below: auto picks bf16 on a CPU with native bf16, ~0.5 % away
    assert _run("--model", model, str(tmp_path / "x.tif"), "-o", str(tmp_path / "e"), "--self-ensemble", "--quiet",
                "--precision", "fp32") == 0
    written = read_image(tmp_path / "e" / "x.tif").array
    expected = microgan.load(model, device="cpu", precision="fp32", self_ensemble=True).enhance(image)
    assert written.dtype == np.uint16 and np.abs(written.astype(np.int64) - expected).max() <= 1
    assert np.abs(written.astype(np.int64) - microgan.load(model, device="cpu", precision="fp32").enhance(image)).max() > 1


def test_no_model_and_no_bundled_model_is_one_clear_line(
    tmp_path: Path, inputs: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(ck, "BUNDLED_DIR", tmp_path / "no-weights")
    assert _run(str(inputs), "-o", str(tmp_path / "out")) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "pass --model" in err


# ------------------------------------------------------------------------------ issue 15: one bad file, the rest written


def test_tiff_of_only_its_header_fails_alone_and_the_batch_is_written(
    tmp_path: Path, inputs: Path, capsys: pytest.CaptureFixture[str], save_tiny_generator: Callable[..., Path]) -> None:
    """It raised IndexError out of the batch loop: a traceback and none of the good files written."""
    model = str(save_tiny_generator(tmp_path / "m.safetensors"))
    (inputs / "bad.tif").write_bytes(b"II*\x00\x08\x00\x00\x00")
    before = _hashes(inputs)
    out = tmp_path / "out"
    assert _run("--model", model, str(inputs), "-o", str(out), "--recursive", "--batch", "2") == 1
    captured = capsys.readouterr()
    assert "bad.tif: corrupt TIFF file" in captured.err
    assert "enhanced 3, skipped 0 (output exists; --overwrite to redo), failed 2" in captured.out  # + broken.png
    assert sorted(_hashes(out)) == ["a.png", "sub/b.tif", "sub/c.jpg"]
    assert _hashes(inputs) == before


def test_stacks_and_multi_sample_tiffs_are_refused_naming_what_the_output_would_lack(
    tmp_path: Path, inputs: Path, capsys: pytest.CaptureFixture[str], save_tiny_generator: Callable[..., Path]) -> None:
    """Page 0 of a stack, or sample 0 of a 4-sample gray TIFF, was restored and written with exit 0."""
    import tifffile

    model = str(save_tiny_generator(tmp_path / "m.safetensors"))
    rng = np.random.default_rng(0)
    with tifffile.TiffWriter(inputs / "stack.tif") as tw:
        for _ in range(3):
            tw.write(rng.integers(0, 255, (16, 16), dtype=np.uint8), photometric="minisblack")
    tifffile.imwrite(inputs / "four.tif", rng.integers(0, 255, (16, 16, 4), dtype=np.uint8), photometric="minisblack",
                     planarconfig="contig")
    out = tmp_path / "out"
    assert _run("--model", model, str(inputs / "stack.tif"), str(inputs / "four.tif"), str(inputs / "a.png"), "-o", str(out)) == 1
    err = capsys.readouterr().err
    assert "stack.tif: multi-page TIFF: pages 1-2 of 3 not read" in err
    assert "four.tif: 4 samples per pixel: samples 1-3 not read" in err
    assert sorted(_hashes(out)) == ["a.png"]


def test_notes_on_reading_are_shown(tmp_path: Path, capsys: pytest.CaptureFixture[str], save_tiny_generator: Callable[..., Path]) -> None:
    from PIL import Image as PILImage

    model = str(save_tiny_generator(tmp_path / "m.safetensors"))
    PILImage.fromarray(np.full((9, 9, 4), 200, np.uint8), "RGBA").save(tmp_path / "rgba.png")
    assert _run("--model", model, str(tmp_path / "rgba.png"), "-o", str(tmp_path / "out")) == 0
    assert "note: " in (err := capsys.readouterr().err) and "rgba.png: alpha channel dropped" in err


def test_a_model_whose_output_is_not_finite_fails_every_file_instead_of_writing_black(
    tmp_path: Path, inputs: Path, capsys: pytest.CaptureFixture[str], save_tiny_generator: Callable[..., Path]) -> None:
    model = save_tiny_generator(tmp_path / "m.safetensors")
    ckpt = ck.load_checkpoint(model)
    head = next(k for k in ckpt.generator if k.endswith("head.weight"))
    ckpt.generator[head] = torch.full_like(ckpt.generator[head], 3e38)  # finite weights, infinite sums
    ck.save_checkpoint(model, ckpt)
    out = tmp_path / "out"
    assert _run("--model", str(model), str(inputs / "a.png"), str(inputs / "sub" / "b.tif"), "-o", str(out)) == 1
    captured = capsys.readouterr()
    failures = [line for line in captured.err.splitlines() if line.startswith("failed: ")]
    assert len(failures) == 2 and all("output holds NaN or Inf" in line for line in failures)
    assert "enhanced 0," in captured.out
    assert not out.exists() or not any(out.rglob("*"))


def test_tiny_tiles_are_raised_with_a_note_and_equal_the_whole_image(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], save_tiny_generator: Callable[..., Path]) -> None:
    # issue 15: --tile 8 wrote black seams with exit 0
    model = str(save_tiny_generator(tmp_path / "m.safetensors"))
    rng = np.random.default_rng(2)
    write_image(tmp_path / "img.png", rng.integers(0, 255, (70, 90, 3), dtype=np.uint8))
    assert _run("--model", model, str(tmp_path / "img.png"), "-o", str(tmp_path / "w"), "--tile", "off", "--quiet") == 0
    capsys.readouterr()
    assert _run("--model", model, str(tmp_path / "img.png"), "-o", str(tmp_path / "t"), "--tile", "8") == 0
    assert "note: tile 8 cannot hold its" in capsys.readouterr().err
    whole = read_image(tmp_path / "w" / "img.png").array.astype(np.int64)
    assert np.abs(read_image(tmp_path / "t" / "img.png").array - whole).max() <= 1


def test_max_memory_is_parsed_and_bad_sizes_are_usage_errors(
    tmp_path: Path, inputs: Path, capsys: pytest.CaptureFixture[str], save_tiny_generator: Callable[..., Path]) -> None:
    model = str(save_tiny_generator(tmp_path / "m.safetensors"))
    out = tmp_path / "out"
    for size in ("2G", "800Mi", "off"):
        assert _run("--model", model, str(inputs / "a.png"), "-o", str(out), "--max-memory", size, "--overwrite", "--quiet") == 0
    with pytest.raises(SystemExit):
        _run("--model", model, str(inputs / "a.png"), "-o", str(out), "--max-memory", "lots")
    assert "not off or a size such as 1.5G" in capsys.readouterr().err


def test_rerun_resumes_skipping_finished_outputs_and_removing_stale_temporaries(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], save_tiny_generator: Callable[..., Path]) -> None:
    model = str(save_tiny_generator(tmp_path / "m.safetensors"))
    rng = np.random.default_rng(3)
    for k in range(4):
        write_image(tmp_path / "in" / f"f{k}.png", rng.integers(0, 255, (24, 20, 3), dtype=np.uint8))
    out = tmp_path / "out"
    assert _run("--model", model, str(tmp_path / "in"), "-o", str(out), "--quiet") == 0
    # as a kill -9 leaves a run: two outputs written, one half-written temporary, one not started
    finished = {name: (out / name).stat().st_mtime_ns for name in ("f0.png", "f1.png")}
    (out / "f2.png").unlink()
    (out / "f3.png").rename(out / ".f3.png.abc123.tmp")
    assert _run("--model", model, str(tmp_path / "in"), "-o", str(out)) == 0
    assert "enhanced 2, skipped 2" in capsys.readouterr().out
    assert sorted(p.name for p in out.iterdir()) == ["f0.png", "f1.png", "f2.png", "f3.png"]
    assert {name: (out / name).stat().st_mtime_ns for name in finished} == finished


def test_consistency_option_switches_the_step_and_reports_the_fitted_blur(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], save_tiny_generator: Callable[..., Path]) -> None:
    model = str(save_tiny_generator(tmp_path / "m.safetensors"))  # not blind-trained: auto is off
    rng = np.random.default_rng(3)  # a smooth image: the step corrects where the residual is small
    smooth = cv2.GaussianBlur(rng.integers(0, 255, (40, 50, 3), dtype=np.uint8), (0, 0), 3.0)
    write_image(tmp_path / "img.png", smooth)
    assert _run("--model", model, str(tmp_path / "img.png"), "-o", str(tmp_path / "auto")) == 0
    assert "data consistency" not in capsys.readouterr().err
    assert _run("--model", model, str(tmp_path / "img.png"), "-o", str(tmp_path / "on"), "--consistency", "on") == 0
    err = capsys.readouterr().err
    assert "note: data consistency: the input matches the restoration blurred by a" in err and "grey levels RMS" in err
    assert _run("--model", model, str(tmp_path / "img.png"), "-o", str(tmp_path / "off"), "--consistency", "off") == 0
    auto, on, off = (read_image(tmp_path / d / "img.png").array for d in ("auto", "on", "off"))
    np.testing.assert_array_equal(auto, off)
    np.testing.assert_array_equal(on, microgan.load(model, device="cpu", consistency=True).enhance(smooth))
    with pytest.raises(SystemExit):
        _run("--model", model, str(tmp_path / "img.png"), "-o", str(tmp_path / "x"), "--consistency", "maybe")
