"""CF-CAM's fast clustering against scikit-learn's DBSCAN and the slow rule it replaces.

The slow reference below is CF-CAM's rule as it was first written (scipy ``pdist`` over every weak
channel, ``np.percentile``, ``sklearn.cluster.DBSCAN`` recomputing the neighbours, one bilateral
filter per cluster); the library computes the same weights from one distance matrix of the
distinct maps.
"""

import numpy as np
import pytest
import torch
from scipy.spatial.distance import pdist, squareform
from sklearn.cluster import DBSCAN
from sklearn.datasets import make_blobs

from explainers.image.cf_cam import (
    EPS_PERCENTILE,
    MIN_SAMPLES_FRACTION,
    STRONG_PERCENTILE,
    bilateral_filter,
    bilateral_filters,
    cluster_channels,
    cluster_filter_weights,
    dbscan,
    distinct_rows,
    pair_percentile,
)

# --- the slow reference (not in the library) ---------------------------------------------------


def reference_bilateral_filter(values, sigma_space=1.0, sigma_range=None):
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


def reference_labels(X, precomputed=False):
    """``precomputed``: DBSCAN on the very distances eps came from, rather than its own (equal but for rounding)."""
    distances = pdist(X)
    eps = max(float(np.percentile(distances, EPS_PERCENTILE)), 1e-12)
    min_samples = max(2, int(np.ceil(MIN_SAMPLES_FRACTION * X.shape[0])))
    if precomputed:
        return DBSCAN(eps=eps, min_samples=min_samples, metric="precomputed").fit_predict(squareform(distances))
    return DBSCAN(eps=eps, min_samples=min_samples).fit_predict(X)


def ambiguous(X):
    """Some pair at eps to rounding: whether it counts as a neighbour depends on how its distance is rounded.

    Repeated rows make this common: the copies' distances to a third row tie, and eps lands on one.
    """
    if len(X) < 2:
        return False
    distances = pdist(X)
    eps = max(float(np.percentile(distances, EPS_PERCENTILE)), 1e-12)
    zero = ~X.any(axis=1)
    exact = squareform(zero[:, None] & zero[None, :], checks=False)  # two all-zero rows: 0 however computed
    return bool(((np.abs(distances - eps) <= 1e-9 * max(eps, 1.0)) & ~exact).any())


def reference_weights(A, G, precomputed=False):
    acts = A.reshape(A.shape[0], -1).double().numpy()
    grads = G.double().numpy()
    weights = grads.mean(axis=(1, 2))
    norms = np.linalg.norm(acts, axis=1)
    rest = np.flatnonzero(norms < np.percentile(norms, STRONG_PERCENTILE))
    if rest.size >= 2:
        labels = reference_labels(acts[rest], precomputed)
        weights[rest[labels == -1]] = 0.0
        for label in np.unique(labels[labels >= 0]):
            members = rest[labels == label]
            weights[members] = reference_bilateral_filter(grads[members].mean(axis=0)).mean()
    else:
        weights[rest] = 0.0
    return weights


# --- data -----------------------------------------------------------------------------------------


def blobs(n, seed, d=6):
    """Clusters of varied spread with uniform background noise: cores, borders and noise all occur."""
    rng = np.random.default_rng(seed)
    n_noise = n // 5
    X, _ = make_blobs(n - n_noise, n_features=d, centers=4, cluster_std=rng.uniform(0.3, 1.5, 4), random_state=seed)
    X = np.vstack([X, rng.uniform(X.min(), X.max(), (n_noise, d))])
    return X[rng.permutation(n)]


def dataset(kind, n, seed):
    rng = np.random.default_rng(seed)
    if kind == "random":
        return rng.normal(size=(n, 5))
    if kind == "blobs":
        return blobs(n, seed)
    # ReLU'd maps with dead (all-zero) channels and repeated ones, as in a CNN's last layer
    X = np.maximum(rng.normal(size=(n, 9)) - 0.5, 0)
    X[rng.random(n) < 0.4] = 0.0
    X[n // 2 : n // 2 + 3] = X[1]
    return X


KINDS = ("random", "blobs", "dead")
SIZES = (6, 40, 300)
SEEDS = (0, 1, 2)


def partition(labels, points):
    """The sets of ``points`` grouped by label (label numbers themselves do not matter)."""
    return sorted(tuple(sorted(points[labels[points] == label])) for label in np.unique(labels[points]))


# --- DBSCAN on one neighbour relation -------------------------------------------------------------


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("n", SIZES)
@pytest.mark.parametrize("seed", SEEDS)
def test_dbscan_is_sklearns_on_the_same_distances(kind, n, seed):
    X = dataset(kind, n, seed)
    D = squareform(pdist(X))
    for q, min_samples in ((10, 2), (25, max(2, int(np.ceil(0.05 * n)))), (40, max(3, n // 8))):
        eps = max(float(np.percentile(D[np.triu_indices(n, 1)], q)), 1e-12)
        near = D <= eps
        expected = DBSCAN(eps=eps, min_samples=min_samples, metric="precomputed").fit(D)
        labels = dbscan(near, min_samples)
        core = np.zeros(n, bool)
        core[expected.core_sample_indices_] = True
        core_points = np.flatnonzero(core)
        assert partition(labels, core_points) == partition(expected.labels_, core_points)
        assert (labels[core_points] >= 0).all()
        np.testing.assert_array_equal(labels == -1, expected.labels_ == -1)  # the same noise
        for i in np.flatnonzero(~core & (labels >= 0)):  # a border point: in one of its core neighbours' clusters
            assert labels[i] in set(labels[near[i] & core])
        # and the very labels, as we number clusters and settle border points as scikit-learn does
        np.testing.assert_array_equal(labels, expected.labels_)


def test_dbscan_border_point_between_two_clusters_joins_the_first():
    """A non-core point within eps of the core points of two clusters joins the one whose first core point comes first."""
    x = np.array([0.0, 0.1, 0.2, 1.0, 1.8, 1.9, 2.0])[:, None]
    near = squareform(pdist(x)) <= 0.85
    # min_samples 4: the cores are 0.2 and 1.8 only; 1.0 is within 0.8 of both and has 3 neighbours itself
    expected = DBSCAN(eps=0.85, min_samples=4).fit_predict(x)
    labels = dbscan(near, 4)
    np.testing.assert_array_equal(labels, expected)
    np.testing.assert_array_equal(labels, [0, 0, 0, 0, 1, 1, 1])
    reversed_labels = dbscan(near[::-1, ::-1], 4)  # the other order: 1.0 joins the other cluster
    np.testing.assert_array_equal(reversed_labels, [0, 0, 0, 0, 1, 1, 1])
    np.testing.assert_array_equal(reversed_labels, DBSCAN(eps=0.85, min_samples=4).fit_predict(x[::-1]))
    order = np.arange(7)[::-1]  # or the same points with the reversed order given
    np.testing.assert_array_equal(dbscan(near, 4, order=order), [1, 1, 1, 0, 0, 0, 0])


def test_dbscan_without_core_points_is_all_noise():
    near = np.eye(5, dtype=bool)
    np.testing.assert_array_equal(dbscan(near, 2), [-1] * 5)


# --- copies counted once, with their multiplicity -----------------------------------------------


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("n", SIZES)
@pytest.mark.parametrize("seed", SEEDS)
def test_pair_percentile_is_numpys_over_all_pairs(kind, n, seed):
    X = dataset(kind, n, seed)
    first, inverse, counts = distinct_rows(X)
    np.testing.assert_array_equal(X[first][inverse], X)
    assert counts.sum() == n and (np.bincount(inverse) == counts).all()
    distances = pdist(X[first])
    for q in (0, 10, 25, 50, 73.5, 100):
        assert pair_percentile(distances, counts, q) == np.percentile(pdist(X), q)  # bit for bit


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("n", SIZES)
@pytest.mark.parametrize("seed", SEEDS)
def test_cluster_channels_is_sklearns_dbscan_on_every_channel(kind, n, seed):
    X = dataset(kind, n, seed)
    labels = cluster_channels(X)
    np.testing.assert_array_equal(labels, reference_labels(X, precomputed=True))
    if not ambiguous(X):
        np.testing.assert_array_equal(labels, reference_labels(X))


def test_cluster_channels_where_most_pairs_are_copies():
    """Over a quarter of the pairs identical: eps is the floor 1e-12, identical channels cluster, the rest is noise."""
    rng = np.random.default_rng(4)
    X = rng.random((40, 9))
    X[:25] = 0.0  # 300 of 780 pairs at distance 0
    X[30:33] = X[29]
    labels = cluster_channels(X)
    assert (labels[:25] == 0).all() and (labels[29:33] == 1).all()
    assert (labels[25:29] == -1).all() and (labels[33:] == -1).all()
    np.testing.assert_array_equal(labels, reference_labels(X, precomputed=True))


# --- the weights ----------------------------------------------------------------------------------


def test_bilateral_filters_are_the_per_map_filter():
    rng = np.random.default_rng(3)
    maps = rng.normal(size=(5, 6, 7))
    maps[2] = 1.5  # a constant map stays as it is
    together = bilateral_filters(maps)
    for one, alone in zip(together, maps):
        np.testing.assert_allclose(one, reference_bilateral_filter(alone), rtol=1e-12, atol=1e-14)
        np.testing.assert_allclose(bilateral_filter(alone), reference_bilateral_filter(alone), rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(
        bilateral_filters(maps, sigma_space=2.0, sigma_range=0.7)[4],
        reference_bilateral_filter(maps[4], sigma_space=2.0, sigma_range=0.7), rtol=1e-12,
    )


def layer(seed, channels, size, dead, repeats):
    """Activations of a ReLU layer (a share of dead channels, maybe some repeated ones) and Gaussian gradients."""
    rng = np.random.default_rng(seed)
    A = np.maximum(rng.normal(size=(channels, size, size)) + rng.normal(size=(channels, 1, 1)), 0)
    A[rng.random(channels) < dead] = 0.0
    if repeats:
        A[5:9] = A[4]
    G = rng.normal(size=(channels, size, size)) + rng.normal(size=(channels, 1, 1))
    return torch.tensor(A, dtype=torch.float32), torch.tensor(G, dtype=torch.float32)


# channels, map size, share of dead channels, repeated channels
LAYERS = [(16, 3, 0.0, False), (64, 4, 0.3, True), (200, 5, 0.6, False), (640, 7, 0.6, True), (960, 7, 0.0, False)]


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("shape", LAYERS)
def test_weights_are_the_slow_rules(seed, shape):
    A, G = layer(seed, *shape)
    channels = shape[0]
    weights = cluster_filter_weights(A, G)
    assert weights.dtype == A.dtype and weights.shape == (channels,)
    np.testing.assert_allclose(weights.double().numpy(), reference_weights(A, G, precomputed=True), rtol=1e-6, atol=1e-7)
    acts = A.reshape(channels, -1).double().numpy()
    norms = np.linalg.norm(acts, axis=1)
    if not ambiguous(acts[norms < np.percentile(norms, STRONG_PERCENTILE)]):
        np.testing.assert_allclose(weights.double().numpy(), reference_weights(A, G), rtol=1e-6, atol=1e-7)


def test_weights_in_float64_match_to_rounding():
    A, G = layer(5, 300, 6, 0.5, True)
    A, G = A.double(), G.double()
    expected = reference_weights(A, G, precomputed=True)
    np.testing.assert_allclose(cluster_filter_weights(A, G).numpy(), expected, rtol=1e-12, atol=1e-15)
    assert (expected != 0).sum() > 100 and len(np.unique(expected)) < 250  # clusters share weights, noise is 0


def test_unambiguous_cases_occur():
    """The comparisons with scikit-learn's own distances above are not all skipped."""
    assert sum(not ambiguous(dataset(kind, n, seed)) for kind in KINDS for n in SIZES for seed in SEEDS) >= 18
    unambiguous_layers = 0
    for seed in SEEDS:
        for shape in LAYERS:
            A, _ = layer(seed, *shape)
            channels = shape[0]
            acts = A.reshape(channels, -1).double().numpy()
            norms = np.linalg.norm(acts, axis=1)
            unambiguous_layers += not ambiguous(acts[norms < np.percentile(norms, STRONG_PERCENTILE)])
    assert unambiguous_layers >= 10


@pytest.mark.parametrize(
    "X",
    [np.zeros((5, 4)), np.ones((3, 4)), np.array([[0.0, 1.0], [2.0, 3.0]]), np.array([[0.0, 1.0], [0.0, 1.0], [5.0, 5.0]])],
    ids=["all-zero", "all-equal", "two", "a-pair-and-one"],
)
def test_cluster_channels_on_few_or_equal_rows(X):
    np.testing.assert_array_equal(cluster_channels(X), reference_labels(X, precomputed=True))


def test_distinct_rows_when_rows_project_alike(monkeypatch):
    """Rows that the random projection cannot tell apart are still told apart (by their bytes)."""
    from explainers.image import cf_cam

    X = dataset("dead", 40, 0)
    expected = distinct_rows(X)
    monkeypatch.setattr(cf_cam, "_HASH", np.zeros_like(cf_cam._HASH))  # every row projects to 0
    first, inverse, counts = distinct_rows(X)
    np.testing.assert_array_equal(X[first][inverse], X)
    assert sorted(counts.tolist()) == sorted(expected[2].tolist()) and len(set(first)) == len(first)
    assert set(first.tolist()) == set(expected[0].tolist())  # the same first occurrences
