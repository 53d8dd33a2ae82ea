"""The paper's segmentation on synthetic images with known objects, and on real BCCD images."""
from __future__ import annotations

import cv2
import numpy as np
import pytest

from microgan.data.io import read_image
from microgan.core.types import Box
from microgan.data.segment import SegmentationParams, foreground_mask, segment, to_gray8
from microgan.errors import ConfigError

# (cx, cy, radius): dark cells on a bright brightfield-like background.
DISKS = [(40, 40, 18), (120, 50, 25), (60, 130, 30), (160, 140, 15)]
SIZE = (180, 220)  # height, width


def _disk_box(cx: int, cy: int, r: int) -> Box:
    return Box(cx - r, cy - r, 2 * r + 1, 2 * r + 1)


def _synthetic(pale_centres: bool = False, noise: float = 0.5) -> np.ndarray:
    image = np.full(SIZE, 200, np.float32)
    for cx, cy, r in DISKS:
        cv2.circle(image, (cx, cy), r, 70, -1)
        if pale_centres:  # red blood cells: a pale centre that only hole filling recovers
            cv2.circle(image, (cx, cy), r // 2, 190, -1)
    image += np.random.default_rng(0).normal(0, noise, SIZE)
    return np.clip(image, 0, 255).astype(np.uint8)


PARAMS = SegmentationParams(min_area=100, margin=0)


def _assert_boxes(found, expected, tol=2):
    assert len(found) == len(expected), found
    for got, want in zip(found, expected):
        for a, b in zip((got.x, got.y, got.x + got.w, got.y + got.h), (want.x, want.y, want.x + want.w, want.y + want.h)):
            assert abs(a - b) <= tol, (got, want)


def _sorted_expected():
    return sorted((_disk_box(*d) for d in DISKS), key=lambda b: (b.y, b.x))


@pytest.mark.parametrize("pale_centres", [False, True])
def test_finds_each_dark_disk_with_its_box(pale_centres):
    _assert_boxes(segment(_synthetic(pale_centres), PARAMS), _sorted_expected())


def test_filled_mask_covers_pale_centres():
    mask = foreground_mask(_synthetic(pale_centres=True), PARAMS)
    for cx, cy, _ in DISKS:
        assert mask[cy, cx] == 255  # hole filled
    assert mask[5, 110] == 0 and mask[175, 5] == 0  # background stays background


def test_rgb_16bit_and_float_inputs_give_the_same_boxes():
    gray = _synthetic()
    expected = segment(gray, PARAMS)
    rgb = np.repeat(gray[..., None], 3, axis=-1)
    assert segment(rgb, PARAMS) == expected
    assert segment(gray.astype(np.uint16) * 257, PARAMS) == expected
    floats = gray.astype(np.float32) / 255
    floats[0, 0], floats[0, 1] = 0.0, 1.0  # pin the min..max stretch to the 8-bit range
    assert segment(floats, PARAMS) == expected


def test_bright_polarity_for_fluorescence():
    inverted = 255 - _synthetic()
    bright = SegmentationParams(min_area=100, margin=0, polarity="bright")
    _assert_boxes(segment(inverted, bright), _sorted_expected())


def test_area_limits_drop_small_and_large_objects():
    image = _synthetic()
    cv2.circle(image, (200, 20), 3, 70, -1)  # a speck of ~30 pixels (~80 after dilation)
    assert len(segment(image, PARAMS)) == len(DISKS)
    assert len(segment(image, SegmentationParams(min_area=50, margin=0))) == len(DISKS) + 1
    only_big = SegmentationParams(min_area=2600, margin=0)  # r=30 disk: ~3200 px filled, r=25: ~2300
    assert [b.w for b in segment(image, only_big)] == [pytest.approx(61, abs=4)]
    not_big = SegmentationParams(min_area=100, max_area=2600, margin=0)
    assert len(segment(image, not_big)) == len(DISKS) - 1


def test_margin_grows_boxes_and_clips_at_the_border():
    image = np.full((100, 100), 200, np.uint8)
    cv2.circle(image, (50, 50), 15, 70, -1)
    cv2.circle(image, (3, 60), 12, 70, -1)  # cut by the left border
    plain = segment(image, PARAMS)
    padded = segment(image, SegmentationParams(min_area=100, margin=5))
    assert len(plain) == len(padded) == 2
    inner_plain = next(b for b in plain if b.x > 10)
    inner_padded = next(b for b in padded if b.x > 10)
    assert (inner_padded.x, inner_padded.w) == (inner_plain.x - 5, inner_plain.w + 10)
    border = next(b for b in padded if b.x <= 10)
    assert border.x == 0  # clipped, never negative
    dropped = segment(image, SegmentationParams(min_area=100, margin=5, drop_border=True))
    assert dropped == [inner_padded]


def test_uniform_image_has_no_objects():
    assert segment(np.full((50, 60), 128, np.uint8)) == []


def test_box_helpers():
    assert Box(-3, 5, 10, 10).clip(20, 12) == Box(0, 5, 7, 7)
    assert Box(30, 5, 10, 10).clip(20, 12) is None
    assert Box(2, 2, 4, 4).expand(5, 8, 100) == Box(0, 0, 8, 11)
    assert Box(0, 3, 2, 2).touches_border(10, 10) and not Box(1, 1, 2, 2).touches_border(10, 10)


def test_invalid_params_are_refused():
    with pytest.raises(ConfigError, match="odd"):
        SegmentationParams(block_size=10)
    with pytest.raises(ConfigError, match="polarity"):
        SegmentationParams(polarity="grey")
    with pytest.raises(ConfigError, match="max_area"):
        SegmentationParams(min_area=500, max_area=100)


def test_to_gray8_maps_type_range_and_stretches_floats():
    np.testing.assert_array_equal(to_gray8(np.array([[0, 257 * 100, 65535]], np.uint16)), [[0, 100, 255]])
    gray = to_gray8(np.array([[-2.0, 0.0, 2.0]], np.float32))
    assert gray.dtype == np.uint8 and gray.tolist() == [[0, 128, 255]]


def test_real_bccd_image_gives_cell_sized_boxes(bccd_root):
    image = read_image(bccd_root / "BCCD" / "JPEGImages" / "BloodImage_00010.jpg")
    boxes = segment(image.array)
    assert 5 <= len(boxes) <= 60
    for box in boxes:
        assert 0 <= box.x and box.x + box.w <= image.width and 0 <= box.y and box.y + box.h <= image.height
        assert 20 <= max(box.w, box.h) <= 400  # cells, not specks or the whole field
