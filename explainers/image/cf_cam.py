"""CF-CAM: Cluster Filter Class Activation Mapping (2025).

Grad-CAM's weights are mean gradients, and gradients are noisy. CF-CAM keeps
the weights of the strongest channels and, for the rest, replaces each
channel's own mean gradient by a denoised estimate shared with the channels
whose activation maps look alike:

1. channels whose activation L2 norm is at or above the 75th percentile keep
   w_k = mean(G_k);
2. the remaining channels are clustered with DBSCAN on their flattened
   activation maps (eps = 25th percentile of their pairwise distances,
   min_samples = max(2, 5 % of them)); noise-labelled channels get w_k = 0;
3. each cluster's mean gradient map is filtered with a bilateral filter
   (Gaussian in space × Gaussian in value) and every member takes the
   filtered map's mean as its weight;
4. CAM = ReLU(Σ_k w_k A_k), upsampled to the image and min-max scaled.

Unlike the reference code, the weights are the raw mean gradients (no softmax
over channels, which flattens the class dependence), and the ``grad_noise``
option perturbs the gradients *before* the weights are computed.

How step 2 is computed (the same DBSCAN as scikit-learn's, in a fraction of its time):
channels whose activation maps are identical (ReLU networks have many dead,
all-zero channels: 770 of the 960 weaker ones in efficientnet-lite0's last
layer on a photo) are clustered once, with their multiplicity; the distances
are scipy's ``pdist`` between the distinct maps, the percentile is numpy's
("linear") over all n(n-1)/2 channel pairs, identical pairs counting as
distance 0; a channel's neighbours are the channels within eps, itself
included (as scikit-learn counts), core channels have at least min_samples
of them, clusters are the connected components of core channels, and a
border channel (not core, but within eps of a core one) joins the cluster,
of those it touches, whose first core channel comes first in channel order.
That last rule is scikit-learn's: its visit order numbers clusters by their
first core point and labels a border point when the first of them reaches
it; any other choice would be as valid, this one keeps CF-CAM's weights
those of ``sklearn.cluster.DBSCAN`` run on the same channels.
"""

from __future__ import annotations

import numpy as np
import torch
from scipy.spatial.distance import pdist, squareform

from explainers.image.cam import GRADIENT_CAM, weighted_sum
from explainers.core.registry import register

STRONG_PERCENTILE = 75.0
EPS_PERCENTILE = 25.0
MIN_SAMPLES_FRACTION = 0.05
SIGMA_SPACE = 1.0  # in feature-map cells
MIN_EPS = 1e-12  # eps when a quarter of the pairs or more are identical


def bilateral_filters(maps: np.ndarray, sigma_space: float = SIGMA_SPACE, sigma_range: float | None = None) -> np.ndarray:
    """``bilateral_filter`` of each of k maps (k, h, w) at once."""
    k, h, w = maps.shape
    flat = maps.reshape(k, h * w).astype(np.float64)
    sigma = flat.std(axis=1) if sigma_range is None else np.full(k, float(sigma_range))
    out = flat.copy()
    varied = sigma > 0
    if varied.any():
        ys, xs = np.divmod(np.arange(h * w), w)
        space = ((ys[:, None] - ys[None, :]) ** 2 + (xs[:, None] - xs[None, :]) ** 2) / (2 * sigma_space**2)
        v = flat[varied]
        value = (v[:, :, None] - v[:, None, :]) ** 2 / (2 * sigma[varied, None, None] ** 2)
        kernel = np.exp(-space - value)
        out[varied] = np.einsum("kpq,kq->kp", kernel, v) / kernel.sum(axis=2)
    return out.reshape(k, h, w)


def bilateral_filter(values: np.ndarray, sigma_space: float = SIGMA_SPACE, sigma_range: float | None = None) -> np.ndarray:
    """Edge-preserving smoothing of an (h, w) map: weights exp(-|p-q|²/2σs²) · exp(-(v_p-v_q)²/2σr²).

    σr defaults to the map's standard deviation (scale-free); a constant map is returned as is.
    """
    return bilateral_filters(np.asarray(values)[None], sigma_space, sigma_range)[0]


_HASH = np.random.default_rng(20250101).standard_normal(4096)  # a fixed random projection for distinct_rows


def distinct_rows(X: np.ndarray):
    """(first, inverse, counts) of the distinct rows of X (n, d): X == X[first][inverse], ``first`` the
    index of each distinct row's first occurrence, ``counts`` how often it occurs.

    Rows are grouped by a random projection (equal rows project equally) and each group is checked
    to be one row; should two different rows ever project alike, the rows are compared byte for
    byte instead (np.unique over the rows' bytes, slower).
    """
    X = np.ascontiguousarray(X)
    if X.shape[1] <= _HASH.size:
        _, first, inverse, counts = np.unique((X * _HASH[: X.shape[1]]).sum(axis=1), return_index=True,
                                              return_inverse=True, return_counts=True)
        inverse = inverse.reshape(-1)
        if (X[first][inverse] == X).all():
            return first, inverse, counts
    keys = X.view(np.dtype((np.void, X.shape[1] * X.itemsize))).reshape(-1)
    _, first, inverse, counts = np.unique(keys, return_index=True, return_inverse=True, return_counts=True)
    return first, inverse.reshape(-1), counts


def _lerp(a: float, b: float, t: float) -> float:
    """numpy's linear interpolation for percentiles (bit for bit: it switches form at t = 0.5)."""
    diff = b - a
    return b - diff * (1 - t) if t >= 0.5 else a + diff * t


def pair_percentile(distances: np.ndarray, counts: np.ndarray, q: float) -> float:
    """``np.percentile(pdist(X), q)`` from the distinct rows of X.

    ``distances``: ``pdist`` of the distinct rows; ``counts``: how often each occurs in X. The
    c(c-1)/2 pairs of copies of one row are at distance 0, the c_a·c_b pairs of copies of two rows
    at their distance.
    """
    counts = np.asarray(counts, dtype=np.int64)
    n = int(counts.sum())
    m = n * (n - 1) // 2
    if m == 0:
        raise ValueError("a percentile of pairwise distances needs at least two rows")
    position = (m - 1) * (q / 100.0)
    below = int(np.floor(position))
    wanted = [below, min(below + 1, m - 1)]
    zeros = int((counts * (counts - 1) // 2).sum())  # the smallest distances, all 0
    values = [0.0, 0.0]
    if wanted[1] >= zeros:  # some wanted order statistic is among the pairs of distinct rows
        if (counts == 1).all():
            cross = distances
        else:  # the c_a·c_b pairs of copies of rows a < b, in pdist's order
            products = np.outer(counts, counts)
            np.fill_diagonal(products, 0)
            cross = np.repeat(distances, squareform(products, checks=False))
        ranks = [r - zeros for r in wanted if r >= zeros]
        chosen = np.partition(cross, ranks)[ranks]
        for i, r in enumerate(wanted):
            if r >= zeros:
                values[i] = float(chosen[ranks.index(r - zeros)])
    return _lerp(values[0], values[1], position - below)


def dbscan(neighbours: np.ndarray, min_samples: int, counts: np.ndarray | None = None, order: np.ndarray | None = None) -> np.ndarray:
    """DBSCAN labels (-1: noise) from the eps-neighbour relation, as ``sklearn.cluster.DBSCAN`` gives them.

    ``neighbours`` (n, n) bool: symmetric, True on the diagonal (a point is its own neighbour).
    ``counts``: each point's multiplicity (a point standing for identical copies; default 1);
    ``order``: each point's position in the original order (default its index), which numbers the
    clusters. A point is core when its neighbours' counts sum to at least ``min_samples``; clusters
    are the connected components of the core points, numbered by their first core point in
    ``order``; a border point joins the lowest-numbered cluster among its core neighbours' (which is
    scikit-learn's result: it expands clusters in that order and labels a border point when first
    reached); the rest is noise.
    """
    n = neighbours.shape[0]
    counts = np.ones(n, dtype=np.int64) if counts is None else np.asarray(counts, dtype=np.int64)
    order = np.arange(n) if order is None else np.asarray(order)
    core = (neighbours @ counts if (counts != 1).any() else neighbours.sum(axis=1)) >= min_samples
    labels = np.full(n, -1, dtype=np.intp)
    core_points = np.flatnonzero(core)
    label = 0
    for start in core_points[np.argsort(order[core_points], kind="stable")]:
        if labels[start] != -1:
            continue
        labels[start] = label
        frontier = np.array([start])
        while frontier.size:  # breadth-first through core points only
            frontier = np.flatnonzero(neighbours[frontier].any(axis=0) & core & (labels == -1))
            labels[frontier] = label
        label += 1
    border = np.flatnonzero(~core)
    if core_points.size and border.size:
        touching = neighbours[np.ix_(border, core_points)]
        first = np.where(touching, labels[core_points][None, :], label).min(axis=1)
        labels[border] = np.where(first < label, first, -1)
    return labels


def cluster_channels(X: np.ndarray) -> np.ndarray:
    """CF-CAM's DBSCAN labels of the rows of X (n, d): eps = the 25th percentile of the pairwise
    distances (at least ``MIN_EPS``), min_samples = max(2, ⌈5 % of n⌉)."""
    first, inverse, counts = distinct_rows(X)
    distances = pdist(X[first]) if first.size >= 2 else np.zeros(0)
    eps = max(pair_percentile(distances, counts, EPS_PERCENTILE), MIN_EPS)
    min_samples = max(2, int(np.ceil(MIN_SAMPLES_FRACTION * X.shape[0])))
    neighbours = squareform(distances <= eps)
    np.fill_diagonal(neighbours, True)
    return dbscan(neighbours, min_samples, counts, order=first)[inverse]


def cluster_filter_weights(A: torch.Tensor, G: torch.Tensor) -> torch.Tensor:
    """The CF-CAM channel weights (C,) for activations and gradients (C, h, w).

    The maps are small (C × h·w, e.g. 1280 × 49): the rule runs in float64 on the CPU, whatever the
    layer's device, and the weights go back to it.
    """
    # numpy's conversion, not torch's .double(): torch spreads even this small copy over its threads
    acts = A.detach().reshape(A.shape[0], -1).cpu().numpy().astype(np.float64)
    grads = G.detach().cpu().numpy().astype(np.float64)
    weights = grads.mean(axis=(1, 2))
    norms = np.linalg.norm(acts, axis=1)
    rest = np.flatnonzero(norms < np.percentile(norms, STRONG_PERCENTILE))
    if rest.size >= 2:
        labels = cluster_channels(acts[rest])
        weights[rest[labels == -1]] = 0.0
        n_clusters = int(labels.max()) + 1
        if n_clusters:
            member = labels >= 0
            means = np.stack([grads[rest[labels == c]].mean(axis=0) for c in range(n_clusters)])
            weights[rest[member]] = bilateral_filters(means).mean(axis=(1, 2))[labels[member]]
    else:
        weights[rest] = 0.0
    return torch.from_numpy(weights).to(A.device, A.dtype)


@register("cf-cam", **GRADIENT_CAM)
def cf_cam(A: torch.Tensor, G: torch.Tensor) -> torch.Tensor:
    """CF-CAM (Cluster Filter CAM, 2025): strong channels keep their mean gradient, the rest share a DBSCAN cluster's bilaterally filtered one."""
    return weighted_sum(cluster_filter_weights(A, G), A)
