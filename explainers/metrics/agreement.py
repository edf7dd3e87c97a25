"""How much explanations of one input agree: Spearman's ρ, Kendall's τ-b and the intersection over union of the
top-k features, over the flattened scores (image maps block-averaged to at most ``AGREEMENT_SIDE`` cells a side
first: neighbouring pixels are not independent features). Compare computes it on what its tiles show: the signed
scores, or their magnitudes (``magnitude=True``).
"""

from __future__ import annotations

import numpy as np
from PIL import Image
from scipy import stats

from explainers.core.explanation import Explanation
from models.errors import ExplainerError

AGREEMENT_SIDE = 64
AGREEMENTS = ("spearman", "kendall", "top-k iou")


def _features(scores: np.ndarray) -> np.ndarray:
    s = np.asarray(scores, dtype=np.float64)
    if s.ndim == 2 and max(s.shape) > AGREEMENT_SIDE and s.shape[0] > 1 and s.shape[1] > 1:
        h, w = s.shape
        scale = AGREEMENT_SIDE / max(h, w)
        size = (max(1, round(w * scale)), max(1, round(h * scale)))
        s = np.asarray(Image.fromarray(s.astype(np.float32), mode="F").resize(size, Image.BOX), dtype=np.float64)
    return s.ravel()


def top_k_iou(a: np.ndarray, b: np.ndarray, k: int) -> float:
    """|top-k(a) ∩ top-k(b)| / |top-k(a) ∪ top-k(b)|, ties broken by position."""
    k = max(1, min(int(k), a.size))
    top_a = set(np.argsort(-a, kind="stable")[:k].tolist())
    top_b = set(np.argsort(-b, kind="stable")[:k].tolist())
    return len(top_a & top_b) / len(top_a | top_b)


def pairwise_agreement(a, b, metric: str = "spearman", top_k: float = 0.1) -> float:
    """Agreement of two score arrays of the same shape; ``top_k``: a share (≤ 1) or a count of features."""
    fa, fb = _features(a), _features(b)
    if fa.shape != fb.shape:
        raise ExplainerError(f"Cannot compare explanations of shapes {np.shape(a)} and {np.shape(b)}.")
    if metric == "top-k iou":
        k = round(top_k * fa.size) if top_k <= 1 else int(top_k)
        return top_k_iou(fa, fb, k)
    if fa.std() == 0 or fb.std() == 0:
        return float(np.array_equal(fa, fb))  # a constant map agrees only with itself
    if metric == "spearman":
        return float(stats.spearmanr(fa, fb).statistic)
    if metric == "kendall":
        return float(stats.kendalltau(fa, fb, variant="b").statistic)
    raise ExplainerError(f"Unknown agreement metric '{metric}'. Choose one of: {', '.join(AGREEMENTS)}.")


def agreement(explanations: list[Explanation], metric: str = "spearman", top_k: float = 0.1,
              magnitude: bool = False) -> np.ndarray:
    """The symmetric matrix of pairwise agreement between explanations of one input (1 on the diagonal).
    ``magnitude``: compare |scores|; else the signed scores."""
    return agreement_of([np.abs(e.scores) if magnitude else e.scores for e in explanations], metric, top_k)


def agreement_of(shown: list, metric: str = "spearman", top_k: float = 0.1) -> np.ndarray:
    """``agreement`` of score arrays as given (Compare gives what its tiles show: reports.views.shown_scores)."""
    n = len(shown)
    matrix = np.eye(n)
    for i in range(n):
        for j in range(i + 1, n):
            matrix[i, j] = matrix[j, i] = pairwise_agreement(shown[i], shown[j], metric, top_k)
    return matrix
