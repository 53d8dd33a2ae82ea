"""``microgan enhance`` on slides: streamed into a pyramidal BigTIFF, equal to the in-memory result;
refusals; a 2-rank torchrun killed with SIGKILL half way and resumed."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Callable

import numpy as np
import pytest
import tifffile

from microgan.cli import main
from microgan.infer.slide import tile_manifest, work_folder

from tests.commands.test_enhance_ranks import _kill_when, _slow_generator, _torchrun


def _slide(path: Path, a: np.ndarray, **kw) -> Path:
    tifffile.imwrite(path, a, tile=(64, 64), photometric="rgb", compression="zlib", **kw)
    return path


def _image(h: int, w: int, seed: int = 0) -> np.ndarray:
    import cv2

    a = np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8)
    return cv2.GaussianBlur(a, (7, 7), 1.5)


def test_a_streamed_slide_is_a_pyramid_equal_to_the_in_memory_result(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], save_tiny_generator: Callable[..., Path]) -> None:
    model = str(save_tiny_generator(tmp_path / "m.safetensors"))
    a = _image(300, 340)
    (tmp_path / "in").mkdir()
    _slide(tmp_path / "in" / "s.svs", a, bigtiff=True)
    _slide(tmp_path / "in" / "t.tif", a, resolution=(1e4 / 0.5, 1e4 / 0.5), resolutionunit="CENTIMETER")
    common = ("--model", model, "--backend", "torch", "--tile", "96")
    assert main(["enhance", str(tmp_path / "in"), "-o", str(tmp_path / "s"), "--stream", "on", *common]) == 0
    err = capsys.readouterr().err
    assert "slide: " in err and "340x300 RGB uint8, 0.5 um/px" in err and "MP/s" in err
    assert main(["enhance", str(tmp_path / "in" / "t.tif"), "-o", str(tmp_path / "m"), "--stream", "off", *common]) == 0
    expected = tifffile.imread(tmp_path / "m" / "t.tif")
    for name in ("s.tif", "t.tif"):  # the SVS restored into a TIFF beside it
        with tifffile.TiffFile(tmp_path / "s" / name) as tif:
            levels = tif.series[0].levels
            assert len(levels) == 2 and levels[0].keyframe.is_tiled
            assert np.array_equal(levels[0].asarray(), expected)
        assert json.loads(tile_manifest(tmp_path / "s" / name).read_text())["attempts"] == 1
    capsys.readouterr()
    # an output there is skipped; a partial run there needs --resume or --overwrite
    assert main(["enhance", str(tmp_path / "in" / "t.tif"), "-o", str(tmp_path / "s"), "--stream", "on", *common]) == 0
    assert "skipped 1" in capsys.readouterr().out
    (tmp_path / "s" / "t.tif").unlink()
    work_folder(tmp_path / "s" / "t.tif").mkdir()
    (work_folder(tmp_path / "s" / "t.tif") / "job.json").write_text("{}")
    assert main(["enhance", str(tmp_path / "in" / "t.tif"), "-o", str(tmp_path / "s"), "--stream", "on", *common]) == 1
    err = capsys.readouterr().err
    assert "failed: " in err and "--resume to finish it, --overwrite to start again" in err and "Traceback" not in err
    assert main(["enhance", str(tmp_path / "in" / "t.tif"), "-o", str(tmp_path / "s"), "--stream", "on", "--overwrite",
                 *common]) == 0
    assert np.array_equal(tifffile.imread(tmp_path / "s" / "t.tif"), expected)


def test_an_ome_zarr_slide_is_restored_into_an_ome_zarr(tmp_path: Path, save_tiny_generator: Callable[..., Path]) -> None:
    zarr = pytest.importorskip("zarr")
    model = str(save_tiny_generator(tmp_path / "m.safetensors"))
    a = _image(300, 280, seed=4)
    root = zarr.open_group(str(tmp_path / "s.ome.zarr"), mode="w", zarr_format=2)
    root.create_array("0", data=a, chunks=(64, 64, 3))
    root.attrs["multiscales"] = [{"version": "0.4", "axes": [{"name": "y", "type": "space"}, {"name": "x", "type": "space"},
                                                             {"name": "c", "type": "channel"}],
                                  "datasets": [{"path": "0"}]}]
    tifffile.imwrite(tmp_path / "s.tif", a, photometric="rgb")
    common = ("--model", model, "--backend", "torch", "--tile", "96")
    assert main(["enhance", str(tmp_path / "s.ome.zarr"), "-o", str(tmp_path / "z"), *common]) == 0
    assert main(["enhance", str(tmp_path / "s.tif"), "-o", str(tmp_path / "m"), "--stream", "off", *common]) == 0
    out = zarr.open_group(str(tmp_path / "z" / "s.ome.zarr"), mode="r")
    assert len(out.attrs["multiscales"][0]["datasets"]) == 2
    assert [a["name"] for a in out.attrs["multiscales"][0]["axes"]] == ["c", "y", "x"]  # NGFF: channels first
    assert np.array_equal(np.moveaxis(np.asarray(out["0"][:]), 0, -1), tifffile.imread(tmp_path / "m" / "s.tif"))


def test_a_damaged_slide_fails_with_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                             save_tiny_generator: Callable[..., Path]) -> None:
    model = str(save_tiny_generator(tmp_path / "m.safetensors"))
    path = _slide(tmp_path / "s.tif", _image(200, 200))
    path.write_bytes(path.read_bytes()[:-4000])
    assert main(["enhance", str(path), "-o", str(tmp_path / "o"), "--stream", "on", "--model", model]) == 1
    err = capsys.readouterr().err
    assert "failed: " in err and "truncated TIFF: tile" in err and "Traceback" not in err


def test_two_ranks_killed_half_way_resume_to_the_uninterrupted_result(tmp_path: Path) -> None:
    model = _slow_generator(tmp_path / "slow.safetensors")
    a = _image(720, 720, seed=2)
    path = _slide(tmp_path / "s.tif", a)
    common = ("--model", model, "--backend", "torch", "--tile", "208", "--stream", "on", "--consistency", "off")
    dst = tmp_path / "o" / "s.tif"
    run = _torchrun(str(path), "-o", str(tmp_path / "o"), *common)

    def listed() -> int:
        return sum(line.startswith('["network"') for manifest in work_folder(dst).glob("tiles.rank*.jsonl")
                   for line in manifest.read_text().splitlines())

    _kill_when(run, lambda: listed() >= 4)
    before = listed()
    assert before >= 4 and not dst.exists(), "the run was not caught half way"
    rerun = _torchrun(str(path), "-o", str(tmp_path / "o"), *common, "--resume")
    stdout, stderr = rerun.communicate(timeout=600)
    assert rerun.returncode == 0, stderr
    assert "enhanced 1, skipped 0" in stdout and "(2 ranks)" in stdout
    doc = json.loads(tile_manifest(dst).read_text())
    attempts = [t["attempt"] for t in doc["tiles"]["network"].values()]
    assert doc["attempts"] == 2 and attempts.count(1) >= before and attempts.count(2) > 0
    assert len(attempts) == len(set(doc["tiles"]["network"]))  # every tile once
    single = tmp_path / "single"
    assert main(["enhance", str(path), "-o", str(single), *common[:-4], "--stream", "off", "--consistency", "off"]) == 0
    assert np.array_equal(tifffile.imread(dst), tifffile.imread(single / "s.tif"))
