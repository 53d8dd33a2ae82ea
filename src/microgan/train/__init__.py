"""Training: the GAN loop (trainer), checkpoints, logs and torch.distributed plumbing.

Nothing is imported here so that ``microgan.train.checkpoint`` (used by inference and export)
stays cheap to import; use ``microgan.train.trainer.run_training`` to train.
"""
