"""Device and precision choice: one place for training, inference and classification."""
from __future__ import annotations

import pytest
import torch

from microgan.core import device
from microgan.errors import MicroGANError


def test_precision_choices(monkeypatch: pytest.MonkeyPatch) -> None:
    cpu = torch.device("cpu")
    assert device.resolve_precision("auto", torch.device("cuda")) == "fp16"
    monkeypatch.setattr(device, "cpu_has_native_bf16", lambda: True)
    assert device.resolve_precision("auto", cpu) == "bf16"
    monkeypatch.setattr(device, "cpu_has_native_bf16", lambda: False)
    assert device.resolve_precision("auto", cpu) == "fp32"
    with pytest.raises(MicroGANError, match="precision"):
        device.resolve_precision("int8", cpu)


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
def test_cuda_without_a_gpu_is_a_clear_error() -> None:
    with pytest.raises(MicroGANError, match="no CUDA device"):
        device.resolve_device("cuda")


def test_device_names() -> None:
    assert device.resolve_device("cpu") == torch.device("cpu")
    assert device.resolve_device(None).type == ("cuda" if torch.cuda.is_available() else "cpu")
    with pytest.raises(MicroGANError, match="not a device name"):
        device.resolve_device("tpu")


def test_autocast_is_a_no_op_for_fp32_and_casts_for_bf16() -> None:
    x = torch.ones(2, 2)
    with device.autocast(torch.device("cpu"), "fp32"):
        assert (x @ x).dtype == torch.float32
    with device.autocast(torch.device("cpu"), "bf16"):
        assert (x @ x).dtype == torch.bfloat16
