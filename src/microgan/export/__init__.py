"""Export a generator so it runs outside this package.

``portable``: ONNX and TorchScript files with dynamic height and width, checked against PyTorch.
"""
from microgan.export.portable import ExportWrapper, check_export, export_generator, export_model, format_errors

__all__ = ["ExportWrapper", "check_export", "export_generator", "export_model", "format_errors"]
