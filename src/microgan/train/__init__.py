"""Training: the loop (trainer), the run's parts built from a config (builder), the optimization
step (step), validation (validator), the checkpoint state (state), logs and torch.distributed plumbing.

Nothing is imported here; use ``microgan.train.trainer.run_training`` to train.
"""
