"""The BCCD fields in the package: few and small, checked by checksum, from BCCD's test split only."""
from __future__ import annotations

import hashlib
import json
import shutil

import numpy as np
import pytest

from microgan.data import samples
from microgan.errors import MicroGANError


def test_at_most_16_fields_in_2_mb_with_licence_and_roles() -> None:
    fields = samples.sample_fields()
    assert 1 <= len(fields) <= 16
    assert sum(f.path.stat().st_size for f in fields) <= 2_000_000
    assert {f.role for f in fields} == set(samples.ROLES)
    assert "MIT License" in (samples.FIELDS_DIR / "LICENSE").read_text()
    manifest = json.loads((samples.FIELDS_DIR / "fields.json").read_text())
    assert "BCCD" in manifest["source"] and all(e["bccd_split"] == "test" for e in manifest["fields"])
    assert sorted(p.name for p in samples.FIELDS_DIR.glob("*.jpg")) == sorted(f.path.name for f in fields)


def test_fields_are_bccd_test_images_no_bundled_model_trained_on(bccd_root) -> None:
    """Byte for byte BCCD's own files, listed in its test split and in neither train nor val, the
    splits the bundled models trained and were validated on (their cards say so)."""
    main = bccd_root / "BCCD" / "ImageSets" / "Main"
    test = set(main.joinpath("test.txt").read_text().split())
    seen = set(main.joinpath("train.txt").read_text().split()) | set(main.joinpath("val.txt").read_text().split())
    for f in samples.sample_fields():
        stem = f.path.stem
        assert stem in test and stem not in seen
        assert f.path.read_bytes() == (bccd_root / "BCCD" / "JPEGImages" / f.path.name).read_bytes()


def test_a_damaged_field_is_refused_by_its_checksum(tmp_path, monkeypatch) -> None:
    copy = tmp_path / "fields"
    shutil.copytree(samples.FIELDS_DIR, copy)
    monkeypatch.setattr(samples, "FIELDS_DIR", copy)
    assert len(samples.sample_fields()) == len(samples.sample_fields("score")) + len(samples.sample_fields("tune"))
    victim = samples.sample_fields("tune")[0].path
    victim.write_bytes(victim.read_bytes()[:-10])
    with pytest.raises(MicroGANError, match=f"{victim.name}.*checksum.*reinstall"):
        samples.sample_fields()
    (copy / "fields.json").write_text("{")
    with pytest.raises(MicroGANError, match="fields.json.*reinstall"):
        samples.sample_fields()


def test_the_napari_field_and_its_paper_blur() -> None:
    sharp, blurred = samples.bccd_field(), samples.blurred_bccd_field()
    assert sharp.shape == blurred.shape == (480, 640, 3) and sharp.dtype == blurred.dtype == np.uint8
    assert samples.bccd_field_path().name == samples.NAPARI_FIELD
    assert hashlib.sha256(samples.bccd_field_path().read_bytes()).hexdigest() in {f.sha256 for f in samples.sample_fields()}
    assert np.abs(sharp.astype(int) - blurred).mean() > 1
