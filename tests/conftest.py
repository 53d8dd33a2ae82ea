"""Shared pytest fixtures: the real BCCD data set and a tiny prepared folder for downstream tests."""
from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    import numpy as np

REPO = Path(__file__).resolve().parents[1]

# Qt (napari plugin tests) never opens a window: set before any QApplication exists. OpenGL for
# napari's canvas comes from the X server pytest-xvfb starts (see tests/napari/conftest.py).
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")


@pytest.fixture(scope="session", autouse=True)
def _own_user_cache(tmp_path_factory) -> None:
    """MicroGAN's user cache (exported graphs, measured backend speeds and memory) goes to a
    temporary folder: tests neither read a developer's measurements nor leave theirs behind.
    torch keeps its own cache (pretrained weights) where it was."""
    os.environ.setdefault("TORCH_HOME", str(Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "torch"))
    os.environ["XDG_CACHE_HOME"] = str(tmp_path_factory.mktemp("user-cache"))


def _bccd_path() -> Path:
    env = os.environ.get("MICROGAN_BCCD")
    return Path(env) if env else REPO.parent / "shared" / "data" / "bccd"


@pytest.fixture(scope="session")
def bccd_root() -> Path:
    """The BCCD data set root (holding ``BCCD/``): ``$MICROGAN_BCCD`` or ``<repo>/../shared/data/bccd``."""
    root = _bccd_path()
    if not (root / "BCCD" / "Annotations").is_dir():
        pytest.skip(f"BCCD data set not found at {root} (set MICROGAN_BCCD to its folder)")
    return root


def _chula_path() -> Path:
    env = os.environ.get("MICROGAN_CHULA")
    return Path(env) if env else REPO.parent / "shared" / "data" / "chula-rbc12"


@pytest.fixture(scope="session")
def chula_root() -> Path:
    """The Chula RBC-12 root (holding ``Dataset/`` and ``Label/``): ``$MICROGAN_CHULA`` or
    ``<repo>/../shared/data/chula-rbc12``."""
    root = _chula_path()
    if not (root / "Dataset").is_dir() or not (root / "Label").is_dir():
        pytest.skip(f"Chula RBC-12 not found at {root} (set MICROGAN_CHULA to its folder)")
    return root


def _cell_field(rng, oval: bool, height: int = 96, width: int = 128) -> "np.ndarray":
    """A brightfield-like RGB field: pale noisy background, 2-3 dark cells with pale centres,
    round or oval (so crops differ in shape and size, and the two classes differ visibly)."""
    import cv2
    import numpy as np

    image = np.empty((height, width, 3), np.float32)
    image[:] = (215, 205, 220)
    cells = [(28, 30, 14), (90, 40, 18), (60, 75, 10)]
    for cx, cy, r in cells[: rng.integers(2, 4)]:
        centre = (cx + int(rng.integers(-4, 5)), cy + int(rng.integers(-4, 5)))
        axes = (r, int(r * 0.6)) if oval else (r, r)
        cv2.ellipse(image, centre, axes, 0, 0, 360, (150, 90, 110), -1)
        cv2.ellipse(image, centre, (axes[0] // 3, axes[1] // 3), 0, 0, 360, (190, 160, 175), -1)
    image += rng.normal(0, 0.4, image.shape)
    return np.clip(image, 0, 255).astype(np.uint8)


@pytest.fixture(scope="session")
def tiny_prepared(tmp_path_factory) -> Path:
    """A small prepared folder (``manifest.csv`` + ``{train,val,test}/{hr,lr}/*.png``) for tests
    of training, evaluation and classification: 6 synthetic 8-bit RGB fields in two class folders
    (``round``, ``oval``), cut by the paper's segmentation into 15 crops of 23..47 px with labels,
    blurred with the paper's 15x15 Gaussian; split 4/1/1 images. Read it with
    ``microgan.data.manifest.read_manifest(tiny_prepared)``."""
    import numpy as np

    from microgan.data.io import write_image
    from microgan.data.prepare import PrepareConfig, prepare
    from microgan.data.segment import SegmentationParams

    root = tmp_path_factory.mktemp("tiny")
    rng = np.random.default_rng(0)
    for k in range(6):
        oval = k % 2 == 1
        write_image(root / "raw" / ("oval" if oval else "round") / f"field{k}.png", _cell_field(rng, oval))
    config = PrepareConfig(
        out=root / "prepared",
        source="folder",
        data=root / "raw",
        segmentation=SegmentationParams(min_area=100, margin=3),
    )
    prepare(config, progress=False)
    return config.out


TINY_GENERATOR = {"type": "unet", "channels": [4, 8]}


@pytest.fixture(scope="session")
def save_tiny_generator():
    """``save(path, in_channels=3, name="tiny", step=1) -> path``: a tiny untrained U-Net (seed 0)
    saved the way training saves a generator, for tests of the commands that take ``--model``."""
    import torch

    from microgan.archs import build_generator
    from microgan.core.checkpoint import Checkpoint, save_checkpoint

    def save(path: Path, in_channels: int = 3, name: str = "tiny", step: int = 1) -> Path:
        spec = {**TINY_GENERATOR, "in_channels": in_channels, "out_channels": in_channels}
        torch.manual_seed(0)
        meta = {"config": {"name": name, "generator": spec}, "step": step, "epoch": 0}
        save_checkpoint(Path(path), Checkpoint(meta=meta, generator=build_generator(spec).state_dict()))
        return Path(path)

    return save


@pytest.fixture(scope="session")
def edge_padded():
    """``run(net, x) -> y``: a generator's whole-image pass as the Enhancer and exported graphs make it,
    written out independently of ``core.portable.padding_index``: the image (``(N, C, H, W)`` tensor)
    reflected ``EDGE_MARGIN`` px beyond each edge and further to the net's size multiple in one reflect
    pad (split evenly; replicated where a pad is not shorter than the axis), the net, the crop."""
    import math

    import torch

    from microgan.core.geometry import size_multiple
    from microgan.core.portable import EDGE_MARGIN

    def pads(n: int, multiple: int, min_size: int) -> tuple:
        target = math.ceil(max(n + 2 * EDGE_MARGIN, min_size) / multiple) * multiple
        before = (target - n) // 2
        return before, target - n - before

    def run(net, x: "torch.Tensor") -> "torch.Tensor":
        import numpy as np

        multiple, min_size = size_multiple(net)
        padded = x.detach().cpu().numpy()
        starts = []
        for axis in (2, 3):
            n = x.shape[axis]
            before, after = pads(n, multiple, min_size)
            width = [(0, 0)] * 4
            width[axis] = (before, after)
            padded = np.pad(padded, width, mode="reflect" if max(before, after) < n else "edge")
            starts.append(before)
        with torch.no_grad():
            y = net(torch.from_numpy(np.ascontiguousarray(padded)).to(x.dtype))
        return y[:, :, starts[0] : starts[0] + x.shape[2], starts[1] : starts[1] + x.shape[3]]

    return run
