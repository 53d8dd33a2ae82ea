"""Shared services every room of the house uses: checkpoints, device and precision choice, generator
geometry, image metrics, atomic writes, file helpers and small value types.

Nothing here imports training, inference, evaluation, classification, export, the demo or the
command line (``tests/test_import_rule.py`` enforces it), so each of those can use any of it
without an arrow running back up. Import the modules themselves; this package imports nothing.
"""
