"""report.json validates against its schema; report.html is one self-contained, well-formed page."""
from __future__ import annotations

import json
import math
import re
from html.parser import HTMLParser

import jsonschema
import numpy as np
import pytest

from microgan.core.atomic import atomic_write_json
from microgan.evaluate import report as rep
from microgan.evaluate.runner import CropScore, Evaluation, Method


def _fake_evaluation(sizes=((2, 9), (5, 6), (20, 30), (64, 48), (120, 90)), with_model=True) -> Evaluation:
    rng = np.random.default_rng(0)
    identity = Method("identity", lambda lr, d: lr, "baseline", settings={})
    wiener = Method("wiener", lambda lr, d: lr, "baseline", settings={"balance": 0.01}, val_psnr=28.5)
    methods = [identity, wiener]
    if with_model:
        methods.insert(0, Method("microgan", lambda lr, d: lr, "model", params=3_063_000, settings={"checkpoint": "x"}))
    crops = []
    for i, (h, w) in enumerate(sizes):
        base = float(rng.uniform(24, 30))
        tiny = min(h, w) < 3
        crop = CropScore(id=f"img{i:03d}_{i}", height=h, width=w, label="RBC" if i % 2 else "", psnr_input=base)
        for m in methods:
            gain = 0.0 if m.name == "identity" else float(rng.uniform(-0.5, 3))
            crop.psnr[m.name] = base + gain
            crop.ssim[m.name] = math.nan if tiny else float(rng.uniform(0.6, 0.95))
            crop.time_s[m.name] = float(rng.uniform(1e-4, 1e-2))
        crops.append(crop)
    return Evaluation(split="test", methods=methods, crops=crops)


def _images(evaluation: Evaluation):
    out = {}
    for crop in evaluation.crops:
        img = np.zeros((crop.height, crop.width, 3), np.uint8)
        out[crop.id] = {"LR": img, **{m.name: img for m in evaluation.methods}, "HR": img}
    return out


def test_report_json_validates_against_schema(tmp_path):
    evaluation = _fake_evaluation()
    report = rep.build_report(evaluation, data="/prep", tuning={"split": "val", "n_images": 3})
    path = tmp_path / "report.json"
    atomic_write_json(path, report)
    loaded = json.loads(path.read_text())
    jsonschema.validate(loaded, rep.load_schema())
    assert loaded["split"] == "test" and loaded["n_images"] == 5
    m = loaded["methods"]["microgan"]
    assert m["params"] == 3_063_000 and loaded["methods"]["wiener"]["params"] is None
    expected = np.mean([c.psnr["microgan"] for c in evaluation.crops])
    assert m["psnr"] == pytest.approx(expected, abs=1e-6)
    # SSIM mean skips the 2-px crop (NaN), and the report says so
    assert m["ssim"] == pytest.approx(np.mean([c.ssim["microgan"] for c in evaluation.crops[1:]]), abs=1e-6)
    assert loaded["n_ssim_skipped"] == 1
    assert loaded["methods"]["wiener"]["settings"] == {"balance": 0.01}


def test_schema_rejects_what_the_issue_forbids():
    report = rep.build_report(_fake_evaluation())
    schema = rep.load_schema()
    for broken in (
        {k: v for k, v in report.items() if k != "n_images"},
        {**report, "extra": 1},
        {**report, "methods": {"x": {**report["methods"]["wiener"], "params": 1.5}}},
        {**report, "methods": {"x": {k: v for k, v in report["methods"]["wiener"].items() if k != "time_s"}}},
    ):
        with pytest.raises(jsonschema.ValidationError):
            jsonschema.validate(broken, schema)


def test_all_ssim_nan_gives_null_and_still_validates():
    evaluation = _fake_evaluation(sizes=((1, 1), (2, 5)), with_model=False)
    report = rep.build_report(evaluation)
    assert report["methods"]["wiener"]["ssim"] is None
    jsonschema.validate(json.loads(json.dumps(report, allow_nan=False)), rep.load_schema())


class _Collector(HTMLParser):
    def __init__(self):
        super().__init__()
        self.refs, self.tags, self.imgs = [], [], 0

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        self.imgs += tag == "img"
        for key, value in attrs:
            if key in ("src", "href", "srcset", "data", "poster"):
                self.refs.append(value or "")


def test_html_is_self_contained(tmp_path):
    evaluation = _fake_evaluation()
    page = rep.render_html(evaluation, _images(evaluation), data="/prep", tuning={"split": "val", "n_images": 3})
    path = tmp_path / "report.html"
    rep.write_html(path, page)
    parser = _Collector()
    parser.feed(path.read_text())
    assert parser.refs and all(r.startswith("data:image/png;base64,") for r in parser.refs)
    assert "script" not in parser.tags and "link" not in parser.tags
    assert not re.search(r"https?://|url\(", page)
    # table rows, a plot, example strips (small/medium/large) and worst cases (LR + 3 methods + HR each)
    assert page.count("<tr") == 1 + 3
    assert "Worst #1" in page and "Small crop" in page and "Large crop" in page
    assert "image-rendering: pixelated" in page
    assert "1 crop(s) under 3 px" in page


def test_examples_and_worst_cases_selection():
    evaluation = _fake_evaluation()
    picked = rep.pick_examples(evaluation)
    areas = {c.id: c.pixels for c in evaluation.crops}
    assert [t for t, _ in picked] == ["Small crop", "Medium crop", "Large crop"]
    assert areas[picked[0][1]] < areas[picked[1][1]] < areas[picked[2][1]]
    assert rep.primary_method(evaluation) == "microgan"
    worst = rep.worst_cases(evaluation, "microgan", n=2)
    gains = sorted((c.psnr["microgan"] - c.psnr_input, c.id) for c in evaluation.crops)
    assert worst == [gains[0][1], gains[1][1]]
    no_model = _fake_evaluation(with_model=False)
    assert rep.primary_method(no_model) == "wiener"


def test_png_uri_round_trips_16_bit_and_gray():
    import base64

    import cv2

    gray16 = (np.arange(12, dtype=np.uint16).reshape(3, 4) * 5000)
    uri = rep.png_data_uri(gray16)
    decoded = cv2.imdecode(np.frombuffer(base64.b64decode(uri.split(",", 1)[1]), np.uint8), cv2.IMREAD_UNCHANGED)
    assert decoded.shape == (3, 4) and np.array_equal(decoded, (gray16 >> 8).astype(np.uint8))


def test_verdict_says_by_how_much_a_model_wins_or_loses():
    report = rep.build_report(_fake_evaluation())
    for m, (p, s) in {"microgan": (30.0, 0.90), "identity": (27.0, 0.85), "wiener": (31.0, 0.88)}.items():
        report["methods"][m].update(psnr=p, ssim=s)
    (line,) = rep.verdicts(report)
    assert line == ("microgan: PSNR -1.00 dB vs best baseline wiener (+3.00 dB vs input); "
                    "SSIM +0.0200 vs best baseline wiener (+0.0500 vs input): does not beat PSNR (wiener).")
    report["methods"]["wiener"]["psnr"] = 29.0
    assert rep.verdicts(report)[0].endswith("beats every baseline.")
    assert rep.verdicts(rep.build_report(_fake_evaluation(with_model=False))) == []


def test_text_table_lists_every_method():
    text = rep.text_table(rep.build_report(_fake_evaluation()))
    assert all(name in text for name in ("microgan", "identity", "wiener"))
    assert "3.063M" in text
