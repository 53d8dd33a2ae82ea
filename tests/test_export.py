"""Export: the traceable padding equals the generator's; ONNX (onnxruntime) and TorchScript parity."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from microgan.core import portable
from microgan.archs import build_generator
from microgan.errors import MicroGANError
from microgan.core.portable import ExportWrapper, export_generator
from microgan.infer import Enhancer

SPECS = [
    {"type": "unet", "channels": [4, 8, 16]},
    {"type": "unet", "in_channels": 1, "out_channels": 1, "channels": [4, 8], "norm": "batch"},
    {"type": "resnet-deblurgan", "base": 4, "blocks": 1},
]


def _net(spec: dict) -> torch.nn.Module:
    torch.manual_seed(0)
    return build_generator(spec).eval()


@pytest.mark.parametrize("spec", SPECS, ids=lambda s: s["type"] + "-" + str(s.get("in_channels", 3)))
def test_wrapper_pads_exactly_like_the_generator(spec: dict, edge_padded) -> None:
    net = _net(spec)
    wrapper, bare = ExportWrapper(net), ExportWrapper(net, margin=0)
    with torch.no_grad():
        for h, w in [(1, 1), (2, 7), (9, 5), (33, 16)]:
            x = torch.rand(2, net.in_channels, h, w) * 2 - 1
            assert torch.allclose(wrapper(x), edge_padded(net, x).clamp(-1, 1), atol=1e-6)
            assert torch.equal(bare(x), net(x).clamp(-1, 1))  # no margin: the generator's own padding


@pytest.mark.filterwarnings("ignore:`torch.jit.load` is deprecated:DeprecationWarning")
@pytest.mark.parametrize("fmt", ["onnx", "torchscript"])
def test_export_matches_pytorch_on_random_sizes(fmt: str, tmp_path: Path) -> None:
    net = _net(SPECS[0])
    path = tmp_path / f"g.{fmt}"
    errors = export_generator(net, path, fmt, meta={"config": {"name": "tiny"}, "step": 3})
    assert path.is_file() and "1x1" in errors and max(errors.values()) < 1e-4
    # a size not in the built-in check, compared with what Enhancer computes in [-1, 1]
    x01 = np.random.default_rng(0).random((45, 77, 3), dtype=np.float32)
    expected = Enhancer(net, {}, device="cpu", precision="fp32", tile=None).enhance(x01)
    x = torch.from_numpy(x01).permute(2, 0, 1)[None] * 2 - 1
    if fmt == "onnx":
        import onnx
        import onnxruntime as ort

        props = {p.key: p.value for p in onnx.load(str(path)).metadata_props}
        assert props["microgan.config"] == "tiny" and "[-1, 1]" in props["microgan.input"]
        y = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"]).run(None, {"input": x.numpy()})[0]
    else:
        y = torch.jit.load(str(path))(x).detach().numpy()
    got = (y[0].transpose(1, 2, 0) + 1) / 2
    assert np.abs(got - expected).max() < 1e-5


def test_instance_norm_generator_exports_to_onnx(tmp_path: Path) -> None:
    errors = export_generator(_net(SPECS[2]), tmp_path / "d.onnx", "onnx")
    assert "1x1" not in errors and max(errors.values()) < 1e-4  # 1x1 pads to a constant image


def test_a_disagreeing_export_is_removed_and_reported(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(portable, "TOLERANCE", -1.0)
    path = tmp_path / "g.pt"
    with pytest.raises(MicroGANError, match="differs from PyTorch"):
        export_generator(_net(SPECS[1]), path, "torchscript", check_sizes=[(5, 6)])
    assert not path.exists()


def test_unknown_format_is_refused(tmp_path: Path) -> None:
    with pytest.raises(MicroGANError, match="format 'tflite'"):
        export_generator(_net(SPECS[0]), tmp_path / "g.tflite", "tflite")


def test_a_generator_whose_output_is_not_finite_is_not_exported(tmp_path: Path) -> None:
    """Its parity error was nan, and ``nan > tolerance`` is False: the export passed its check.
    (Checkpoints with such weights are refused at load; a module handed to the API is not.)"""
    net = _net(SPECS[0])
    with torch.no_grad():
        net.body.head.weight[0, 0, 0, 0] = float("nan")
    path = tmp_path / "g.onnx"
    with pytest.raises(MicroGANError, match=r"g\.onnx: .*NaN or Inf"):
        export_generator(net, path, "onnx", check_sizes=[(9, 5)])
    assert list(tmp_path.iterdir()) == []


def test_an_interrupted_export_leaves_no_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The graph is written to a temporary file, checked, then renamed: nothing half-made or
    unchecked is ever at the target path."""
    def interrupted(*args: object, **kwargs: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(portable, "check_export", interrupted)
    with pytest.raises(KeyboardInterrupt):
        export_generator(_net(SPECS[1]), tmp_path / "g.pt", "torchscript")
    assert list(tmp_path.iterdir()) == []


def test_bioimageio_only_flags_are_refused_for_onnx_and_torchscript(tmp_path, save_tiny_generator, capsys) -> None:
    """They were silently ignored."""
    from microgan.cli import main

    model = str(save_tiny_generator(tmp_path / "t.safetensors"))
    for fmt, name in (("onnx", "m.onnx"), ("torchscript", "m.pt")):
        assert main(["export", "--model", model, "--format", fmt, "-o", str(tmp_path / name), "--input-dtype", "uint16"]) == 2
        assert "--input-dtype describe a bioimage.io package" in capsys.readouterr().err
        assert not (tmp_path / name).exists()
