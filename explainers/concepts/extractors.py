"""Concept extractors behind one interface: factorise activations A (n, C) ≈ U (n, r) · W (r, C).

The Lens framework (Fel et al., NeurIPS 2023, "A Holistic Approach to Unifying
Automatic Concept Extraction and Concept Importance Estimation") sees CRAFT, ICE,
ACE and PCA-based methods as dictionary learning with different constraints:

- ``nmf``: U, W ≥ 0 (CRAFT, ICE). New activations are coded by non-negative
  least squares against the fixed bank W.
- ``pca``: W with orthonormal rows, U = A Wᵀ. Uncentred (a truncated SVD), so
  that A ≈ U W holds with no offset, as the framework writes it.
- ``kmeans``: W = the cluster centres, U one-hot (ACE-like): each row is its
  nearest centre.
- ``dictionary``: sparse dictionary learning (L1 penalty on U).

All from scikit-learn; ``fit`` is seeded, so the same seed gives the same bank.
"""

from __future__ import annotations

import warnings

import numpy as np
from scipy.optimize import nnls

from models.errors import ExplainerError

EXTRACTORS = ("nmf", "pca", "kmeans", "dictionary")


class ConceptBank:
    """A fitted extractor: ``W`` (r, C) and ``transform(A) -> U``."""

    def __init__(self, kind: str, W: np.ndarray, estimator=None):
        self.kind = kind
        self.W = np.asarray(W, dtype=np.float32)
        self._estimator = estimator

    @property
    def n_concepts(self) -> int:
        return self.W.shape[0]

    def transform(self, A: np.ndarray) -> np.ndarray:
        """Concept coefficients U (n, r) of activations A (n, C) against the fixed bank."""
        A = np.asarray(A, dtype=np.float64)
        W = self.W.astype(np.float64)
        if self.kind == "nmf":
            return np.stack([nnls(W.T, a)[0] for a in np.maximum(A, 0)]).astype(np.float32)
        if self.kind == "pca":
            return (A @ W.T).astype(np.float32)
        if self.kind == "kmeans":
            distances = ((A[:, None, :] - W[None]) ** 2).sum(-1)
            return np.eye(self.n_concepts, dtype=np.float32)[distances.argmin(1)]
        return self._estimator.transform(A).astype(np.float32)


def fit_concepts(A: np.ndarray, n_concepts: int, kind: str = "nmf", seed: int = 0) -> tuple[np.ndarray, ConceptBank]:
    """(U of the rows of A, the fitted bank) for ``n_concepts`` concepts."""
    A = np.asarray(A, dtype=np.float64)
    r = int(n_concepts)
    if kind not in EXTRACTORS:
        raise ExplainerError(f"Unknown extractor '{kind}'. Choose one of: {', '.join(EXTRACTORS)}.")
    if not 1 <= r <= min(A.shape):
        raise ExplainerError(
            f"{r} concepts cannot be extracted from {A.shape[0]} crops with {A.shape[1]} channels; "
            f"choose between 1 and {min(A.shape)}, or give more images."
        )
    from sklearn import cluster, decomposition

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # convergence warnings: the reconstruction error is reported instead
        if kind == "nmf":
            if A.min() < 0:
                raise ExplainerError(
                    f"The layer's activations are negative in places (min {A.min():.3g}), and NMF needs "
                    "non-negative ones: choose a layer after a ReLU, or another extractor (pca, kmeans, dictionary)."
                )
            nmf = decomposition.NMF(n_components=r, init="nndsvda", max_iter=1000, random_state=seed)
            U = nmf.fit_transform(A)
            return U.astype(np.float32), ConceptBank(kind, nmf.components_)
        if kind == "pca":
            if r >= A.shape[1]:
                raise ExplainerError(f"PCA needs fewer concepts ({r}) than channels ({A.shape[1]}).")
            svd = decomposition.TruncatedSVD(n_components=r, n_iter=10, random_state=seed)
            U = svd.fit_transform(A)
            return U.astype(np.float32), ConceptBank(kind, svd.components_)
        if kind == "kmeans":
            km = cluster.KMeans(n_clusters=r, n_init=4, random_state=seed).fit(A)
            return np.eye(r, dtype=np.float32)[km.labels_], ConceptBank(kind, km.cluster_centers_)
        dl = decomposition.DictionaryLearning(
            n_components=r, alpha=0.1 * float(np.abs(A).mean()), max_iter=200, random_state=seed,
            transform_algorithm="lasso_cd", transform_alpha=0.1 * float(np.abs(A).mean()),
        )
        U = dl.fit_transform(A)
        return U.astype(np.float32), ConceptBank(kind, dl.components_, dl)
