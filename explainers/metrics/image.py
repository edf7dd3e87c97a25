"""How faithful an image explanation is (agreement between explanations: explainers/metrics/agreement.py).

Images (on the model's input grid; the explanation is resized to it):

- ``deletion_auc`` / ``insertion_auc`` (Petsiuk et al., RISE, BMVC 2018): pixels are
  removed (set to the ``fill`` baseline, default 0 of the input space: the mean
  colour) or inserted (into a blurred copy of the image) in decreasing order of
  the explanation's score, ``pixels_per_step`` at a time; the area under the
  softmax probability of the class over the fraction of pixels changed, x ∈ [0, 1]
  (trapezoids). Lower deletion, higher insertion: more faithful.
- ``average_drop`` and ``increase_in_confidence`` (Chattopadhyay et al.,
  Grad-CAM++, WACV 2018): the image multiplied by the explanation (min-max scaled
  to [0, 1]; signed maps keep their positive part) against the image itself:
  AD = max(0, Y − O) / Y · 100, IC = 1 if O > Y else 0.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from explainers.core.engine import batched_logits
from explainers.image.maskers import ImageMasker
from explainers.image.maps import resize_map
from explainers.core.explanation import Explanation
from models.errors import ExplainerError



@dataclass
class Curve:
    """A deletion or insertion curve: the class probability after each step, and its area."""

    fractions: np.ndarray  # x: share of pixels changed, 0 … 1
    probabilities: np.ndarray
    auc: float


def _on_input_grid(model, scores: np.ndarray) -> torch.Tensor:
    h, w = model.input_size
    return resize_map(torch.as_tensor(np.asarray(scores, dtype=np.float32)), h, w).to(model.device)


def _probabilities(model, n: int, make, target: int) -> np.ndarray:
    logits = batched_logits(model, n, make)
    return torch.softmax(logits, dim=1)[:, target].cpu().numpy().astype(np.float64)


def _curve(model, image, scores, target: int, insertion: bool, pixels_per_step: int, fill) -> Curve:
    grid = _on_input_grid(model, scores)
    h, w = grid.shape
    n_pixels = h * w
    step = max(1, int(pixels_per_step))
    n_steps = -(-n_pixels // step)
    rank = torch.empty(n_pixels, dtype=torch.long, device=grid.device)
    rank[torch.argsort(grid.flatten(), descending=True, stable=True)] = torch.arange(n_pixels, device=grid.device)
    rank = rank.view(h, w)
    masker = ImageMasker(model, image, fill="blur" if insertion else fill)

    def make(i, j):
        changed = torch.arange(i, j, device=grid.device).view(-1, 1, 1) * step  # pixels changed at each step
        in_changed = (rank[None] < changed).float()
        return masker(in_changed if insertion else 1 - in_changed)

    probabilities = _probabilities(model, n_steps + 1, make, target)
    fractions = np.minimum(np.arange(n_steps + 1) * step, n_pixels) / n_pixels
    auc = float(np.trapezoid(probabilities, fractions))
    return Curve(fractions, probabilities, auc)


def deletion_curve(model, image, scores, target: int, pixels_per_step: int = 224, fill="zero") -> Curve:
    return _curve(model, image, scores, target, False, pixels_per_step, fill)


def insertion_curve(model, image, scores, target: int, pixels_per_step: int = 224) -> Curve:
    return _curve(model, image, scores, target, True, pixels_per_step, "blur")


def deletion_auc(model, image, scores, target: int, pixels_per_step: int = 224, fill="zero") -> float:
    return deletion_curve(model, image, scores, target, pixels_per_step, fill).auc


def insertion_auc(model, image, scores, target: int, pixels_per_step: int = 224) -> float:
    return insertion_curve(model, image, scores, target, pixels_per_step).auc


def confidence_change(model, image, scores, target: int) -> tuple[float, float]:
    """(Average Drop in %, Increase in Confidence 0/1) for one image and its explanation."""
    grid = _on_input_grid(model, scores).clamp(min=0)
    low, high = grid.min(), grid.max()
    keep = (grid - low) / (high - low) if high > low else torch.ones_like(grid)
    masker = ImageMasker(model, image, fill="black")  # lerp(black, x, E) = x · E in pixel space
    batch = torch.stack([torch.ones_like(keep), keep])
    y, o = _probabilities(model, 2, lambda i, j: masker(batch[i:j]), target)
    return float(max(0.0, y - o) / y * 100 if y > 0 else 0.0), float(o > y)


def image_faithfulness(model, image, e: Explanation, pixels_per_step: int = 224) -> dict:
    """Deletion and insertion AUC, Average Drop and Increase in Confidence of ``e`` for its target,
    with the two curves (``fractions``, ``deletion_curve``, ``insertion_curve``: lists, for drawing)."""
    drop, increase = confidence_change(model, image, e.scores, e.target)
    deletion = deletion_curve(model, image, e.scores, e.target, pixels_per_step)
    insertion = insertion_curve(model, image, e.scores, e.target, pixels_per_step)
    return {
        "deletion_auc": deletion.auc,
        "insertion_auc": insertion.auc,
        "average_drop": drop,
        "increase_in_confidence": increase,
        "fractions": deletion.fractions.tolist(),
        "deletion_curve": deletion.probabilities.tolist(),
        "insertion_curve": insertion.probabilities.tolist(),
    }


def faithfulness_passes(model, pixels_per_step: int = 224) -> int:
    """Forward passes ``image_faithfulness`` makes: two curves and the confidence pair."""
    h, w = model.input_size
    return 2 * (-(-(h * w) // max(1, int(pixels_per_step))) + 1) + 2
