"""Helpers shared by image explainers: bring a coarse map onto the image's pixel grid."""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F


def to_pixel_grid(saliency: torch.Tensor, height: int, width: int) -> np.ndarray:
    """A (h, w) map, bilinearly upsampled to (height, width) and min-max scaled to [0, 1].

    A constant map ranks no pixel above another: all ones if it is positive
    (e.g. a 1×1 image), all zeros if it is zero everywhere (nothing supports the class).
    """
    grid = F.interpolate(saliency[None, None].float(), size=(height, width), mode="bilinear", align_corners=False)[0, 0]
    lo, hi = grid.min(), grid.max()
    if not torch.isfinite(hi - lo) or hi - lo <= 0:
        fill = 1.0 if torch.isfinite(hi) and hi > 0 else 0.0
        return np.full((height, width), fill, dtype=np.float32)
    return ((grid - lo) / (hi - lo)).clamp_(0, 1).cpu().numpy().astype(np.float32, copy=False)


def to_pixel_grid_signed(saliency: torch.Tensor, height: int, width: int) -> np.ndarray:
    """A signed (h, w) map, bilinearly upsampled to (height, width) and divided by its largest
    absolute value: in [-1, 1], zero stays zero and the sign says for or against the class."""
    grid = F.interpolate(saliency[None, None].float(), size=(height, width), mode="bilinear", align_corners=False)[0, 0]
    peak = grid.abs().max()
    if not torch.isfinite(peak) or peak <= 0:
        return np.zeros((height, width), dtype=np.float32)
    return (grid / peak).clamp_(-1, 1).cpu().numpy().astype(np.float32, copy=False)
