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


def test_gpu_numbers_are_checked_against_the_machine(monkeypatch: pytest.MonkeyPatch) -> None:
    """``cuda:N`` is accepted where GPU N exists and is a clear error beyond the last one (a bare
    ``cuda`` takes the given local rank), checked with a pretend two-GPU machine."""
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    assert device.resolve_device("cuda:1") == torch.device("cuda", 1)
    assert device.resolve_device("cuda", index=1) == torch.device("cuda", 1)
    with pytest.raises(MicroGANError, match="'cuda:2': this process sees 2 CUDA device"):
        device.resolve_device("cuda:2")
    with pytest.raises(MicroGANError, match="'cuda:2': this process sees 2 CUDA device"):
        device.resolve_device(torch.device("cuda", 2))  # the Python API's device objects too
    assert device.resolve_device(torch.device("cuda", 1)) == torch.device("cuda", 1)
    with pytest.raises(MicroGANError, match="cuda:N"):
        device.resolve_device("cuda:x")
    # torchrun: a bare cuda is the local rank's GPU; a numbered one for several processes is refused
    assert device.rank_device("cuda", local_rank=1, world_size=2) == torch.device("cuda", 1)
    assert device.rank_device("cuda:1", local_rank=0, world_size=1) == torch.device("cuda", 1)
    with pytest.raises(MicroGANError, match="local rank 3's GPU"):
        device.rank_device("cuda", local_rank=3, world_size=4)
    with pytest.raises(MicroGANError, match="each process takes the GPU of its local rank"):
        device.rank_device("cuda:1", local_rank=0, world_size=2)


def test_autocast_is_a_no_op_for_fp32_and_casts_for_bf16() -> None:
    x = torch.ones(2, 2)
    with device.autocast(torch.device("cpu"), "fp32"):
        assert (x @ x).dtype == torch.float32
    with device.autocast(torch.device("cpu"), "bf16"):
        assert (x @ x).dtype == torch.bfloat16
