"""microgan.demo pieces: which images it takes, the output folder guard, the model check, the headline.

The demo end to end (prepare, model, baselines, reports) is in tests/commands/test_demo.py."""
from __future__ import annotations

import numpy as np
import pytest

from microgan.data.io import read_image, write_image
from microgan.demo import (
    OUTPUTS,
    SKIMAGE_BANDS,
    DemoConfig,
    Headline,
    bccd_images,
    claim_output,
    pretrained_model,
    skimage_images,
)
from microgan.errors import CheckpointError, ConfigError, MicroGANError
from microgan.core import checkpoint as ck


def _fake_bccd(root, counts):
    """A BCCD layout with ``counts[split]`` tiny JPEGs listed in ImageSets/Main/<split>.txt."""
    bccd = root / "BCCD"
    (bccd / "Annotations").mkdir(parents=True)
    (bccd / "ImageSets" / "Main").mkdir(parents=True)
    index = 0
    for split, n in counts.items():
        names = []
        for _ in range(n):
            name = f"BloodImage_{index:05d}"
            write_image(bccd / "JPEGImages" / f"{name}.jpg", np.full((8, 8, 3), index, np.uint8))
            names.append(name)
            index += 1
        (bccd / "ImageSets" / "Main" / f"{split}.txt").write_text("\n".join(names) + "\n")
    return root


def test_bccd_images_copies_an_even_spread_of_each_split(tmp_path):
    root = _fake_bccd(tmp_path / "data", {"train": 5, "val": 4, "test": 7})
    dest = tmp_path / "source"
    images = bccd_images(root / "BCCD", dest, DemoConfig(images=3, val_images=2))
    assert images.counts == {"test": 3, "val": 2}
    # test images are 00009..00015: first, middle and last of the list
    assert sorted(p.name for p in (dest / "test").iterdir()) == [
        "BloodImage_00009.jpg", "BloodImage_00012.jpg", "BloodImage_00015.jpg"]
    assert sorted(p.name for p in (dest / "val").iterdir()) == ["BloodImage_00005.jpg", "BloodImage_00008.jpg"]
    assert not (dest / "train").exists()  # only with train=True
    original = (root / "BCCD" / "JPEGImages" / "BloodImage_00012.jpg").read_bytes()
    assert (dest / "test" / "BloodImage_00012.jpg").read_bytes() == original  # copied unchanged


def test_bccd_images_takes_train_images_when_training_and_all_when_asked_for_more(tmp_path):
    root = _fake_bccd(tmp_path / "data", {"train": 5, "val": 1, "test": 2})
    images = bccd_images(root / "BCCD", tmp_path / "source", DemoConfig(images=10, train=True, train_images=2))
    assert images.counts == {"test": 2, "val": 1, "train": 2}
    assert images.segmentation == {}  # BCCD: the defaults, tuned on BCCD


def test_bccd_images_without_a_split_list_is_a_clear_error(tmp_path):
    root = _fake_bccd(tmp_path / "data", {"train": 2, "test": 2})
    with pytest.raises(MicroGANError, match="no val images"):
        bccd_images(root / "BCCD", tmp_path / "source", DemoConfig())


@pytest.mark.parametrize("train", [False, True])
def test_skimage_images_cut_the_tissue_into_split_bands(tmp_path, train):
    images = skimage_images(tmp_path, train)
    expected = {"test": 2, "val": 1, **({"train": 1} if train else {})}
    assert images.counts == expected
    cell = read_image(tmp_path / "test" / "cell.png").array
    assert cell.shape == (660, 550) and cell.dtype == np.uint8
    heights = {}
    for split in expected:
        band = read_image(tmp_path / split / f"immunohistochemistry-{split}.png").array
        assert band.shape[1:] == (512, 3)
        heights[split] = band.shape[0]
    for split, height in heights.items():
        top, bottom = SKIMAGE_BANDS[split]
        assert height == round(bottom * 512) - round(top * 512)
    assert images.segmentation["min_area"] < 1500  # not BCCD's defaults


def test_claim_output_refuses_a_previous_demo_and_overwrite_removes_only_its_outputs(tmp_path):
    claim_output(tmp_path, overwrite=False)  # empty or absent: fine
    (tmp_path / "prepared").mkdir()
    (tmp_path / "prepared" / "manifest.csv").write_text("x")
    (tmp_path / "report.html").write_text("old")
    (tmp_path / "notes.txt").write_text("mine")
    with pytest.raises(MicroGANError, match="previous demo.*--overwrite"):
        claim_output(tmp_path, overwrite=False)
    assert (tmp_path / "report.html").read_text() == "old"
    claim_output(tmp_path, overwrite=True)
    assert not any((tmp_path / name).exists() for name in OUTPUTS)
    assert (tmp_path / "notes.txt").read_text() == "mine"


def test_pretrained_model_missing_bundled_weights_says_what_to_do(tmp_path, monkeypatch):
    monkeypatch.setattr(ck, "BUNDLED_DIR", tmp_path)
    with pytest.raises(CheckpointError) as info:
        pretrained_model(None)
    message = str(info.value)
    assert "--train" in message and "--model" in message and "\n" not in message


def test_pretrained_model_resolves_the_bundled_default_or_a_given_one(tmp_path, monkeypatch):
    monkeypatch.setattr(ck, "BUNDLED_DIR", tmp_path)
    bundled = tmp_path / f"{ck.BUNDLED_DEFAULT}.safetensors"
    bundled.write_bytes(b"stand-in")
    assert pretrained_model(None) == bundled
    run = tmp_path / "run"
    run.mkdir()
    (run / ck.BEST_NAME).write_bytes(b"stand-in")
    assert pretrained_model(run) == run / ck.BEST_NAME
    with pytest.raises(CheckpointError, match="nothing-here"):
        pretrained_model(tmp_path / "nothing-here.safetensors")


def test_companions_are_the_other_bundled_models_beside_the_default_only(tmp_path, monkeypatch):
    from microgan import demo
    from microgan.core import checkpoint as ck

    for name in ("a", "b", "c"):
        (tmp_path / f"{name}.safetensors").write_bytes(b"")
    monkeypatch.setattr(ck, "BUNDLED_DIR", tmp_path)
    assert demo.companions(tmp_path / "b.safetensors", None, False) == [tmp_path / "a.safetensors", tmp_path / "c.safetensors"]
    assert demo.companions(tmp_path / "b.safetensors", tmp_path / "b.safetensors", False) == []  # a model was given
    assert demo.companions(tmp_path / "run.safetensors", None, True) == []  # trained here


def test_headline_gains():
    head = Headline(model="microgan-bccd", training="L1-trained generator (12000 steps, no adversarial training)",
                    psnr={"microgan-bccd": 45.0, "identity": 40.0, "richardson-lucy": 44.5},
                    ssim={"microgan-bccd": 0.98, "identity": 0.95, "richardson-lucy": None})
    assert head.gain("identity") == pytest.approx(5.0)
    assert head.gain("identity", "ssim") == pytest.approx(0.03)
    assert head.gain("richardson-lucy", "ssim") is None
    lines = head.lines(rl_iterations=80)
    assert lines[0] == "model microgan-bccd: L1-trained generator (12000 steps, no adversarial training)"
    assert lines[1] == "microgan-bccd vs the blurred input: PSNR +5.00 dB, SSIM +0.0300"
    assert lines[2] == "microgan-bccd vs Richardson-Lucy (80 iterations): PSNR +0.50 dB, SSIM n/a"


@pytest.mark.parametrize("kwargs", [
    {"images": 0}, {"tune_limit": 0}, {"limit": 0}, {"max_minutes": 0},
    {"train": True, "model": "x.safetensors"}, {"train": True, "train_images": 0},
])
def test_config_rejects_nonsense(kwargs):
    with pytest.raises(ConfigError):
        DemoConfig(**kwargs)


def test_a_model_told_the_psf_is_headlined_as_told() -> None:
    from microgan.demo import headline

    def method(kind: str, psnr: float, **settings):
        return {"kind": kind, "psnr": psnr, "ssim": 0.9, "settings": {"training": "L1", **settings}}

    report = {"methods": {
        "identity": method("baseline", 30.0), "richardson-lucy": method("baseline", 33.0),
        "microgan-blind": method("model", 32.0),
        "microgan-psf": method("model", 34.0, psf="told each crop's own (the degradation's)"),
    }}
    blind, told = headline(report, "microgan-blind"), headline(report, "microgan-psf")
    assert not blind.told and told.told
    lines = told.lines()
    assert lines[0].startswith("model microgan-psf, told the PSF as Richardson-Lucy is")
    assert "PSNR +1.00 dB" in lines[2]
