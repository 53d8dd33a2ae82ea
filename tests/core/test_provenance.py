"""How a model was trained: derived from its config and step, recorded by training, said in words."""
from __future__ import annotations

from microgan.config import apply_overrides, load_config
from microgan.core.provenance import describe, training_of, training_record


def test_the_bundled_recipe_is_l1_alone_and_the_paper_recipe_is_a_gan() -> None:
    bccd = training_record(load_config("microgan-bccd"), 12000)
    assert bccd == {"objective": "l1", "steps": 12000, "pixel_steps": 12000, "adversarial_steps": 0}
    assert describe(bccd) == "L1-trained generator (12000 steps, no adversarial training)"
    # the same recipe run on as the adversarial algorithm past its warm-up is a GAN, and the record says with what
    longer = training_record(apply_overrides(load_config("microgan-bccd"), ["train.algorithm=adversarial"]), 12500)
    assert longer["objective"] == "gan" and longer["pixel_steps"] == 12000 and longer["adversarial_steps"] == 500
    assert longer["critic"] == "gap" and longer["loss_weights"] == {"adversarial": 1.0, "perceptual": 1.0, "pixel": 100.0}
    paper = training_record(load_config("microgan"), 10)
    assert paper["objective"] == "gan" and paper["pixel_steps"] == 0
    assert paper["loss_weights"] == {"adversarial": 1.0, "perceptual": 100.0}  # pixel weight 0: not a term
    assert describe(paper).startswith("GAN-trained (critic gap; 10 adversarial steps; adversarial x1, perceptual x100")


def test_recorded_wins_over_derived_and_unknown_is_said() -> None:
    recorded = {"objective": "gan", "steps": 3, "pixel_steps": 0, "adversarial_steps": 3}
    assert training_of({"training": recorded, "config": {}, "step": 99}) == recorded
    assert training_of({"config": {"train": {"pixel_warmup_steps": 5}, "losses": {}}, "step": 5})["objective"] == "l1"
    assert training_of({"step": 5}) is None
    assert training_of({"config": {"generator": {}}, "step": 5}) is None  # not a training config: cannot tell
    assert "unknown" in describe(None)


def test_a_fine_tuned_run_names_its_start() -> None:
    record = training_record(load_config("microgan-blind"), 40000, {"name": "microgan-bccd", "model": "microgan-bccd"})
    assert record["objective"] == "l1" and record["started_from"] == "microgan-bccd"
    assert describe(record) == "L1-trained generator (40000 steps, no adversarial training, fine-tuned from microgan-bccd)"
