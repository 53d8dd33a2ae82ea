"""Training precision: the same choices (and ``auto``) as inference, fp16 only where it can be scaled."""
from __future__ import annotations

import pytest
import torch

from microgan.core import device
from microgan.errors import ConfigError
from microgan.train.amp import MixedPrecision


def test_auto_resolves_like_inference(monkeypatch: pytest.MonkeyPatch) -> None:
    cpu = torch.device("cpu")
    monkeypatch.setattr(device, "cpu_has_native_bf16", lambda: False)
    assert MixedPrecision("auto", cpu).mode == "fp32"
    monkeypatch.setattr(device, "cpu_has_native_bf16", lambda: True)
    assert MixedPrecision("auto", cpu).mode == "bf16"
    with pytest.raises(ConfigError, match="fp16 needs CUDA"):
        MixedPrecision("fp16", cpu)
