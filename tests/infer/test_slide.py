"""A slide streamed tile by tile equals the image restored in memory, and resumes after an interruption."""
from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest
import tifffile
import torch

from microgan.archs import build_generator
from microgan.core import fourier
from microgan.core.ranks import RankPosition
from microgan.data.slides import open_slide
from microgan.errors import MicroGANError
from microgan.infer import Enhancer
from microgan.infer import slide as slide_module
from microgan.infer.slide import restore_slide, tile_manifest, work_folder

ONE = RankPosition(0, 1)


def _enhancer(channels: int = 3, **kw) -> Enhancer:
    torch.manual_seed(0)
    net = build_generator({"type": "unet", "channels": [4, 8, 16], "in_channels": channels, "out_channels": channels}).eval()
    return Enhancer(net, {}, device="cpu", precision="fp32", backend="torch", **{"tile": 64, "consistency": True, **kw})


@pytest.fixture()
def small_regions(monkeypatch: pytest.MonkeyPatch) -> None:
    """Consistency regions of 64 px and blocks of 128: a small slide has many of both."""
    monkeypatch.setattr(fourier, "TILE", 64)
    monkeypatch.setattr(slide_module, "BLOCK", 128)


@pytest.fixture()
def always_correct(monkeypatch: pytest.MonkeyPatch) -> None:
    """The consistency step runs whatever the untrained test network made: the PSF is fitted as
    always (on the window chosen as always) and taken as informative, in memory and streamed alike."""
    from microgan.infer import consistency

    real = consistency.fit_psf

    def fit(*args, **kwargs):
        found = real(*args, **kwargs)
        return consistency.PsfFit(found.kind, found.width, found.kernel, found.residual, informative=True)

    monkeypatch.setattr(consistency, "fit_psf", fit)
    monkeypatch.setattr(slide_module, "fit_psf", fit)


def _slide(path: Path, a: np.ndarray) -> Path:
    tifffile.imwrite(path, a, tile=(64, 64), photometric="rgb" if a.ndim == 3 else "minisblack", compression="zlib")
    return path


def _blurred(h: int, w: int, channels: int = 3, dtype=np.uint8) -> np.ndarray:
    rng = np.random.default_rng(0)
    top = np.iinfo(dtype).max
    a = np.zeros((h, w, channels), np.float32) + 0.8
    for _ in range(h * w // 900):
        cv2.circle(a, (int(rng.integers(w)), int(rng.integers(h))), int(rng.integers(4, 12)), (0.3, 0.4, 0.5)[:channels], -1)
    a = cv2.GaussianBlur(a, (15, 15), 2.0, borderType=cv2.BORDER_REFLECT_101).reshape(h, w, channels)
    a = np.clip(a + rng.normal(0, 0.004, a.shape), 0, 1)
    a = (a * top + 0.5).astype(dtype)
    return a[..., 0] if channels == 1 else a


@pytest.mark.parametrize("channels,dtype", [(3, np.uint8), (1, np.uint16)])
def test_streamed_equals_in_memory_pixel_for_pixel(tmp_path: Path, small_regions, always_correct, channels: int,
                                                   dtype: type) -> None:
    a = _blurred(333, 420, channels, dtype)  # larger than the PSF fit's window: the window is chosen as in memory
    enhancer = _enhancer(channels)
    expected = enhancer.enhance(a)
    assert enhancer.fits[0].informative  # the consistency step ran, in blocks
    with open_slide(_slide(tmp_path / "s.tif", a)) as source:
        result = restore_slide(enhancer, source, tmp_path / "o.tif", ONE)
    out = tifffile.imread(tmp_path / "o.tif")
    assert out.dtype == a.dtype and np.array_equal(out, expected)
    assert result.computed["consistency"] == 12 and result.fit.width == enhancer.fits[0].width
    assert not work_folder(tmp_path / "o.tif").exists()
    tiles = json.loads(tile_manifest(tmp_path / "o.tif").read_text())["tiles"]
    assert len(tiles["network"]) == result.computed["network"] > 20


def test_an_interrupted_slide_resumes_without_recomputing_finished_tiles(tmp_path: Path, small_regions,
                                                                        always_correct) -> None:
    a = _blurred(300, 260)
    enhancer = _enhancer()
    expected = enhancer.enhance(a)
    dst = tmp_path / "o.tif"
    with open_slide(_slide(tmp_path / "s.tif", a)) as source:
        with pytest.raises(MicroGANError, match="stopped"):
            restore_slide(enhancer, source, dst, ONE, stop_after=7)
        assert not dst.exists() and (work_folder(dst) / "job.json").is_file()
        with pytest.raises(MicroGANError, match="partial restoration .* --resume to finish it, --overwrite"):
            restore_slide(enhancer, source, dst, ONE)
        second = restore_slide(enhancer, source, dst, ONE, resume=True)
    assert np.array_equal(tifffile.imread(dst), expected)
    assert second.reused["network"] == 7
    doc = json.loads(tile_manifest(dst).read_text())
    attempts = [t["attempt"] for t in doc["tiles"]["network"].values()]
    assert attempts.count(1) == 7 and attempts.count(2) == second.computed["network"]
    assert len(attempts) == 7 + second.computed["network"]  # each tile computed once, in one attempt


def test_damaged_tiles_are_computed_again_on_resume(tmp_path: Path, small_regions) -> None:
    a = _blurred(200, 200)
    enhancer = _enhancer(consistency=False)
    expected = enhancer.enhance(a)
    dst = tmp_path / "o.tif"
    with open_slide(_slide(tmp_path / "s.tif", a)) as source:
        with pytest.raises(MicroGANError, match="stopped"):
            restore_slide(enhancer, source, dst, ONE, stop_after=5)
        raw = work_folder(dst) / "network.raw"
        data = bytearray(raw.read_bytes())
        data[:30] = bytes(30)  # tile 0's first ten pixels overwritten: its CRC no longer matches
        raw.write_bytes(bytes(data))
        again = restore_slide(enhancer, source, dst, ONE, resume=True)
    assert again.reused["network"] == 4 and np.array_equal(tifffile.imread(dst), expected)


def test_resume_refuses_other_settings_and_a_changed_input(tmp_path: Path, small_regions) -> None:
    a = _blurred(200, 200)
    dst = tmp_path / "o.tif"
    path = _slide(tmp_path / "s.tif", a)
    with open_slide(path) as source:
        with pytest.raises(MicroGANError, match="stopped"):
            restore_slide(_enhancer(), source, dst, ONE, stop_after=2)
        with pytest.raises(MicroGANError, match=r"other settings \(consistency\)"):
            restore_slide(_enhancer(consistency=False), source, dst, ONE, resume=True)
    _slide(path, a[::-1].copy())
    with open_slide(path) as source:
        with pytest.raises(MicroGANError, match="a partial run of another input"):
            restore_slide(_enhancer(), source, dst, ONE, resume=True)
        restore_slide(_enhancer(), source, dst, ONE, overwrite=True)  # starts again
    assert np.array_equal(tifffile.imread(dst), _enhancer().enhance(a[::-1].copy()))


def test_overwrite_never_deletes_files_it_did_not_write(tmp_path: Path, small_regions) -> None:
    a = _blurred(150, 150)
    dst = tmp_path / "o.tif"
    work_folder(dst).mkdir()
    (work_folder(dst) / "notes.txt").write_text("mine")
    with open_slide(_slide(tmp_path / "s.tif", a)) as source, \
            pytest.raises(MicroGANError, match="holds files this run did not write"):
        restore_slide(_enhancer(), source, dst, ONE, overwrite=True)
    assert (work_folder(dst) / "notes.txt").read_text() == "mine"


def test_a_flat_slide_is_its_own_restoration(tmp_path: Path) -> None:
    a = np.full((120, 130, 3), 200, np.uint8)
    with open_slide(_slide(tmp_path / "s.tif", a)) as source:
        restore_slide(_enhancer(), source, tmp_path / "o.tif", ONE)
    assert np.array_equal(tifffile.imread(tmp_path / "o.tif"), a)


def test_percentile_bounds_from_the_histogram_equal_numpys() -> None:
    rng = np.random.default_rng(5)
    values = rng.integers(0, 4000, 10_001).astype(np.uint16)
    hist = np.bincount(values, minlength=65536)
    assert slide_module._percentiles(hist, [1.0, 99.8, 50.0, 37.3]) == list(np.percentile(values, [1.0, 99.8, 50.0, 37.3]))


def test_a_model_told_the_psf_is_refused_for_slides(tmp_path: Path) -> None:
    enhancer = _enhancer()
    enhancer.takes_psf = True
    with open_slide(_slide(tmp_path / "s.tif", _blurred(100, 100))) as source, \
            pytest.raises(MicroGANError, match="told the PSF does not restore slides"):
        restore_slide(enhancer, source, tmp_path / "o.tif", ONE)
