"""What microscopes and slide scanners really write: compressed TIFFs read in the base install, and
12-bit camera data in a 16-bit file restored in its own range (it came back as garbage, 0-8174 from
1799-3341, before ``auto`` normalization), with a note saying how it was mapped."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import tifffile

from microgan.data.io import read_image


def _cell() -> np.ndarray:
    from microgan.data.samples import blurred_bccd_field

    return np.ascontiguousarray(blurred_bccd_field()[150:246, 130:250])


@pytest.mark.parametrize("compression", ["lzw", "zlib", "jpeg", "packbits", "zstd"])
def test_compressed_tiffs_are_read(compression: str, tmp_path: Path) -> None:
    path = tmp_path / f"{compression}.tif"
    tifffile.imwrite(path, _cell(), photometric="rgb", compression=compression, tile=(32, 32))
    image = read_image(path)
    assert image.array.shape == (96, 120, 3) and image.array.dtype == np.uint8
    if compression != "jpeg":
        np.testing.assert_array_equal(image.array, _cell())


def test_12_bit_camera_data_is_restored_in_its_own_range(tmp_path: Path, check) -> None:
    gray = _cell().mean(axis=2)
    data = np.round(1799 + (gray - gray.min()) / np.ptp(gray) * (3341 - 1799)).astype(np.uint16)
    inputs = tmp_path / "in"
    inputs.mkdir()
    tifffile.imwrite(inputs / "camera.tif", data, compression="lzw")
    result = check.cli("enhance", str(inputs), "-o", str(tmp_path / "out"), "--per-channel")
    assert result.code == 0, result.err
    check.one_line_naming(result.err + result.out, "camera.tif", "12-bit data", "0..4095 taken as the full range")
    out = read_image(tmp_path / "out" / "camera.tif").array
    assert out.dtype == np.uint16 and out.shape == data.shape
    assert 1500 < out.min() and out.max() < 3700  # its own range, not 0..8174
    assert np.corrcoef(out.ravel().astype(float), data.ravel().astype(float))[0, 1] > 0.97
