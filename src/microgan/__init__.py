"""MicroGAN: size-invariant GAN restoration of single-cell microscopy images."""
from __future__ import annotations

__version__ = "0.1.0"

__all__ = ["__version__", "load"]


def load(model=None, **kwargs):
    """Load a trained generator for restoring numpy arrays: ``microgan.load(path).enhance(array)``.

    ``model`` is a checkpoint file, a training run folder (its best checkpoint), or None for the
    bundled pretrained model. Keyword arguments go to :class:`microgan.infer.Enhancer`; a model told the
    PSF (``microgan-psf``) takes ``psf=`` (``"gauss:2.6"``, ``"disk:3"``, a PSF image file or a 2-D array;
    left out, it estimates the PSF per image): ``microgan.load("microgan-psf", psf="gauss:2.6")``.
    ``scale=2`` (or 4) upscales: without ``model`` the bundled ``microgan-psf-x2`` (``-x4``), and a model
    given must upscale by it: ``microgan.load(scale=2, psf="gauss:1.5").enhance(array)`` is twice as large.
    """
    from microgan.infer import Enhancer

    scale = kwargs.pop("scale", None)
    if model is None and scale is not None and int(scale) > 1:
        model = f"microgan-psf-x{int(scale)}"
    enhancer = Enhancer.from_model(model, **kwargs)
    if scale is not None:
        enhancer.require_scale(int(scale))
    return enhancer
