"""Lens metrics for a concept explanation (Fel et al., NeurIPS 2023, section 4).

- ``relative_reconstruction_error``: ‖A − U W‖_F / ‖A‖_F.
- ``sparsity``: the share of coefficients of U that are zero (≤ 1e-6 of the largest).
- ``c_deletion`` / ``c_insertion``: remove (or add, from none) the concepts of an image
  in decreasing importance, one at a time, and take the area under the class-logit
  curve over the fraction of concepts removed (or added), x ∈ [0, 1], trapezoids.
  Lower deletion and higher insertion mean a more faithful order.
- ``c_mufidelity``: Pearson correlation, over random subsets S of concepts, between
  Σ_{i∈S} importance_i and the logit drop h(U) − h(U with S zeroed) (each concept in
  S with probability 1/2).
- ``strategic_clusters``: each image goes to its dominant (most important)
  concept; per concept, its prevalence (share of images) and its reliability (the
  model's accuracy on those images, None where no image went).
"""

from __future__ import annotations

import numpy as np
import torch


def relative_reconstruction_error(A: np.ndarray, U: np.ndarray, W: np.ndarray) -> float:
    A = np.asarray(A, dtype=np.float64)
    norm = np.linalg.norm(A)
    return float(np.linalg.norm(A - np.asarray(U, np.float64) @ np.asarray(W, np.float64)) / norm) if norm else 0.0


def sparsity(U: np.ndarray) -> float:
    U = np.abs(np.asarray(U, dtype=np.float64))
    top = U.max() if U.size else 0.0
    return float((U <= 1e-6 * top).mean()) if top > 0 else 1.0


def _auc(curve: np.ndarray) -> np.ndarray:
    """Area under curves sampled at equally spaced x in [0, 1] (last axis)."""
    return ((curve[..., 1:] + curve[..., :-1]) / 2).mean(-1)


def _keep_masks(order: np.ndarray, deletion: bool) -> np.ndarray:
    """(r + 1, r) masks: step k keeps all but the first k of ``order`` (deletion) or only them (insertion)."""
    r = len(order)
    masks = np.zeros((r + 1, r), dtype=np.float32)
    for k in range(r + 1):
        chosen = order[:k]
        if deletion:
            masks[k] = 1
            masks[k, chosen] = 0
        else:
            masks[k, chosen] = 1
    return masks


def concept_curves(head, U: np.ndarray, importance: np.ndarray, deletion: bool = True) -> np.ndarray:
    """Class-logit curves (n_images, r + 1) as concepts are removed (or added) in decreasing importance."""
    n_images, _, r = U.shape
    masks = np.stack([_keep_masks(np.argsort(-imp, kind="stable"), deletion) for imp in importance])
    return _masked_logits(head, U, masks.reshape(n_images * (r + 1), r), r + 1).reshape(n_images, r + 1)


def _masked_logits(head, U: np.ndarray, masks: np.ndarray, per_image: int) -> np.ndarray:
    Ut = torch.as_tensor(U, device=head.W.device)
    mt = torch.as_tensor(masks, dtype=torch.float32, device=head.W.device)

    def make(i, j):
        rows = torch.arange(i, j, device=Ut.device)
        return Ut[rows // per_image] * mt[rows][:, None, :]

    return head.logits_of(len(masks), make)


def c_deletion(head, U, importance) -> float:
    return float(_auc(concept_curves(head, U, importance, deletion=True)).mean())


def c_insertion(head, U, importance) -> float:
    return float(_auc(concept_curves(head, U, importance, deletion=False)).mean())


MUFIDELITY_SUBSETS = 64


def metric_passes(r: int) -> int:
    """Passes through h per image for C-Deletion, C-Insertion and C-µFidelity."""
    return 2 * (r + 1) + MUFIDELITY_SUBSETS + 1


def c_mufidelity(head, U: np.ndarray, importance: np.ndarray, n_subsets: int = MUFIDELITY_SUBSETS, seed: int = 0) -> float:
    n_images, _, r = U.shape
    rng = np.random.default_rng(seed)
    removed = rng.random((n_images, n_subsets, r)) < 0.5
    keep = np.concatenate([np.ones((n_images, 1, r), bool), ~removed], axis=1).astype(np.float32)
    y = _masked_logits(head, U, keep.reshape(-1, r), n_subsets + 1).reshape(n_images, n_subsets + 1)
    drops = y[:, :1] - y[:, 1:]
    attributed = (removed * importance[:, None, :]).sum(-1)
    correlations = [
        np.corrcoef(a, d)[0, 1] for a, d in zip(attributed, drops) if a.std() > 0 and d.std() > 0
    ]
    return float(np.mean(correlations)) if correlations else float("nan")


def strategic_clusters(importance: np.ndarray, correct: np.ndarray) -> dict:
    """Dominant concept per image, and per concept its prevalence and reliability."""
    importance = np.asarray(importance)
    correct = np.asarray(correct, dtype=bool)
    dominant = importance.argmax(1)
    r = importance.shape[1]
    prevalence = [float((dominant == i).mean()) for i in range(r)]
    reliability = [float(correct[dominant == i].mean()) if (dominant == i).any() else None for i in range(r)]
    return {"dominant": dominant.tolist(), "prevalence": prevalence, "reliability": reliability}
