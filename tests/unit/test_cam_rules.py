"""Each CAM rule against its definition, computed independently on a tiny net whose gradients vary in space."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from explainers import explain, get_method
from explainers.image.cf_cam import bilateral_filter, cluster_filter_weights
from models.adapters.image import ImageClassifier


class SpatialNet(nn.Module):
    """Conv features (6 channels, 4×4) and a linear head over every position: gradients differ per cell."""

    def __init__(self):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU())
        self.features = nn.Sequential(nn.Conv2d(8, 6, 3, stride=2, padding=1), nn.ReLU())
        self.head = nn.Linear(6 * 4 * 4, 3)

    def forward(self, x):
        return self.head(self.features(self.stem(x)).flatten(1))


@pytest.fixture(scope="module")
def net():
    torch.manual_seed(7)
    return ImageClassifier("spatial", SpatialNet(), list("abc"), input_size=(8, 8), target_layer="features", device="cpu")


@pytest.fixture(scope="module")
def image():
    return np.random.default_rng(2).integers(0, 256, (8, 8, 3), dtype=np.uint8)


def activations_and_gradients(net, image, target):
    x = torch.from_numpy(image.astype(np.float32) / 255).permute(2, 0, 1)[None]
    A = net.module.features(net.module.stem(x))
    logit = net.module.head(A.flatten(1))[0, target]
    (G,) = torch.autograd.grad(logit, A)
    return A[0].detach().double().numpy(), G[0].double().numpy()


def finish(cam: np.ndarray, size=(8, 8)) -> np.ndarray:
    up = F.interpolate(torch.from_numpy(cam).float()[None, None], size=size, mode="bilinear", align_corners=False)[0, 0]
    up = up - up.min()
    return (up / up.max()).numpy() if up.max() > 0 else up.numpy()


def relu(v):
    return np.maximum(v, 0)


def by_hand(method, A, G):
    if method == "grad-cam":
        return relu(np.einsum("k,khw->hw", G.mean(axis=(1, 2)), A))
    if method == "grad-cam++":
        alpha = np.zeros_like(G)
        for k in range(G.shape[0]):
            s = A[k].sum()
            for i in range(G.shape[1]):
                for j in range(G.shape[2]):
                    g = G[k, i, j]
                    if g != 0:
                        alpha[k, i, j] = g**2 / (2 * g**2 + s * g**3)
        weights = (alpha * relu(G)).sum(axis=(1, 2))
        return relu(np.einsum("k,khw->hw", weights, A))
    if method == "xgrad-cam":
        weights = (G * A).sum(axis=(1, 2)) / (A.sum(axis=(1, 2)) + 1e-7)
        return relu(np.einsum("k,khw->hw", weights, A))
    if method == "hires-cam":
        return relu((G * A).sum(axis=0))
    if method == "layer-cam":
        return relu((relu(G) * A).sum(axis=0))
    raise AssertionError(method)


@pytest.mark.parametrize("method", ["grad-cam", "grad-cam++", "xgrad-cam", "hires-cam", "layer-cam"])
@pytest.mark.parametrize("target", [0, 1, 2])
def test_gradient_cam_rules_match_their_definitions(net, image, method, target):
    A, G = activations_and_gradients(net, image, target)
    assert np.ptp(G[0]) > 0, "the test needs gradients that vary in space"
    e = explain(net, image, method=method, target=target)
    np.testing.assert_allclose(e.scores, finish(by_hand(method, A, G)), atol=1e-5)


def test_rules_differ_where_gradients_vary(net, image):
    maps = {m: explain(net, image, method=m, target=0).scores for m in ["grad-cam", "hires-cam", "layer-cam"]}
    assert not np.allclose(maps["grad-cam"], maps["hires-cam"], atol=1e-3)
    assert (activations_and_gradients(net, image, 0)[1] < 0).any()
    assert not np.allclose(maps["hires-cam"], maps["layer-cam"], atol=1e-3)


def test_eigen_cam_is_the_first_principal_component(net, image):
    A, _ = activations_and_gradients(net, image, 0)
    positions = A.reshape(A.shape[0], -1).T
    centred = positions - positions.mean(axis=0)
    _, _, vt = np.linalg.svd(centred, full_matrices=False)
    projection = centred @ vt[0]
    if np.corrcoef(projection, positions.sum(axis=1))[0, 1] < 0:
        projection = -projection
    e = explain(net, image, method="eigen-cam")
    np.testing.assert_allclose(e.scores, finish(projection.reshape(4, 4)), atol=1e-5)
    assert (e.n_forward, e.n_backward) == (1, 0)
    assert np.corrcoef(e.scores.ravel(), finish(A.sum(axis=0)).ravel())[0, 1] > 0


def test_eigen_cam_is_class_agnostic(net, image):
    a = explain(net, image, method="eigen-cam", target=0).scores
    b = explain(net, image, method="eigen-cam", target=2).scores
    assert np.array_equal(a, b)


@pytest.mark.parametrize("target", [0, 2])
def test_score_cam_matches_its_definition(net, image, target):
    x = torch.from_numpy(image.astype(np.float32) / 255).permute(2, 0, 1)[None]
    with torch.no_grad():
        A = net.module.features(net.module.stem(x))[0]
        masks = F.interpolate(A[None], size=(8, 8), mode="bilinear", align_corners=True)[0]
        logits = []
        for k in range(A.shape[0]):
            m = masks[k]
            m = (m - m.min()) / (m.max() - m.min() + 1e-8)
            logits.append(net.module(x * m)[0, target])
        weights = torch.softmax(torch.stack(logits), dim=0)
        cam = torch.relu((weights[:, None, None] * A).sum(0)).double().numpy()
    e = explain(net, image, method="score-cam", target=target, batch_size=4)
    np.testing.assert_allclose(e.scores, finish(cam), atol=1e-5)
    assert (e.n_forward, e.n_backward) == (1 + A.shape[0], 0)


@pytest.mark.parametrize(
    "method", ["grad-cam", "grad-cam++", "xgrad-cam", "hires-cam", "layer-cam", "eigen-cam", "cf-cam", "score-cam"]
)
def test_costs_are_what_is_counted(net, image, method):
    e = explain(net, image, method=method)
    assert (e.n_forward, e.n_backward) == get_method(method, "image").estimate(model=net)


# --- CF-CAM -------------------------------------------------------------------


def test_bilateral_filter_basics():
    flat = np.full((5, 5), 3.0)
    np.testing.assert_allclose(bilateral_filter(flat), flat)
    noisy = np.random.default_rng(0).normal(size=(7, 7))
    assert bilateral_filter(noisy).std() < noisy.std()
    step = np.zeros((6, 6))
    step[:, 3:] = 10.0
    kept = bilateral_filter(step, sigma_space=3.0, sigma_range=0.5)  # edge-preserving: values barely mix
    assert np.abs(kept - step).max() < 1e-3
    blurred = bilateral_filter(step, sigma_space=3.0, sigma_range=100.0)  # range kernel off: plain blur
    assert np.abs(blurred - step).max() > 1.0


def test_cluster_filter_weights_by_construction():
    """3 strong channels keep their mean gradient; 2 tight clusters share a filtered mean; an outlier is dropped."""
    rng = np.random.default_rng(0)
    shape = (3, 3)
    p1, p2 = rng.random(shape), rng.random(shape) + 2.0
    maps = [8 * rng.random(shape) + 8 for _ in range(3)]  # strong: the top quarter of L2 norms
    maps += [p1 + 1e-3 * rng.random(shape) for _ in range(3)]  # cluster 1
    maps += [p2 + 1e-3 * rng.random(shape) for _ in range(3)]  # cluster 2
    maps += [1.5 * np.eye(3)]  # an outlier, far from both clusters
    A = torch.tensor(np.stack(maps))
    gradient_levels = (0.3, -0.2, 0.7, 1.0, 2.0, 3.0, -1.0, -2.0, -6.0, 9.0)
    G = torch.tensor(np.stack([np.full(shape, g) for g in gradient_levels]))
    weights = cluster_filter_weights(A, G).numpy()
    np.testing.assert_allclose(weights[:3], [0.3, -0.2, 0.7])  # strong: own mean gradient, no softmax
    np.testing.assert_allclose(weights[3:6], 2.0)  # cluster 1: mean of (1, 2, 3); constant maps filter to themselves
    np.testing.assert_allclose(weights[6:9], -3.0)  # cluster 2: mean of (-1, -2, -6)
    assert weights[9] == 0.0  # DBSCAN noise


def test_cluster_weights_use_the_filtered_cluster_mean():
    """Non-constant gradient maps: a member's weight is the mean of the bilaterally filtered cluster-mean map."""
    rng = np.random.default_rng(1)
    shape = (4, 4)
    base = rng.random(shape)
    maps = [20 + rng.random(shape) for _ in range(2)] + [base.copy() for _ in range(6)]  # one exact cluster
    G = rng.normal(size=(8, *shape))
    weights = cluster_filter_weights(torch.tensor(np.stack(maps)), torch.tensor(G)).numpy()
    expected = bilateral_filter(G[2:].mean(axis=0)).mean()
    np.testing.assert_allclose(weights[2:], expected)
    np.testing.assert_allclose(weights[:2], G[:2].mean(axis=(1, 2)))


def test_cf_cam_noise_perturbs_gradients_before_weighting(net, image):
    clean = explain(net, image, method="cf-cam", target=1).scores
    noisy = explain(net, image, method="cf-cam", target=1, grad_noise=2.0, seed=1).scores
    again = explain(net, image, method="cf-cam", target=1, grad_noise=2.0, seed=1).scores
    other = explain(net, image, method="cf-cam", target=1, grad_noise=2.0, seed=2).scores
    assert not np.allclose(clean, noisy, atol=1e-4)
    assert np.array_equal(noisy, again) and not np.allclose(noisy, other, atol=1e-4)
