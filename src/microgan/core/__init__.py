"""Shared services every room of the house uses: checkpoints, device and precision choice, generator
geometry, portable (ONNX / TorchScript) graphs of a generator, image metrics, atomic writes, the
user cache folder, file helpers and small value types.

Nothing here imports training, inference, evaluation, classification, the demo or the
command line (``tests/test_import_rule.py`` enforces it), so each of those can use any of it
without an arrow running back up. Import the modules themselves; this package imports nothing.
"""
