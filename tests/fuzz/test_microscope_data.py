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


def _dim_12_bit() -> np.ndarray:
    """12-bit camera data that stays in its lowest quarter (maximum 900): its own maximum says 10 bits."""
    gray = _cell().mean(axis=2)
    return np.round(300 + (gray - gray.min()) / np.ptp(gray) * 600).astype(np.uint16)


@pytest.mark.parametrize("how", ["bitspersample", "maxsamplevalue", "ome"])
def test_the_bit_depth_a_tiff_declares_is_read(how: str, tmp_path: Path) -> None:
    data, path = _dim_12_bit(), tmp_path / "camera.tif"
    if how == "bitspersample":
        tifffile.imwrite(path, data, bitspersample=12)
    elif how == "maxsamplevalue":
        tifffile.imwrite(path, data, extratags=[(281, "H", 1, 4095, True)])
    else:
        tifffile.imwrite(path, data, ome=True, metadata={"SignificantBits": 12})
    image = read_image(path)
    np.testing.assert_array_equal(image.array, data)
    assert image.declared_top == 4095
    tifffile.imwrite(tmp_path / "plain.tif", data)
    assert read_image(tmp_path / "plain.tif").declared_top is None  # 16 bits declared: nothing beyond the type


def test_dim_12_bit_data_is_mapped_by_the_declared_depth_not_its_maximum(tmp_path: Path, check) -> None:
    """The file's word decides where the data stays within it; where the data exceeds it, the data
    does, and the note says both."""
    import microgan
    from microgan.data.normalize import AutoNormalizer

    data = _dim_12_bit()
    inputs = tmp_path / "in"
    inputs.mkdir()
    tifffile.imwrite(inputs / "declared.tif", data, extratags=[(281, "H", 1, 4095, True)])
    tifffile.imwrite(inputs / "plain.tif", data)
    tifffile.imwrite(inputs / "liar.tif", data, extratags=[(281, "H", 1, 511, True)])
    result = check.cli("enhance", str(inputs), "-o", str(tmp_path / "out"), "--per-channel", "--consistency", "off")
    assert result.code == 0, result.err
    said = result.err + result.out
    check.one_line_naming(said, "declared.tif", "declares samples up to 4095", "0..4095 taken as the full range")
    check.one_line_naming(said, "plain.tif", "10-bit data", "0..1023 taken as the full range")
    check.one_line_naming(said, "liar.tif", "declares samples up to 511 but holds values up to 900", "0..1023")
    kwargs = dict(device="cpu", per_channel=True, consistency=False)
    declared = microgan.load(normalizer=AutoNormalizer(top=4095), **kwargs).enhance(data)
    by_maximum = microgan.load(**kwargs).enhance(data)
    np.testing.assert_array_equal(read_image(tmp_path / "out" / "declared.tif").array, declared)
    np.testing.assert_array_equal(read_image(tmp_path / "out" / "plain.tif").array, by_maximum)
    np.testing.assert_array_equal(read_image(tmp_path / "out" / "liar.tif").array, by_maximum)
    assert not np.array_equal(declared, by_maximum)  # the two mappings differ, so the test tells them apart
