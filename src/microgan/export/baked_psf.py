"""A model told the PSF with one PSF and one noise level built in: image in, restored image out.

`microgan-psf` takes the image, its Tikhonov deconvolution with the PSF and the noise level
(:mod:`microgan.core.physics`); ``microgan enhance`` computes the last two per image with Fourier
transforms. A bioimage.io runtime (deepImageJ, ilastik, QuPath) runs a graph on an image and nothing
else, so the export builds both into the graph: the deconvolution becomes one fixed depthwise
convolution (:func:`microgan.core.fourier.tikhonov_filter`, the same solve cut where it has all but
0.1 % of its mass, on the image reflected at its edges) and the noise level a constant the user
states (``--noise``), since a tile cannot read the whole image's noise. The exported graph is the
network alone after that: no data-consistency step (it needs a search per image), as for every
exported model.

An upscaling model (``microgan-psf-x2``, ``-x4``: its contract's ``scale``) is baked the same way on the fine
grid: the Tikhonov solve with the sampling is a transposed convolution of stride ``scale``
(:func:`microgan.core.fourier_sampled.sampled_tikhonov_filter`), the image channels the input enlarged by
bicubic interpolation (PyTorch's equals OpenCV's), and the graph returns an image ``scale`` times larger.

It takes any size and pads for its network itself, after the deconvolution, as ``enhance --psf``
pads the network's input: on a whole image it computes what ``enhance --psf --consistency off``
computes with that noise level (within the cut filter's 0.1 %). Because it pads each input itself,
the Enhancer runs it on whole images only (the export's test outputs); a bioimage.io consumer tiles
it on the network's step, with a halo of the network's radius plus the filter's (:func:`halo_of`).
"""
from __future__ import annotations

from typing import Any, Dict, Mapping, Tuple

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from microgan.core.fourier import tikhonov_filter
from microgan.core.fourier_sampled import sampled_tikhonov_filter
from microgan.core.geometry import size_multiple
from microgan.core.physics import NOISE_FLOOR, NOISE_SCALE, deconvolution_weight
from microgan.core.portable import EDGE_MARGIN, padding_index, reflected
from microgan.core.psf import describe_psf
from microgan.errors import MicroGANError

#: The noise level built in when none is given: 1 % of the range, a camera's usual read noise on a
#: well-exposed 8-bit brightfield image (the demo's noisy case).
DEFAULT_NOISE = 0.01


class BakedPsfGenerator(nn.Module):
    """``network`` (a generator told the PSF, ``takes_psf``) with ``kernel``'s deconvolution and the
    noise level ``noise`` (float, [0, 1] units) built in. Takes and returns ``(N, C, H, W)`` in
    network units, as every plain generator does, so the export treats it as one."""

    def __init__(self, network: nn.Module, kernel: np.ndarray, noise: float = DEFAULT_NOISE, scale: int = 1) -> None:
        super().__init__()
        if not getattr(network, "takes_psf", False):
            raise MicroGANError("only a model told the PSF (such as microgan-psf) has a PSF to build in")
        if not (isinstance(noise, (int, float)) and np.isfinite(noise) and 0 <= noise <= 1):
            raise MicroGANError(f"noise level {noise!r}: give the camera noise's standard deviation as a share of "
                                "the range, from 0 to 1 (0.01 is 1 %)")
        self.network = network
        self.image_channels = self.in_channels = int(network.image_channels)
        # it pads for its network itself, after the deconvolution (as `enhance --psf` does): padding the
        # image first would reflect it twice at its edges, a pattern the deconvolution amplifies
        self.multiple = self.min_size = 1
        self.pads_itself = True
        self.network_multiple, self.network_min_size = size_multiple(network)
        self.noise = max(float(noise), float(NOISE_FLOOR))
        #: the output is this many times larger than the input (an upscaling model's contract)
        self.scale = int(scale)
        c = self.image_channels
        try:
            if self.scale == 1:
                taps = tikhonov_filter(kernel, deconvolution_weight(self.noise))
                self.radius = taps.shape[0] // 2
            else:
                taps, self.radius = sampled_tikhonov_filter(kernel, deconvolution_weight(self.noise), self.scale)
        except ValueError as exc:
            raise MicroGANError(f"cannot build the PSF ({describe_psf(kernel)}) into the model at noise "
                                f"{self.noise:g}: {exc}; state more noise (--noise) or give a narrower PSF") from None
        if self.scale == 1:
            # a convolution module (not a functional call), so the receptive-field probe sees its size;
            # Conv2d correlates, so it holds the filter turned by 180 degrees (a PSF need not be symmetric)
            self.deconvolve = nn.Conv2d(c, c, taps.shape[0], groups=c, bias=False)
            taps = np.ascontiguousarray(taps[::-1, ::-1])
        else:  # x[s i + j - radius] += y[i] taps[j]: a transposed convolution (no turn)
            self.deconvolve = nn.ConvTranspose2d(c, c, taps.shape[0], stride=self.scale, groups=c, bias=False)
        self.deconvolve.weight.data.copy_(torch.from_numpy(taps)[None, None].expand(c, 1, *taps.shape))
        self.deconvolve.weight.requires_grad_(False)
        self.register_buffer("noise_channel", torch.tensor(NOISE_SCALE * self.noise, dtype=torch.float32))
        self.kernel = np.asarray(kernel, np.float32)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # the filter sums to 1 (each phase of it), so deconvolving network units ([-1, 1]) equals
        # mapping the deconvolution
        if self.scale == 1:
            height, width = torch.as_tensor(x.shape[2]), torch.as_tensor(x.shape[3])
            rows = reflected(torch.arange(height + 2 * self.radius) - self.radius, height)
            cols = reflected(torch.arange(width + 2 * self.radius) - self.radius, width)
            z = self.deconvolve(x.index_select(2, rows).index_select(3, cols))
        else:
            s, pad = self.scale, -(-self.radius // self.scale) + 1
            rows = reflected(torch.arange(x.shape[2] + 2 * pad) - pad, torch.as_tensor(x.shape[2]))
            cols = reflected(torch.arange(x.shape[3] + 2 * pad) - pad, torch.as_tensor(x.shape[3]))
            start = s * pad + self.radius
            z = self.deconvolve(x.index_select(2, rows).index_select(3, cols))
            z = z[:, :, start : start + s * x.shape[2], start : start + s * x.shape[3]]
            x = F.interpolate(x, scale_factor=float(s), mode="bicubic", align_corners=False).clamp(-1, 1)
            height, width = torch.as_tensor(x.shape[2]), torch.as_tensor(x.shape[3])
        noise = self.noise_channel.to(x.dtype).expand(x.shape[0], 1, x.shape[2], x.shape[3])
        rows, top = padding_index(height, self.network_multiple, self.network_min_size, EDGE_MARGIN)
        cols, left = padding_index(width, self.network_multiple, self.network_min_size, EDGE_MARGIN)
        stack = torch.cat([x, z, noise], dim=1).index_select(2, rows).index_select(3, cols)
        return self.network(stack)[:, :, top : top + height, left : left + width]

    def description(self) -> Dict[str, Any]:
        """What was built in, for the checkpoint metadata and the package's README."""
        return {"psf": describe_psf(self.kernel), "noise": self.noise, "filter_radius": self.radius, "scale": self.scale}


def upscaler_halo(generator: "BakedPsfGenerator") -> int:
    """The halo, in **input** pixels, a tiling consumer needs around a tile of a baked upscaler (its
    output is ``scale`` times larger, so the probe of :func:`microgan.core.geometry.receptive_field`,
    which pairs input and output pixels, cannot measure it): the told network's measured radius and
    its step less one on the fine grid, the transposed filter's radius and bicubic interpolation's two
    coarse pixels, in coarse pixels rounded up, plus one."""
    from microgan.core.geometry import receptive_field

    field = receptive_field(generator.network, 2 * generator.image_channels + 1, torch.device("cpu"))
    if field is None:
        raise MicroGANError("the network's receptive field is unbounded: no halo can be declared")
    fine = field.radius + generator.network_multiple - 1 + generator.radius
    return -(-fine // generator.scale) + 2 + 1


def halo_of(generator: nn.Module, measured: int) -> int:
    """The halo a tiling consumer needs: ``measured`` (the receptive-field radius the probe found) for a
    plain generator; for one that pads itself (:class:`BakedPsfGenerator`, probed at one position of
    its network's step only) that radius plus the step less one, so any tile start on the step is covered."""
    step = int(getattr(generator, "network_multiple", 1))
    return measured + step - 1 if getattr(generator, "pads_itself", False) else measured


def bake_psf(network: nn.Module, meta: Mapping[str, Any], kernel: np.ndarray, noise: float = DEFAULT_NOISE,
             source: str = "") -> Tuple[BakedPsfGenerator, Dict[str, Any]]:
    """The baked generator and its metadata: ``meta`` with ``baked_psf`` (the PSF's description and
    ``source``, the noise level, the filter's radius) added."""
    from microgan.core.contract import contract_of, model_scale

    baked = BakedPsfGenerator(network, kernel, noise, model_scale(contract_of(meta)[0])).eval()
    return baked, {**meta, "baked_psf": {**baked.description(), "source": source}}


def load_for_export(model: Any, psf: Any = None, noise: float | None = None) -> Tuple[nn.Module, Dict[str, Any]]:
    """The generator an export writes, and its metadata: the model as it is, or, given a PSF (a
    spec, a file, a kernel: :func:`microgan.core.psf.resolve_psf`), a model told the PSF with that
    PSF and ``noise`` (default :data:`DEFAULT_NOISE`) built in. A PSF for a model that takes none,
    or a noise level without a PSF, is refused."""
    from microgan.core.checkpoint import load_generator
    from microgan.core.psf import resolve_psf

    generator, meta = load_generator(model, "cpu")
    kernel = resolve_psf(psf)
    if kernel is None:
        if noise is not None:
            raise MicroGANError("--noise is the noise level built in with a PSF: give the PSF too (--psf or the optics)")
        return generator, meta
    if not getattr(generator, "takes_psf", False):
        raise MicroGANError(f"{model or 'the default model'} is not told a PSF (it learnt its blur): export it without "
                            "--psf, or export a PSF-aware model (microgan-psf) with it")
    source = psf if isinstance(psf, str) else describe_psf(kernel)
    return bake_psf(generator, meta, kernel, DEFAULT_NOISE if noise is None else noise, source)
