"""Package a generator for the BioImage Model Zoo (bioimage.io model spec 0.5), and prove it runs.

One zip that deepImageJ, ilastik, QuPath, napari and ``bioimageio.core`` all run. Everything a
consumer needs is declared, nothing is left to convention:

* **Weights**: ONNX (the source entry) and TorchScript (declared as converted from it), both written
  by :func:`microgan.core.portable.export_generator`, which checks each against PyTorch first.
* **Tensors**: ``input`` / ``output`` with axes batch, channel, y, x. Height and width are
  parameterized as ``min + n * step`` with ``step`` the generator's size multiple, and ``min`` the
  smallest multiple that leaves something after cropping the halo twice (the spec's rule).
* **Halo**: the receptive-field radius measured by :attr:`microgan.infer.Enhancer.field` (the
  farthest input pixel any output pixel sees, wherever the tile starts: a consumer's tiles need not
  sit on the stride grid, so the larger radius, not the aligned-tile margin): a tiling consumer that
  crops it from each tile gets the whole-image result. Generators with
  global normalization (unbounded field) declare none.
* **Normalization**: the one training uses (the sample type's range to [0, 1], times 2 minus 1) as
  declared preprocessing, ``x * 2 / top - 1`` with ``top`` 255 (uint8 input) or 65535 (uint16),
  ending in an explicit float32 cast (without it the spec casts the scaled input back to the
  declared uint8); postprocessing maps the output back to the input's scale (``0..top``, float32),
  so it reads like the input.
* **Test tensors**: a crop of the shipped BCCD field (blurred as in training) and the output the
  given :class:`~microgan.infer.Enhancer` (what ``microgan enhance`` runs) computes for it, so the
  package is tested against the pipeline users run, not against itself.
* A cover (input | restored), a README from the model card (:mod:`microgan.export.model_card`) with
  the citation, licence and training data.

The finished zip is tested with ``bioimageio.core`` (what ``bioimageio test`` runs) before this
returns; a package that fails is removed, like an export that fails its parity check.

The Enhancer comes in from the caller (``microgan.load(model, device="cpu", precision="fp32",
consistency=False)``: the package is the network alone;
``microgan export`` does that): export sits beside infer in the package's layers, not above it.
"""
from __future__ import annotations

import math

import tempfile
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any, Dict, List, Mapping, Optional, Tuple, Union

import numpy as np

from microgan.core.contract import NETWORK_RANGE, from_network, to_network
from microgan.errors import MicroGANError
from microgan.export.baked_psf import halo_of, upscaler_halo
from microgan.export.model_card import PAPER_CITATION, PAPER_URL, ModelCard, find_card, render_readme
from microgan.core.portable import TOLERANCE, export_generator

#: Sample types the package may declare for its input.
INPUT_DTYPES = ("uint8", "uint16")
#: Side of the test crop asked for; rounded up to the declared ``min + n * step``.
TEST_SIDE = 224
OPSET = 17


@dataclass
class Geometry:
    """Sizes a package declares: ``min + n * step`` per axis, and the halo (None: unbounded)."""

    min: int
    step: int
    halo: Optional[int]

    def valid(self, wanted: int) -> int:
        """The smallest declared size not below ``wanted``."""
        n = max(0, -(-(wanted - self.min) // self.step))
        return self.min + n * self.step


@dataclass
class BioimageioExport:
    """What :func:`export_bioimageio` wrote and measured."""

    path: Path
    geometry: Geometry
    parity: Dict[str, Dict[str, float]]
    test_shape: Tuple[int, ...]
    status: str
    warnings: List[str] = field(default_factory=list)


def geometry(multiple: int, min_size: int, halo: Optional[int]) -> Geometry:
    """``step`` is the size multiple; ``min`` the first multiple >= ``min_size`` and > 2 * halo."""
    need = max(min_size, 2 * (halo or 0) + 1)
    return Geometry(min=-(-need // multiple) * multiple, step=multiple, halo=halo)


def _load_bioimageio():
    try:
        from bioimageio.spec.model import v0_5
    except ImportError:
        raise MicroGANError(
            "bioimage.io export needs bioimageio.core: pip install 'microgan[bioimageio]'"
        ) from None
    return v0_5


def _test_crop(channels: int, side: int, dtype: str) -> np.ndarray:
    """(1, C, side, side) crop of the shipped BCCD field, blurred as in training, around its
    white blood cell; gray models get the luminance; ``uint16`` is the 8-bit data times 257."""
    import cv2

    from microgan.data.samples import blurred_bccd_field

    field = blurred_bccd_field()
    height, width = field.shape[:2]
    if side > min(height, width):
        raise MicroGANError(f"test crop of {side} px does not fit the {width}x{height} sample field")
    cy, cx = 225, 206  # the white blood cell of BloodImage_00011
    top = int(np.clip(cy - side // 2, 0, height - side))
    left = int(np.clip(cx - side // 2, 0, width - side))
    crop = field[top : top + side, left : left + side]
    if channels == 1:
        crop = cv2.cvtColor(crop, cv2.COLOR_RGB2GRAY)[:, :, None]
    if dtype == "uint16":
        crop = crop.astype(np.uint16) * 257
    return np.ascontiguousarray(crop.transpose(2, 0, 1)[None])


def _restore(enhancer: Any, batch: np.ndarray) -> np.ndarray:
    """The Enhancer's float result for a (1, C, H, W) native batch, before any rounding, on the
    input's scale: the crop goes in as float32 in [0, 1], so no sample type is involved on the way
    out (``microgan enhance`` rounds this same result to the input's type)."""
    top = float(np.iinfo(batch.dtype).max)
    image = batch[0].transpose(1, 2, 0).astype(np.float32) / top
    out = enhancer.enhance(image) * top
    out = out.reshape(out.shape[:2] + image.shape[2:])  # an upscaler's is larger than the input
    return np.ascontiguousarray(out.transpose(2, 0, 1)[None].astype(np.float32))


def _display(batch: np.ndarray, top: float) -> np.ndarray:
    """(1, C, H, W) tensor on a ``0..top`` scale -> (H, W, 3) uint8 for people."""
    image = batch[0].transpose(1, 2, 0).astype(np.float32) / top
    image = np.clip(image * 255 + 0.5, 0, 255).astype(np.uint8)
    return np.repeat(image, 3, axis=2) if image.shape[2] == 1 else image


def _pictures(test_input: np.ndarray, test_output: np.ndarray, top: float, folder: Path) -> None:
    """Sample images of input and output, and the cover: input | restored side by side (2:1, as
    the spec wants covers), at least 512 px wide. 8-bit PNGs: they are for people, not tests."""
    import cv2

    from microgan.data.io import write_image

    shown_in, shown_out = _display(test_input, top), _display(test_output, top)
    write_image(folder / "sample_input.png", shown_in, overwrite=True)
    write_image(folder / "sample_output.png", shown_out, overwrite=True)
    enlarged = shown_out.shape[0] // shown_in.shape[0]  # an upscaler's output: the input shown as large
    pair = np.concatenate([shown_in.repeat(enlarged, axis=0).repeat(enlarged, axis=1), shown_out], axis=1)
    scale = max(1, -(-512 // pair.shape[1]))
    pair = cv2.resize(pair, None, fx=scale, fy=scale, interpolation=cv2.INTER_NEAREST)
    write_image(folder / "cover.png", pair, overwrite=True)


def _processing(v0_5: Any, dtype: str) -> Tuple[List[Any], List[Any], Any, Any, float]:
    """(preprocessing, postprocessing, input data, output data, top) of training's normalization."""
    top = float(np.iinfo(dtype).max)
    # core.contract as linear maps: x / top then to_network; from_network then times top
    low, high = NETWORK_RANGE
    gain_in = float(to_network(1.0) - to_network(0.0)) / top
    gain_out = top * float(from_network(high) - from_network(low)) / (high - low)
    pre = [
        v0_5.EnsureDtypeDescr(kwargs=v0_5.EnsureDtypeKwargs(dtype="float32")),
        v0_5.ScaleLinearDescr(kwargs=v0_5.ScaleLinearKwargs(gain=gain_in, offset=float(to_network(0.0)))),
        # without a final cast the spec appends one to the declared input type (uint8)
        v0_5.EnsureDtypeDescr(kwargs=v0_5.EnsureDtypeKwargs(dtype="float32")),
    ]
    post = [v0_5.ScaleLinearDescr(kwargs=v0_5.ScaleLinearKwargs(gain=gain_out, offset=top * float(from_network(0.0))))]
    data_in = v0_5.IntervalOrRatioDataDescr(type=dtype, range=(0, top))
    data_out = v0_5.IntervalOrRatioDataDescr(type="float32", range=(0.0, top))
    return pre, post, data_in, data_out, top


def _facts(enhancer: Any, meta: Mapping[str, Any], geo: Geometry, dtype: str,
           parity: Mapping[str, Mapping[str, float]]) -> Dict[str, str]:
    from importlib.metadata import version

    from microgan.core.provenance import describe, training_of

    params = sum(p.numel() for p in enhancer.generator.parameters())
    channels = "RGB" if enhancer.channels == 3 else "gray"
    scale = f"{dtype} in, float32 out on the same 0..{int(np.iinfo(dtype).max)} scale"
    halo = (f"{geo.halo} px (the measured receptive-field radius: tiles cropped by it equal the whole image)"
            if geo.halo is not None else "none declared (global normalization: every pixel sees the whole image)")
    worst = {fmt: max(errors.values()) for fmt, errors in parity.items()}
    return {
        "Image": f"{channels}, axes batch, channel, y, x; {scale}",
        "Size": f"height and width {geo.min} + n * {geo.step} (the generator pads internally to multiples of {geo.step})",
        "Halo": halo,
        "Network": f"{(meta.get('config') or {}).get('generator', {}).get('type', '?')} generator, "
                   f"{params:,} parameters, checkpoint step {meta.get('step', '?')}",
        **_psf_fact(meta),
        "Training": describe(training_of(meta)),
        "Weights": "ONNX (source) and TorchScript (converted); largest difference from PyTorch on "
                   "random sizes, in [-1, 1] units: " + ", ".join(f"{k} {v:.1e}" for k, v in worst.items()),
        "Exported": f"{date.today().isoformat()} by microgan {version('microgan')}",
    }


def _psf_fact(meta: Mapping[str, Any]) -> Dict[str, str]:
    """The README's line on a PSF built into the graph (:mod:`microgan.export.baked_psf`), if any."""
    baked = meta.get("baked_psf")
    if not baked:
        return {}
    return {"PSF": f"built in: {baked['source']} ({baked['psf']}), camera noise {baked['noise']:g} of the range; "
                   f"its deconvolution is a {2 * baked['filter_radius'] + 1} px filter in the graph. Use it on images "
                   "taken with that PSF only: for another, export again with its PSF"}


def describe(
    enhancer: Any,
    meta: Mapping[str, Any],
    card: ModelCard,
    folder: Path,
    dtype: str = "uint8",
    parity: Optional[Mapping[str, Mapping[str, float]]] = None,
    opset: int = OPSET,
) -> Tuple[Any, Geometry, np.ndarray]:
    """Write every file the package holds into ``folder`` (weights must already be there as
    ``weights.onnx`` / ``weights.pt``) and return the validated model description, the geometry
    and the test input."""
    import torch

    v0_5 = _load_bioimageio()
    # a generator that pads for its network itself (a PSF built in) still wants tiles on that network's grid
    multiple = getattr(enhancer.generator, "network_multiple", enhancer.multiple)
    scale = int(getattr(enhancer, "network_scale", 1))
    if scale > 1:  # an upscaler: input tiles whose fine starts fall on the network's grid; halo in input px
        multiple = max(1, multiple // math.gcd(multiple, scale))
        halo: Optional[int] = upscaler_halo(enhancer.generator)
    else:
        halo = None if enhancer.field is None else halo_of(enhancer.generator, enhancer.field.radius)
    geo = geometry(multiple, enhancer.min_size, halo)
    pre, post, data_in, data_out, top = _processing(v0_5, dtype)

    test_input = _test_crop(enhancer.channels, geo.valid(TEST_SIDE), dtype)
    test_output = _restore(enhancer, test_input)
    np.save(folder / "test_input.npy", test_input)
    np.save(folder / "test_output.npy", test_output)
    _pictures(test_input, test_output, top, folder)
    (folder / "README.md").write_text(render_readme(card, _facts(enhancer, meta, geo, dtype, parity or {})),
                                      encoding="utf-8")

    names = ["red", "green", "blue"] if enhancer.channels == 3 else ["gray"]
    size = v0_5.ParameterizedSize(min=geo.min, step=geo.step)
    input_id, output_id = v0_5.TensorId("input"), v0_5.TensorId("output")

    def out_axis(axis: str) -> Any:
        # an upscaler's output pixels are 1/scale of the input's: its size is scale times the input's
        ref = v0_5.SizeReference(tensor_id=input_id, axis_id=v0_5.AxisId(axis))
        if geo.halo:
            return v0_5.SpaceOutputAxisWithHalo(id=v0_5.AxisId(axis), size=ref, halo=scale * geo.halo, scale=1.0 / scale)
        return v0_5.SpaceOutputAxis(id=v0_5.AxisId(axis), size=ref, scale=1.0 / scale)

    inputs = [v0_5.InputTensorDescr(
        id=input_id,
        description="blurred image",
        axes=[v0_5.BatchAxis(), v0_5.ChannelAxis(channel_names=names),
              v0_5.SpaceInputAxis(id=v0_5.AxisId("y"), size=size),
              v0_5.SpaceInputAxis(id=v0_5.AxisId("x"), size=size)],
        data=data_in,
        test_tensor=v0_5.FileDescr(source=folder / "test_input.npy"),
        sample_tensor=v0_5.FileDescr(source=folder / "sample_input.png"),
        preprocessing=pre,
    )]
    outputs = [v0_5.OutputTensorDescr(
        id=output_id,
        description="restored image, same size" if scale == 1 else f"restored image, {scale} times the size",
        axes=[v0_5.BatchAxis(), v0_5.ChannelAxis(channel_names=names), out_axis("y"), out_axis("x")],
        data=data_out,
        test_tensor=v0_5.FileDescr(source=folder / "test_output.npy"),
        sample_tensor=v0_5.FileDescr(source=folder / "sample_output.png"),
        postprocessing=post,
    )]
    exported_by = "exported with microgan.core.portable.export_generator, checked against PyTorch"
    weights = v0_5.WeightsDescr(
        onnx=v0_5.OnnxWeightsDescr(source=folder / "weights.onnx", opset_version=opset, comment=exported_by),
        torchscript=v0_5.TorchscriptWeightsDescr(
            source=folder / "weights.pt", parent="onnx", pytorch_version=v0_5.Version(torch.__version__.split("+")[0]),
            comment="traced from the same PyTorch module as the ONNX graph; " + exported_by,
        ),
    )
    # the same bound the export's own parity check enforces, in output units
    tolerance = TOLERANCE * top / 2
    config = v0_5.Config(bioimageio=v0_5.BioimageioConfig(
        reproducibility_tolerance=[v0_5.ReproducibilityTolerance(
            absolute_tolerance=tolerance, relative_tolerance=0.0)],
        architecture_type="U-Net" if "unet" in str((meta.get("config") or {}).get("generator", {}).get("type", ""))
        else "ResNet",
        modality="brightfield microscopy",
        task="deblurring",
        model_parameter_count=sum(p.numel() for p in enhancer.generator.parameters()),
    ))
    descr = v0_5.ModelDescr(
        name=card.name,
        description=card.description,
        authors=[v0_5.Author(name=name) for name in card.authors],
        cite=[v0_5.CiteEntry(text=PAPER_CITATION, url=v0_5.HttpUrl(PAPER_URL))],
        license=v0_5.LicenseId(card.license),
        tags=card.tags,
        documentation=v0_5.FileDescr(source=folder / "README.md"),
        covers=[v0_5.FileDescr(source=folder / "cover.png")],
        inputs=inputs,
        outputs=outputs,
        weights=weights,
        config=config,
    )
    return descr, geo, test_input


def _check_package(path: Path) -> Tuple[str, List[str]]:
    """``bioimageio test`` on the zip: (status, its errors then its warnings, one line each;
    informational entries left out)."""
    from bioimageio.core import test_model

    summary = test_model(path)
    errors, warnings = [], []
    for detail in summary.details:
        where = lambda entry: ".".join(map(str, entry.loc)) or "package"  # noqa: E731
        errors += [f"{detail.name}: {where(e)}: {e.msg}" for e in detail.errors]
        warnings += [f"{where(w)}: {w.msg}" for w in detail.warnings if w.severity >= 30]
    return summary.status, errors + warnings


def export_bioimageio(
    enhancer: Any,
    path: Union[str, Path],
    card: Union[str, Path, None] = None,
    dtype: str = "uint8",
    opset: int = OPSET,
    test: bool = True,
) -> BioimageioExport:
    """Write a bioimage.io package (zip) of ``enhancer``'s generator and test it.

    ``enhancer``: a CPU fp32 :class:`~microgan.infer.Enhancer` without the self-ensemble or the
    consistency step, e.g. ``microgan.load(model, device="cpu", precision="fp32", consistency=False, normalizer="range")``. ``card``: a YAML model card (default: the one beside the
    checkpoint, else what the checkpoint records). ``dtype``: the input's sample type. ``test=False``
    skips the final ``bioimageio.core`` test (for callers that run ``bioimageio test`` themselves).
    Raises :class:`MicroGANError` when the package does not pass that test (and removes it).
    """
    if dtype not in INPUT_DTYPES:
        raise MicroGANError(f"input type '{dtype}': choose one of {', '.join(INPUT_DTYPES)}")
    if enhancer.device.type != "cpu" or enhancer.precision != "fp32":
        raise MicroGANError("export from a CPU fp32 enhancer: microgan.load(model, device='cpu', precision='fp32')")
    # the package declares training's range mapping; `auto` equals it on the test crop (an 8-bit
    # bright field, or it times 257), so either enhancer computes the same test outputs
    if enhancer.normalizer.name not in ("range", "auto"):
        raise MicroGANError(f"the package declares training's range normalization, not '{enhancer.normalizer.name}': "
                            "load the model with normalizer='range'")
    if enhancer.self_ensemble:
        raise MicroGANError("the package holds one pass of the network: export from an enhancer without self_ensemble")
    if enhancer.takes_psf:
        raise MicroGANError("a model told the PSF needs its PSF built into the package, which a bioimage.io runtime "
                            "cannot compute per image: give it (--psf SPEC|FILE or the optics, and --noise; Python: "
                            "microgan.export.baked_psf.load_for_export), or export microgan-blind")
    if enhancer.consistency:
        raise MicroGANError("the package holds the network alone: export from an enhancer with consistency=False "
                            "(the data-consistency step runs in microgan, not in a bioimage.io runtime)")
    _load_bioimageio()  # a clear message when the extra is missing
    from bioimageio.spec import save_bioimageio_package
    from pydantic import ValidationError

    path = Path(path)
    if path.suffix.lower() != ".zip":
        raise MicroGANError(f"{path}: a bioimage.io package is a .zip file")
    generator, meta = enhancer.generator, enhancer.meta
    model_card = find_card(meta, card)
    with tempfile.TemporaryDirectory(prefix="microgan-bioimageio-") as tmp:
        folder = Path(tmp)
        parity = {
            "onnx": export_generator(generator, folder / "weights.onnx", "onnx", opset, meta),
            "torchscript": export_generator(generator, folder / "weights.pt", "torchscript", meta=meta),
        }
        try:
            descr, geo, test_input = describe(enhancer, meta, model_card, folder, dtype, parity, opset)
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(map(str, first.get("loc", ())))
            raise MicroGANError(f"bioimage.io description is not valid: {where}: {first.get('msg')}") from None
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_name(path.name + ".partial")
        save_bioimageio_package(descr, output_path=partial)
    status, notes = _check_package(partial) if test else ("untested", [])
    if test and status != "passed":
        partial.unlink(missing_ok=True)
        detail = "; ".join(notes[:5]) or "no detail"
        raise MicroGANError(f"{path}: the bioimage.io package failed its test ({status}): {detail}")
    partial.replace(path)
    return BioimageioExport(path=path, geometry=geo, parity=parity, test_shape=tuple(test_input.shape),
                            status=status, warnings=notes)
