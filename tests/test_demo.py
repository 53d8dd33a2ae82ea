"""microgan.demo pieces: which images it takes, the output folder guard, the model check, the headline.

The demo end to end (prepare, model, baselines, reports) is in tests/commands/test_demo.py."""
from __future__ import annotations

import numpy as np
import pytest

from microgan.data.io import read_image, write_image
from microgan.demo import (
    SKIMAGE_BANDS,
    DemoConfig,
    Headline,
    bccd_images,
    bundled_images,
    demo_models,
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
    images = bccd_images(root / "BCCD", dest, 3, 2, None)
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
    images = bccd_images(root / "BCCD", tmp_path / "source", 10, 4, 2)
    assert images.counts == {"test": 2, "val": 1, "train": 2}
    assert images.segmentation == {}  # BCCD: the defaults, tuned on BCCD


def test_bccd_images_without_a_split_list_is_a_clear_error(tmp_path):
    root = _fake_bccd(tmp_path / "data", {"train": 2, "test": 2})
    with pytest.raises(MicroGANError, match="no val images"):
        bccd_images(root / "BCCD", tmp_path / "source", 2, 2, None)


def test_skimage_images_cut_the_tissue_into_split_bands(tmp_path):
    images = skimage_images(tmp_path)
    expected = {"test": 2, "val": 1}
    assert images.counts == expected and not images.blood_smears
    cell = read_image(tmp_path / "test" / "cell.png").array
    assert cell.shape == (660, 550) and cell.dtype == np.uint8
    for split in expected:
        band = read_image(tmp_path / split / f"immunohistochemistry-{split}.png").array
        top, bottom = SKIMAGE_BANDS[split]
        assert band.shape == (round(bottom * 512) - round(top * 512), 512, 3)
    assert images.segmentation["min_area"] < 1500  # not BCCD's defaults


@pytest.mark.parametrize("train", [False, True])
def test_bundled_images_score_and_tune_on_different_fields(tmp_path, train):
    images = bundled_images(tmp_path, train)
    assert images.counts == {"test": 12, "val": 4, **({"train": 4} if train else {})} and images.blood_smears
    test = {p.name for p in (tmp_path / "test").iterdir()}
    val = {p.name for p in (tmp_path / "val").iterdir()}
    assert len(test) == 12 and len(val) == 4 and not test & val
    if train:  # trains on the tuning fields, never on a scored one
        assert {p.name for p in (tmp_path / "train").iterdir()} == val


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


def test_demo_models_are_the_bundled_psf_and_blind_models_or_the_given_one(tmp_path, monkeypatch):
    monkeypatch.setattr(ck, "BUNDLED_DIR", tmp_path)
    for name in ("microgan-psf", "microgan-blind", "other"):
        (tmp_path / f"{name}.safetensors").write_bytes(b"")
    assert demo_models(DemoConfig()) == [tmp_path / "microgan-psf.safetensors", tmp_path / "microgan-blind.safetensors"]
    assert demo_models(DemoConfig(model=tmp_path / "other.safetensors")) == [tmp_path / "other.safetensors"]


def test_headline_gains_and_summary():
    head = Headline(model="microgan-bccd", training="L1-trained generator (12000 steps, no adversarial training)",
                    psnr={"microgan-bccd": 45.0, "identity": 40.0, "richardson-lucy": 44.5},
                    ssim={"microgan-bccd": 0.98, "identity": 0.95, "richardson-lucy": None})
    assert head.gain("identity") == pytest.approx(5.0)
    assert head.gain("identity", "ssim") == pytest.approx(0.03)
    assert head.gain("richardson-lucy", "ssim") is None
    assert head.beats() and head.beats("identity")
    assert head.summary() == "microgan-bccd, no PSF given: 45.00 dB / 0.9800 (vs Richardson-Lucy +0.50 dB, SSIM n/a)"
    worse = Headline("m", "", {"m": 45.0, "identity": 40.0, "richardson-lucy": 44.5},
                     {"m": 0.97, "identity": 0.95, "richardson-lucy": 0.98})
    assert not worse.beats()  # higher PSNR, lower SSIM: not a win


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
    assert told.summary().startswith("microgan-psf, told the PSF: 34.00 dB") and "+1.00 dB" in told.summary()
    assert blind.label == "microgan-blind, no PSF given"
