"""Export a generator so it runs outside this package.

``bioimageio``: a BioImage Model Zoo package (model spec 0.5). The ONNX/TorchScript writer itself is a
shared service in ``core.portable`` (inference's ONNX Runtime backend uses it too); it is re-exported here.
"""
from microgan.core.portable import ExportWrapper, check_export, export_generator, export_model, format_errors

__all__ = ["ExportWrapper", "check_export", "export_generator", "export_model", "format_errors"]
