"""Bad model files for ``enhance``, ``export`` and ``microgan.load``: one line naming the file and
the reason (exit 2 / ``CheckpointError``), nothing written, the model file left as it was; and a
model whose output is not finite never yields an image or an exported graph."""
from __future__ import annotations

import shutil
from pathlib import Path
from typing import Callable, Dict

import pytest
import torch
from safetensors.torch import save_file

import microgan
from microgan.core import checkpoint as ck
from microgan.errors import CheckpointError, MicroGANError

Damage = Callable[[Path], None]


def _edit_weights(change: Callable[[Dict[str, torch.Tensor]], None]) -> Damage:
    def damage(path: Path) -> None:
        ckpt = ck.load_checkpoint(path)
        change(ckpt.generator)
        ck.save_checkpoint(path, ckpt)

    return damage


def _first(value: float) -> Callable[[Dict[str, torch.Tensor]], None]:
    def change(weights: Dict[str, torch.Tensor]) -> None:
        weights[sorted(weights)[0]].view(-1)[0] = value

    return change


def _raw_meta(meta: str) -> Damage:
    """The same weights under other metadata (written as safetensors, not through save_checkpoint)."""
    def damage(path: Path) -> None:
        tensors = {f"generator.{k}": v for k, v in ck.load_checkpoint(path).generator.items()}
        save_file(tensors, str(path), metadata={ck.META_KEY: meta})

    return damage


def _edit_meta(change: Callable[[dict], None]) -> Damage:
    def damage(path: Path) -> None:
        ckpt = ck.load_checkpoint(path)
        change(ckpt.meta)
        ck.save_checkpoint(path, ckpt)

    return damage


def _bytes(cut: Callable[[bytes], bytes]) -> Damage:
    return lambda path: path.write_bytes(cut(path.read_bytes()))


def _pickle(path: Path) -> None:
    torch.save({"generator": torch.zeros(3)}, str(path))  # a .pt pickle renamed: never unpickled


def _drop_key(weights: Dict[str, torch.Tensor]) -> None:
    del weights[sorted(weights)[-1]]


BAD_MODELS = {
    "nan-weight": (_edit_weights(_first(float("nan"))), "holds NaN or Inf"),
    "inf-weight": (_edit_weights(_first(float("inf"))), "holds NaN or Inf"),
    "truncated": (_bytes(lambda b: b[: len(b) // 2]), "corrupt or unreadable checkpoint"),
    "empty": (_bytes(lambda b: b""), "corrupt or unreadable checkpoint"),
    "random-bytes": (_bytes(lambda b: bytes(range(256)) * 8), "corrupt or unreadable checkpoint"),
    "pickle": (_pickle, "corrupt or unreadable checkpoint"),
    "foreign-safetensors": (lambda p: save_file({"w": torch.zeros(2)}, str(p)), "not a MicroGAN checkpoint"),
    "meta-json-list": (_raw_meta("[1, 2]"), "metadata is not a JSON object"),
    "meta-not-json": (_raw_meta("{oops"), "metadata is not valid JSON"),
    "meta-format-2": (_raw_meta('{"format": 2}'), "format 2 is not supported"),
    "config-a-string": (_edit_meta(lambda m: m.update(config="unet")), "config is not a mapping"),
    "no-generator-spec": (_edit_meta(lambda m: m.update(config={"name": "x"})), "no 'generator' spec"),
    "unknown-generator": (_edit_meta(lambda m: m["config"]["generator"].update(type="vdsr")), "unknown generator 'vdsr'"),
    "spec-bad-types": (_edit_meta(lambda m: m["config"]["generator"].update(channels="wide")), "cannot build generator"),
    "weights-do-not-match": (_edit_weights(_drop_key), "weights do not match generator"),
}
CASES = sorted(BAD_MODELS)


@pytest.fixture()
def bad_model(request: pytest.FixtureRequest, tmp_path: Path, rgb_model: Path):
    damage, reason = BAD_MODELS[request.param]
    path = tmp_path / "model" / "bad.safetensors"
    path.parent.mkdir()
    shutil.copy(rgb_model, path)
    damage(path)
    return path, reason


@pytest.mark.parametrize("bad_model", CASES, indirect=True)
def test_enhance_refuses_the_model(bad_model, tmp_path: Path, check, field) -> None:
    from microgan.data.io import write_image

    model, reason = bad_model
    image = write_image(tmp_path / "in" / "a.png", field())
    before = check.hashes(model.parent, image.parent)
    result = check.cli("enhance", "--model", model, image, "-o", tmp_path / "out", "--quiet")
    assert result.code == 2
    check.one_line_naming(result.err, "microgan enhance: error: ", str(model), reason)
    assert not (tmp_path / "out").exists()
    assert check.hashes(model.parent, image.parent) == before


@pytest.mark.parametrize("bad_model", CASES, indirect=True)
def test_export_refuses_the_model(bad_model, tmp_path: Path, check) -> None:
    model, reason = bad_model
    before = check.hashes(model.parent)
    result = check.cli("export", "--model", model, "--format", "torchscript", "-o", tmp_path / "out" / "g.pt")
    assert result.code == 2
    check.one_line_naming(result.err, "microgan export: error: ", str(model), reason)
    assert not (tmp_path / "out").exists() or list((tmp_path / "out").iterdir()) == []
    assert check.hashes(model.parent) == before


@pytest.mark.parametrize("bad_model", CASES, indirect=True)
def test_load_refuses_the_model(bad_model) -> None:
    model, reason = bad_model
    with pytest.raises(CheckpointError, match=reason.replace("(", r"\(")) as info:
        microgan.load(model, device="cpu")
    assert str(model) in str(info.value)


def test_a_run_folder_without_checkpoints_is_named(tmp_path: Path, check, field) -> None:
    from microgan.data.io import write_image

    (tmp_path / "run").mkdir()
    image = write_image(tmp_path / "a.png", field())
    result = check.cli("enhance", "--model", tmp_path / "run", image, "-o", tmp_path / "out")
    assert result.code == 2
    check.one_line_naming(result.err, str(tmp_path / "run"), "neither best.safetensors nor last.safetensors")


@pytest.fixture()
def overflowing_model(tmp_path: Path, rgb_model: Path) -> Path:
    """Finite weights whose sums overflow: every output pixel is +-inf (NaN after a clip)."""
    path = tmp_path / "model" / "overflow.safetensors"
    path.parent.mkdir()
    shutil.copy(rgb_model, path)
    _edit_weights(lambda w: w[next(k for k in w if k.endswith("head.weight"))].fill_(3e38))(path)
    return path


def test_enhance_writes_no_image_from_a_non_finite_output(overflowing_model: Path, tmp_path: Path, check, field) -> None:
    from microgan.data.io import write_image

    folder = tmp_path / "in"
    for name in ("a.png", "b.tif"):
        write_image(folder / name, field())
    result = check.cli("enhance", "--model", overflowing_model, folder, "-o", tmp_path / "out", "--quiet")
    assert result.code == 1
    for name in ("a.png", "b.tif"):
        check.one_line_naming(result.err, f"failed: {folder / name}: ", "output holds NaN or Inf")
    assert not (tmp_path / "out").exists() or list((tmp_path / "out").iterdir()) == []


def test_load_then_enhance_refuses_a_non_finite_output(overflowing_model: Path, field) -> None:
    with pytest.raises(MicroGANError, match="output holds NaN or Inf"):
        microgan.load(overflowing_model, device="cpu", tile=None).enhance(field())


def test_export_refuses_a_non_finite_output(overflowing_model: Path, tmp_path: Path, check) -> None:
    """The exported graph clips to [-1, 1]: an overflow would have shipped as a saturated image."""
    result = check.cli("export", "--model", overflowing_model, "--format", "torchscript", "-o", tmp_path / "g.pt")
    assert result.code == 2
    # an output of 1e37 at the first size is refused as out of range before the NaN of a later one
    assert "output holds NaN or Inf" in result.err or "far outside its [-1, 1] range" in result.err
    check.one_line_naming(result.err, str(tmp_path / "g.pt"), "not exported")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model"]


@pytest.mark.parametrize(
    "target, extra, reason",
    [
        ("/proc/nope/g.pt", [], "cannot write"),
        ("existing.pt", [], "already exists (pass --overwrite"),
        ("a_folder", ["--overwrite"], "cannot write"),
    ],
)
def test_export_to_a_bad_path_is_one_line(target: str, extra: list, reason: str, tmp_path: Path, check, rgb_model: Path) -> None:
    path = Path(target) if target.startswith("/") else tmp_path / target
    if target == "existing.pt":
        path.write_bytes(b"keep me")
    if target == "a_folder":
        (path / "inside").mkdir(parents=True)
    before = check.hashes(tmp_path)
    result = check.cli("export", "--model", rgb_model, "--format", "torchscript", "-o", path, *extra)
    assert result.code == 2
    check.one_line_naming(result.err, str(path), reason)
    assert check.hashes(tmp_path) == before and check.leftovers(tmp_path) == []
