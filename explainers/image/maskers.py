"""How to hide parts of an image: the image masker shared by the perturbation methods.

A mask gives each pixel of the model's input grid a keep-weight M in [0, 1]; the
masked input is ``M · x + (1 - M) · baseline``, computed on the preprocessed
(normalised) input. Because normalisation is a per-channel affine map and the
blur below preserves constants, this equals masking the [0, 1] image and then
normalising it. The baselines (``fill``):

- ``"zero"``: 0 of the model's input space — the training mean colour for
  mean/std-normalised models, mid-grey for TF-style ``(255 x - 127) / 128``;
  Fel et al.'s "inpainting" ``x·M + (1 - M)·µ`` with µ = 0.
- ``"blur"``: the input blurred by a Gaussian of ``BLUR_SIGMA`` model-grid pixels
  (Fel et al.'s "blurring").
- ``"black"``: black, so masking scales the image's amplitude: ``x·M`` in pixel
  space (Fel et al.'s "amplitude").
- an ``(r, g, b)`` colour with values in 0..255: that uniform colour.
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F
import torchvision.transforms.functional as TF

from models.errors import ExplainerError

BLUR_SIGMA = 10.0  # model-grid pixels (on a 224 grid: hides detail, keeps the coarse layout)
FILLS = ("zero", "blur", "black")


class ImageMasker:
    """One preprocessed image and its baseline; ``masker(keep)`` gives the masked batch."""

    def __init__(self, model, image: np.ndarray, fill="zero"):
        x = model.preprocess(image)  # (1, 3, h, w) on the model's device
        # channels-last: mixing with an (n, 1, h, w) mask is ~3x faster, and the engine feeds CPU models so
        self.x = x.contiguous(memory_format=torch.channels_last)
        self.baseline = _baseline(model, x, fill).contiguous(memory_format=torch.channels_last)
        self.size = tuple(x.shape[-2:])

    def __call__(self, keep: torch.Tensor) -> torch.Tensor:
        """``keep``: (n, h, w) or (n, 1, h, w) weights in [0, 1] on the model grid -> (n, 3, h, w)."""
        if keep.ndim == 3:
            keep = keep[:, None]
        return torch.lerp(self.baseline, self.x, keep.to(self.x.dtype))


def cells_to_pixels(cells: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """(n, g, g') cell values -> (n, h, w) by nearest-neighbour upsampling (as F.interpolate): each cell a block."""
    rows, cols = (_nearest_source(g, s, cells.device) for g, s in zip(cells.shape[1:], size))
    return cells.float().index_select(1, rows).index_select(2, cols)  # cheaper than interpolate on CPU


def _nearest_source(n_in: int, n_out: int, device) -> torch.Tensor:
    return F.interpolate(torch.arange(n_in, dtype=torch.float32, device=device)[None, None], size=n_out)[0, 0].long()


def _baseline(model, x: torch.Tensor, fill) -> torch.Tensor:
    if isinstance(fill, str):
        if fill == "zero":
            return torch.zeros_like(x)
        if fill == "blur":
            return gaussian_blur(x, BLUR_SIGMA)
        if fill == "black":
            return _colour(model, x, (0, 0, 0))
    elif isinstance(fill, (list, tuple)) and len(fill) == 3:
        return _colour(model, x, fill)
    raise ExplainerError(
        f"Unknown fill {fill!r}: use 'zero', 'blur', 'black' or an (r, g, b) colour with values 0..255."
    )


def _colour(model, x: torch.Tensor, rgb) -> torch.Tensor:
    try:
        values = [float(v) for v in rgb]
    except (TypeError, ValueError):
        values = [-1.0]
    if not all(0 <= v <= 255 for v in values):
        raise ExplainerError(f"A fill colour needs three values from 0 to 255; got {rgb!r}.")
    pixel = np.array(values, dtype=np.uint8).reshape(1, 1, 3)
    return model.preprocess(pixel).to(x.dtype).expand_as(x).contiguous()


def gaussian_blur(x: torch.Tensor, sigma: float) -> torch.Tensor:
    """Gaussian blur of (n, c, h, w) over ±3σ with reflected borders (constants stay constant)."""
    size = 2 * math.ceil(3 * sigma) + 1
    size = min(size, 2 * min(x.shape[-2:]) - 1)  # reflect padding needs a pad smaller than the side
    return x if size < 3 else TF.gaussian_blur(x, [size, size], [sigma, sigma])
