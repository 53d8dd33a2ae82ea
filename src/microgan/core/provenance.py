"""How a model was trained, recorded in its checkpoint and shown wherever the model is named.

A generator trained with a pixel loss alone is a restoration network, not a GAN: calling it
"MicroGAN" would promise the adversarial training the paper describes. The record is derived from
the run config and the step count (the pixel warm-up covers the first ``pixel_warmup_steps``
steps, the GAN objective the rest), written by training as ``meta["training"]`` and derived the
same way for checkpoints written before the field existed (their config and step say it all).
"""
from __future__ import annotations

from typing import Any, Dict, Mapping, Optional

#: ``objective`` of a run that took adversarial steps; otherwise the pixel loss's name ("l1", "mse").
GAN = "gan"


def _weights(losses: Mapping[str, Any]) -> Dict[str, float]:
    """Nonzero loss weights of the GAN objective, by term (a term without a weight weighs 1)."""
    out: Dict[str, float] = {}
    for term, spec in losses.items():
        if isinstance(spec, Mapping) and spec.get("type"):
            weight = float(spec.get("weight", 1.0))
            if weight:
                out[term] = weight
    return out


def training_record(config: Mapping[str, Any], step: int, init_from: Optional[Mapping[str, Any]] = None) -> Dict[str, Any]:
    """``{"objective", "steps", "pixel_steps", "adversarial_steps", ...}`` of a run at ``step``.

    ``objective`` is ``"gan"`` once any adversarial step ran, else the pixel loss (``"l1"``);
    a GAN record also names the critic and the loss weights; a fine-tuned run (``--init-from``)
    names the model it started from (whose own record says how that one was trained)."""
    train = config.get("train") or {}
    losses = config.get("losses") or {}
    warmup = int(train.get("pixel_warmup_steps") or 0)
    if train.get("algorithm") == "restoration":  # the pixel loss throughout, whatever the warm-up says
        warmup = int(step)
    pixel_steps = min(int(step), warmup)
    critic_only = min(int(step) - pixel_steps, int(train.get("critic_warmup_steps") or 0))
    adversarial_steps = int(step) - pixel_steps - critic_only
    record: Dict[str, Any] = {
        "objective": GAN if adversarial_steps else str((losses.get("pixel") or {}).get("type", "l1")),
        "steps": int(step),
        "pixel_steps": pixel_steps,
        "adversarial_steps": adversarial_steps,
    }
    if critic_only:
        record["critic_warmup_steps"] = critic_only
    if adversarial_steps:
        record["critic"] = (config.get("critic") or {}).get("type")
        record["loss_weights"] = _weights(losses)
        record["critic_steps"] = int(train.get("critic_steps", 4))
    if init_from:
        record["started_from"] = init_from.get("name") or init_from.get("model")
    return record


def training_of(meta: Mapping[str, Any]) -> Optional[Dict[str, Any]]:
    """The checkpoint's record, derived from its config and step where it has none; None when
    the metadata cannot tell (no step, or a config without the ``losses`` every training run has)."""
    if isinstance(meta.get("training"), Mapping):
        return dict(meta["training"])
    config = meta.get("config")
    if isinstance(config, Mapping) and isinstance(config.get("losses"), Mapping) and meta.get("step") is not None:
        return training_record(config, int(meta["step"]))
    return None


def describe(record: Optional[Mapping[str, Any]]) -> str:
    """One phrase for reports and the console, e.g. ``L1-trained generator (12000 steps, no
    adversarial training)`` or ``GAN-trained (critic gap; 150 pixel warm-up + 1000 adversarial steps;
    adversarial x1, perceptual x100)``."""
    if not record:
        return "training unknown (the checkpoint records no training config and step)"
    start = f", fine-tuned from {record['started_from']}" if record.get("started_from") else ""
    if record["objective"] != GAN:
        return f"{record['objective'].upper()}-trained generator ({record['steps']} steps, no adversarial training{start})"
    warmup = f"{record['pixel_steps']} pixel warm-up + " if record["pixel_steps"] else ""
    warmup += f"{record['critic_warmup_steps']} critic warm-up + " if record.get("critic_warmup_steps") else ""
    weights = ", ".join(f"{k} x{v:g}" for k, v in (record.get("loss_weights") or {}).items())
    return f"GAN-trained (critic {record.get('critic')}; {warmup}{record['adversarial_steps']} adversarial steps; {weights}{start})"
