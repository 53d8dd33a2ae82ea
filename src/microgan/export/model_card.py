"""The human part of an exported model: who made it, from what data, how well it does, its limits.

A checkpoint knows its architecture, config and step, but not the story a model zoo asks for. That
story is a small YAML *card* with the keys of :class:`ModelCard`. It is looked up beside the
checkpoint (``NAME.card.yaml`` next to ``NAME.safetensors``, which is how the bundled model carries
its own) or given explicitly (``microgan export --card FILE``). Keys a card leaves out get honest
defaults drawn from the checkpoint, which say what is not known rather than invent it.
"""
from __future__ import annotations

from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, Dict, List, Mapping, Optional, Union

import yaml

from microgan.data.samples import BCCD_ATTRIBUTION
from microgan.config import deep_get
from microgan.core.provenance import describe, training_of
from microgan.errors import ConfigError

#: The paper every MicroGAN model is cited with. The paper's text carries no DOI, so the link is a
#: literature search for its exact title rather than a guessed address.
PAPER_CITATION = (
    "Gautam S., Pradhan D. K., Chhipa P. C., Nakajima S. MicroGAN: Size-invariant Learning of GAN "
    "for Super-Resolution of Microscopic Images."
)
PAPER_URL = (
    "https://scholar.google.com/scholar?q=%22MicroGAN%3A+Size-invariant+Learning+of+GAN+for+"
    "Super-Resolution+of+Microscopic+Images%22"
)
CARD_SUFFIX = ".card.yaml"


@dataclass
class ModelCard:
    """What a model zoo entry says about a model beyond its tensors (all text is Markdown)."""

    name: str
    description: str
    authors: List[str] = field(default_factory=list)
    license: str = "MIT"
    tags: List[str] = field(default_factory=list)
    training_data: str = ""
    training_data_url: Optional[str] = None
    training: str = ""
    validation: str = ""
    limitations: str = ""


def default_card(meta: Mapping[str, Any]) -> ModelCard:
    """A card from the checkpoint alone: it names what the checkpoint records and says plainly
    that the rest (data, metrics) was not described."""
    config = str(deep_get(meta, "config.name") or "custom")
    step = meta.get("step", "?")
    metrics = meta.get("metrics") or {}
    measured = ", ".join(f"{k} {v:.4g}" for k, v in metrics.items() if isinstance(v, (int, float)))
    how = describe(training_of(meta))
    return ModelCard(
        name=f"MicroGAN generator ({config}) deblurring",
        description=f"MicroGAN generator (config '{config}', step {step}; {how}) restoring blurred "
        "single-cell microscopy images at their native size.",
        tags=["microgan", "deblurring", "restoration", "2d", "pytorch", "onnx", "torchscript"],
        training_data="Not described: give a card (`microgan export --card CARD.yaml`) with a "
        "`training_data` entry.",
        training=f"Trained with `microgan train` (config '{config}'): {how}.",
        validation=(f"Validation metrics stored in the checkpoint: {measured}." if measured else
                    "No validation metrics are stored in the checkpoint.")
        + " Measure on held-out data of your own with `microgan evaluate`.",
        limitations="Trained for one degradation; other blur, noise, stains or modalities are out "
        "of distribution. Restored images can hold plausible but wrong detail: not for diagnosis.",
    )


def read_card(path: Union[str, Path], base: ModelCard) -> ModelCard:
    """``base`` with the keys of the YAML card at ``path``; unknown keys are refused by name."""
    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigError(f"{path}: cannot read model card ({exc})") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: a model card is a YAML mapping, got {type(data).__name__}")
    known = {f.name for f in fields(ModelCard)}
    unknown = sorted(set(data) - known)
    if unknown:
        raise ConfigError(f"{path}: unknown model card keys {unknown} (known: {', '.join(sorted(known))})")
    for key in ("authors", "tags"):
        if key in data and not (isinstance(data[key], list) and all(isinstance(v, str) for v in data[key])):
            raise ConfigError(f"{path}: '{key}' must be a list of strings")
    values: Dict[str, Any] = {f.name: getattr(base, f.name) for f in fields(ModelCard)}
    values.update({k: (v if k in ("authors", "tags") else (None if v is None else str(v).strip()))
                   for k, v in data.items()})
    return ModelCard(**values)


def find_card(meta: Mapping[str, Any], card: Union[str, Path, None] = None) -> ModelCard:
    """The card given, else ``NAME.card.yaml`` beside the checkpoint, over :func:`default_card`."""
    base = default_card(meta)
    if card is not None:
        return read_card(card, base)
    source = meta.get("path")
    if source:
        beside = Path(source).with_name(Path(source).stem + CARD_SUFFIX)
        if beside.is_file():
            return read_card(beside, base)
    return base


def render_readme(card: ModelCard, facts: Mapping[str, str]) -> str:
    """The package's README.md: the card, then what the export measured (``facts``: ordered
    "what: value" lines, e.g. receptive field, parity), usage, citation and licence."""
    lines = [f"# {card.name}", "", card.description, ""]
    lines += ["## Use", "",
              "Inputs and outputs, pre- and postprocessing are declared in `rdf.yaml`, so any bioimage.io "
              "consumer (deepImageJ, ilastik, QuPath, napari, `bioimageio.core` in Python) runs the model "
              "as exported. The MicroGAN toolkit runs the same restoration, tiled for any image size: "
              "`microgan enhance IMAGES -o OUT --model CHECKPOINT`.", ""]
    lines += [f"- {key}: {value}" for key, value in facts.items()] + [""]
    lines += ["## Training data", "", card.training_data, ""]
    if card.training_data_url:
        lines += [f"Source: {card.training_data_url}", ""]
    lines += ["## Training", "", card.training, ""]
    lines += ["## Validation", "", card.validation, ""]
    lines += ["## Limitations", "", card.limitations, ""]
    lines += ["## Test data", "", "The test tensors and the cover are cut from BCCD `BloodImage_00011` (a field shipped "
              f"with MicroGAN), blurred with the paper's 15x15 Gaussian: {BCCD_ATTRIBUTION}.", ""]
    lines += ["## Citation", "", PAPER_CITATION, f"({PAPER_URL})", ""]
    lines += ["## Licence", "", f"Weights: {card.license}. MicroGAN (the code that trained and exported "
              "them) is MIT-licensed.", ""]
    if card.authors:
        lines += ["## Authors", "", ", ".join(card.authors), ""]
    return "\n".join(lines)
