"""bioimage.io packages: pass ``bioimageio test``, declare what the model needs, agree with ``microgan enhance``."""
from __future__ import annotations

import io
import subprocess
import sys
import zipfile
from pathlib import Path
from typing import Any, Dict

import numpy as np
import pytest
import yaml

pytest.importorskip("bioimageio.core", reason="bioimage.io export needs the 'bioimageio' extra")

from microgan.cli import main  # noqa: E402
from microgan.data.io import read_image, write_image  # noqa: E402
from microgan.errors import MicroGANError  # noqa: E402
from microgan.export import bioimageio  # noqa: E402
from microgan.export.bioimageio import export_bioimageio  # noqa: E402
from microgan.infer import Enhancer  # noqa: E402

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning", "ignore::UserWarning")


def _rdf(package: Path) -> Dict[str, Any]:
    with zipfile.ZipFile(package) as z:
        return yaml.safe_load(z.read("rdf.yaml"))


def _array(package: Path, name: str) -> np.ndarray:
    with zipfile.ZipFile(package) as z:
        return np.load(io.BytesIO(z.read(name)))


def _image(package: Path, name: str, folder: Path) -> np.ndarray:
    path = folder / name
    with zipfile.ZipFile(package) as z:
        path.write_bytes(z.read(name))
    return read_image(path).array


def test_bundled_model_package_passes_bioimageio_test_and_matches_enhance(tmp_path: Path) -> None:
    """The issue's done-when: `bioimageio test` exits 0, and the package's test output is what
    `microgan enhance` writes for the same input, within one 8-bit level."""
    package = tmp_path / "m.zip"
    enhancer = Enhancer.from_model("microgan-bccd", device="cpu", precision="fp32", tile=None)
    done = export_bioimageio(enhancer, package, test=False)  # `bioimageio test` below is the test
    cli = Path(sys.executable).with_name("bioimageio")
    run = subprocess.run([str(cli), "test", str(package)], capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]

    rdf = _rdf(package)
    halo = done.geometry.halo  # the measured radius (checked against the Enhancer in the tiny test)
    y_in, y_out = rdf["inputs"][0]["axes"][2], rdf["outputs"][0]["axes"][2]
    assert y_out["halo"] == halo and y_in["size"] == {"min": -(-(2 * halo + 1) // 8) * 8, "step": 8}

    test_input, test_output = _array(package, "test_input.npy"), _array(package, "test_output.npy")
    assert test_input.dtype == np.uint8 and test_input.shape[:2] == (1, 3)
    write_image(tmp_path / "in" / "crop.png", test_input[0].transpose(1, 2, 0))
    assert main(["enhance", str(tmp_path / "in"), "-o", str(tmp_path / "out"), "--model", "microgan-bccd",
                 "--device", "cpu", "--precision", "fp32", "--quiet"]) == 0
    enhanced = read_image(tmp_path / "out" / "crop.png").array.astype(np.float32)
    assert np.abs(enhanced - test_output[0].transpose(1, 2, 0)).max() <= 1.0
    # and the restoration did something: the package is not an identity
    assert np.abs(test_output - test_input).mean() > 1.0


def test_cli_package_of_a_gray_16bit_checkpoint_with_its_card(tmp_path: Path, save_tiny_generator, capsys) -> None:
    checkpoint = save_tiny_generator(tmp_path / "tiny.safetensors", in_channels=1)
    card = tmp_path / "card.yaml"
    card.write_text("name: Tiny test model\nauthors: [A. Person]\n"
                    "training_data: Six synthetic smears made by the tests.\n")
    package = tmp_path / "tiny.zip"
    assert main(["export", "--model", str(checkpoint), "--format", "bioimageio", "-o", str(package),
                 "--card", str(card), "--input-dtype", "uint16"]) == 0
    assert "bioimageio test: passed" in capsys.readouterr().out

    rdf = _rdf(package)
    assert rdf["name"] == "Tiny test model" and rdf["authors"] == [{"name": "A. Person"}]
    weights = rdf["weights"]
    assert "parent" not in weights["onnx"] and weights["torchscript"]["parent"] == "onnx"
    (inp,), (out,) = rdf["inputs"], rdf["outputs"]
    assert [a["type"] for a in inp["axes"]] == ["batch", "channel", "space", "space"]
    assert inp["axes"][1]["channel_names"] == ["gray"] and inp["data"]["type"] == "uint16"
    steps = [(p["id"], p["kwargs"]) for p in inp["preprocessing"]]
    assert steps[-1] == ("ensure_dtype", {"dtype": "float32"})  # else the spec casts back to uint16
    assert ("scale_linear", {"gain": 2 / 65535, "offset": -1.0}) in steps
    assert out["data"]["range"] == [0.0, 65535.0] and _array(package, "test_input.npy").max() > 255
    radius = Enhancer.from_model(checkpoint, device="cpu").field.radius
    assert out["axes"][2]["halo"] == radius and out["axes"][2]["size"]["tensor_id"] == "input"
    with zipfile.ZipFile(package) as z:
        readme = z.read("README.md").decode()
    for section in ("## Training data", "## Validation", "## Citation", "## Licence", "Six synthetic smears"):
        assert section in readme
    cover = _image(package, "cover.png", tmp_path)
    assert cover.shape[1] == 2 * cover.shape[0]


def test_a_package_that_disagrees_with_the_enhancer_is_refused(
    tmp_path: Path, save_tiny_generator, monkeypatch: pytest.MonkeyPatch
) -> None:
    restore = bioimageio._restore
    monkeypatch.setattr(bioimageio, "_restore", lambda enhancer, batch: restore(enhancer, batch) + 3.0)
    package = tmp_path / "bad.zip"
    enhancer = Enhancer.from_model(save_tiny_generator(tmp_path / "t.safetensors"), device="cpu", precision="fp32")
    with pytest.raises(MicroGANError, match="failed its test"):
        export_bioimageio(enhancer, package)
    assert not package.exists() and not list(tmp_path.glob("*.partial"))


def test_bad_requests_are_one_line_errors(tmp_path: Path, save_tiny_generator, capsys) -> None:
    checkpoint = str(save_tiny_generator(tmp_path / "t.safetensors"))
    base = ["export", "--model", checkpoint, "--format", "bioimageio"]
    (tmp_path / "exists.zip").write_bytes(b"keep me")
    assert main(base + ["-o", str(tmp_path / "exists.zip")]) == 2
    assert (tmp_path / "exists.zip").read_bytes() == b"keep me"
    assert main(base + ["-o", str(tmp_path / "model.onnx")]) == 2
    card = tmp_path / "card.yaml"
    card.write_text("name: x\nlicence: MIT\n")
    assert main(base + ["-o", str(tmp_path / "m.zip"), "--card", str(card)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 3 and "already exists" in err[0] and ".zip file" in err[1] and "'licence'" in err[2]
    assert not (tmp_path / "m.zip").exists()
    with pytest.raises(MicroGANError, match="CPU fp32"):
        export_bioimageio(Enhancer.from_model(checkpoint, device="cpu", precision="bf16"), tmp_path / "m.zip")
    with pytest.raises(MicroGANError, match="without self_ensemble"):  # its test outputs would be 8 passes' mean
        export_bioimageio(Enhancer.from_model(checkpoint, device="cpu", precision="fp32", self_ensemble=True),
                          tmp_path / "m.zip")
    with pytest.raises(MicroGANError, match="consistency=False"):  # a bioimage.io runtime runs the network alone
        export_bioimageio(Enhancer.from_model(checkpoint, device="cpu", precision="fp32", consistency=True),
                          tmp_path / "m.zip")
    assert not (tmp_path / "m.zip").exists()
