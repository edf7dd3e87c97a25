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
"""

from __future__ import annotations

import numpy as np
import torch
from scipy.spatial.distance import pdist
from sklearn.cluster import DBSCAN

from explainers.image.cam import GRADIENT_CAM, weighted_sum
from explainers.core.registry import register

STRONG_PERCENTILE = 75.0
EPS_PERCENTILE = 25.0
MIN_SAMPLES_FRACTION = 0.05
SIGMA_SPACE = 1.0  # in feature-map cells


def bilateral_filter(values: np.ndarray, sigma_space: float = SIGMA_SPACE, sigma_range: float | None = None) -> np.ndarray:
    """Edge-preserving smoothing of an (h, w) map: weights exp(-|p-q|²/2σs²) · exp(-(v_p-v_q)²/2σr²).

    σr defaults to the map's standard deviation (scale-free); a constant map is returned as is.
    """
    h, w = values.shape
    flat = values.reshape(-1).astype(np.float64)
    sigma_range = float(flat.std()) if sigma_range is None else sigma_range
    if sigma_range <= 0:
        return values.astype(np.float64)
    ys, xs = np.divmod(np.arange(h * w), w)
    space = ((ys[:, None] - ys[None, :]) ** 2 + (xs[:, None] - xs[None, :]) ** 2) / (2 * sigma_space**2)
    value = (flat[:, None] - flat[None, :]) ** 2 / (2 * sigma_range**2)
    kernel = np.exp(-space - value)
    return (kernel @ flat / kernel.sum(axis=1)).reshape(h, w)


def cluster_filter_weights(A: torch.Tensor, G: torch.Tensor) -> torch.Tensor:
    """The CF-CAM channel weights (C,) for activations and gradients (C, h, w)."""
    acts = A.reshape(A.shape[0], -1).double().cpu().numpy()
    grads = G.double().cpu().numpy()
    weights = grads.mean(axis=(1, 2))
    norms = np.linalg.norm(acts, axis=1)
    rest = np.flatnonzero(norms < np.percentile(norms, STRONG_PERCENTILE))
    if rest.size >= 2:
        distances = pdist(acts[rest])
        eps = max(float(np.percentile(distances, EPS_PERCENTILE)), 1e-12)
        min_samples = max(2, int(np.ceil(MIN_SAMPLES_FRACTION * rest.size)))
        labels = DBSCAN(eps=eps, min_samples=min_samples).fit_predict(acts[rest])
        weights[rest[labels == -1]] = 0.0
        for label in np.unique(labels[labels >= 0]):
            members = rest[labels == label]
            weights[members] = bilateral_filter(grads[members].mean(axis=0)).mean()
    else:
        weights[rest] = 0.0
    return torch.from_numpy(weights).to(A.device, A.dtype)


@register("cf-cam", **GRADIENT_CAM)
def cf_cam(A: torch.Tensor, G: torch.Tensor) -> torch.Tensor:
    """CF-CAM (Cluster Filter CAM, 2025): strong channels keep their mean gradient, the rest share a DBSCAN cluster's bilaterally filtered one."""
    return weighted_sum(cluster_filter_weights(A, G), A)
