"""Helpers shared by image explainers: bring a map onto the image's pixel grid and scale it."""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from models.errors import ExplainerError


def resize_map(saliency: torch.Tensor, height: int, width: int) -> torch.Tensor:
    """A (h, w) map resized bilinearly to (height, width), float32.

    Shrinking is antialiased (a fine gradient map would alias otherwise);
    enlarging is plain bilinear interpolation.
    """
    shrink = height < saliency.shape[-2] or width < saliency.shape[-1]
    grid = F.interpolate(
        saliency[None, None].float(), size=(height, width), mode="bilinear", align_corners=False, antialias=shrink
    )
    return grid[0, 0]


def to_pixel_grid(saliency: torch.Tensor, height: int, width: int) -> np.ndarray:
    """A (h, w) map, bilinearly upsampled to (height, width) and min-max scaled to [0, 1].

    A constant map ranks no pixel above another: all ones if it is positive
    (e.g. a 1×1 image), all zeros if it is zero everywhere (nothing supports the class).
    """
    grid = resize_map(saliency, height, width)
    lo, hi = grid.min(), grid.max()
    if not torch.isfinite(hi - lo) or hi - lo <= 0:
        fill = 1.0 if torch.isfinite(hi) and hi > 0 else 0.0
        return np.full((height, width), fill, dtype=np.float32)
    return ((grid - lo) / (hi - lo)).clamp_(0, 1).cpu().numpy().astype(np.float32, copy=False)


def scale_by_max_abs(grid: torch.Tensor) -> np.ndarray:
    """``grid / max |grid|`` as float32: signs and zeros keep their meaning.

    A signed map lands in [-1, 1], a non-negative one in [0, 1]; an all-zero
    map (nothing changes the class score) stays all zero.
    """
    peak = grid.abs().max()
    if not torch.isfinite(peak):
        raise ExplainerError("The attribution is not finite (NaN or infinity): the model's output overflowed.")
    if peak == 0:
        return np.zeros(tuple(grid.shape), dtype=np.float32)
    return (grid / peak).clamp_(-1, 1).cpu().numpy().astype(np.float32, copy=False)


def to_pixel_grid_signed(saliency: torch.Tensor, height: int, width: int) -> np.ndarray:
    """A signed (h, w) map on the (height, width) grid, divided by its largest absolute value: in [-1, 1]."""
    return scale_by_max_abs(resize_map(saliency, height, width))
