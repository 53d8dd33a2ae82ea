"""``microgan demo``: the paper's pipeline end to end, in under a minute, on real cells in the box.

A newcomer should see a trained model restore real cells, and by how much against the classical
answer, before preparing data or training anything. The demo only *chooses* its inputs and
settings (:mod:`~microgan.demo.images`); every step is the toolkit's own public code
(:mod:`~microgan.demo.run`), and it writes one self-contained page that opens with the answer
(:mod:`~microgan.demo.page`).
"""
from microgan.demo.images import SKIMAGE_BANDS, SKIMAGE_SEGMENTATION, DemoImages, bccd_images, bundled_images, skimage_images
from microgan.demo.run import (
    DEFAULT_OUT, INPUT_NAME, NOISY_CASE, OUTPUTS, RL_NAME, DemoCase, DemoConfig, DemoResult, DemoSection, Headline,
    demo_models, headline, model_name, pretrained_model, run_demo, training_settings,
)

__all__ = [
    "DEFAULT_OUT", "INPUT_NAME", "NOISY_CASE", "OUTPUTS", "RL_NAME", "SKIMAGE_BANDS", "SKIMAGE_SEGMENTATION",
    "DemoCase", "DemoConfig", "DemoImages", "DemoResult", "DemoSection", "Headline", "bccd_images", "bundled_images",
    "demo_models", "headline", "model_name", "pretrained_model", "run_demo", "skimage_images", "training_settings",
]
