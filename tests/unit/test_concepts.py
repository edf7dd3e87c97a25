"""CRAFT and the Lens framework against their definitions, on tiny models with known answers."""

import numpy as np
import pytest
import torch

from explainers import Explanation, explain
from explainers.concepts.extractors import fit_concepts
from explainers.concepts.importance import ConceptHead, concept_importance, sobol_importance
from explainers.metrics.concepts import (
    concept_curves,
    relative_reconstruction_error,
    sparsity,
    strategic_clusters,
)
from explainers.concepts.craft import crop_origins, crops_per_image
from explainers.concepts.model_split import ModelSplit
from explainers.concepts.dataset import craft_dataset, local_shards
from models.errors import ExplainerError
from tests.tiny_models import HeadedCNN, classifier, random_image


@pytest.fixture(scope="module")
def headed():
    torch.manual_seed(0)
    return classifier(HeadedCNN(n_classes=3), size=32, n_classes=3)


@pytest.fixture(scope="module")
def images():
    return [random_image(32, seed=s) for s in range(6)]


def test_crop_grid_follows_stride_of_four_fifths_of_the_patch():
    assert crop_origins(224, 64) == [0, 51, 102, 153]
    assert crops_per_image((224, 224), 64) == 16
    assert crop_origins(32, 32) == [0]


@pytest.mark.parametrize("layer", [None, "features.0"])
def test_split_rebuilds_the_model(headed, layer):
    """h(g(x)) is the model's output, through forward_head (final map) or the swap hook (any layer)."""
    split = ModelSplit(headed, layer)
    assert split.fast_head == (layer is None)
    x = torch.rand(3, 3, 32, 32)
    with torch.inference_mode():
        assert torch.allclose(split.h(split.g(x)), headed.module(x), atol=1e-5)


def test_extractors_factorise_as_defined():
    rng = np.random.default_rng(0)
    U0, W0 = rng.random((40, 3)), rng.random((3, 12))
    A = U0 @ W0  # exactly rank 3, non-negative
    U, bank = fit_concepts(A, 3, "nmf", seed=0)
    assert U.min() >= 0 and bank.W.min() >= 0
    assert relative_reconstruction_error(A, U, bank.W) < 1e-2
    assert np.allclose(bank.transform(A), U, atol=5e-2 * U.max())  # NNLS against the fixed bank recovers U
    U, bank = fit_concepts(A, 3, "pca", seed=0)
    assert np.allclose(U, A @ bank.W.T.astype(np.float64), atol=1e-4)
    assert np.allclose(bank.W @ bank.W.T, np.eye(3), atol=1e-5)  # orthonormal rows
    assert relative_reconstruction_error(A, U, bank.W) < 1e-4
    U, bank = fit_concepts(A, 4, "kmeans", seed=0)
    assert set(U.sum(1)) == {1.0} and set(np.unique(U)) <= {0.0, 1.0}
    nearest = ((A[:, None] - bank.W[None]) ** 2).sum(-1).argmin(1)
    assert np.array_equal(U.argmax(1), nearest)
    U, bank = fit_concepts(A, 3, "dictionary", seed=0)
    assert U.shape == (40, 3) and relative_reconstruction_error(A, U, bank.W) < 0.5


def test_nmf_refuses_negative_activations_and_bad_sizes():
    with pytest.raises(ExplainerError, match="non-negative"):
        fit_concepts(np.array([[1.0, -2.0], [0.5, 1.0]]), 1, "nmf")
    with pytest.raises(ExplainerError, match="concepts cannot be extracted"):
        fit_concepts(np.ones((3, 5)), 4, "nmf")
    with pytest.raises(ExplainerError, match="Unknown extractor"):
        fit_concepts(np.ones((3, 5)), 1, "ica")


def test_sparsity_counts_zeros():
    assert sparsity(np.array([[0.0, 1.0], [0.0, 2.0]])) == 0.5
    assert sparsity(np.zeros((2, 2))) == 1.0


def _head_with_bank(headed, r=4, seed=0):
    split = ModelSplit(headed)
    W = np.random.default_rng(seed).random((r, split.channels)).astype(np.float32)
    return split, W


def test_gradient_x_input_is_its_closed_form_for_a_linear_head(headed):
    """h(U) = w_c · mean_p(U_p W) + b, so Σ_p u_pi ∂h/∂u_pi = ū_i (W_i · w_c) exactly."""
    split, W = _head_with_bank(headed)
    U = np.random.default_rng(1).random((5, 16, 4)).astype(np.float32)  # 5 images, 4×4 positions
    head = ConceptHead(split, W, target=2)
    got = concept_importance(head, U, "gradient-x-input")
    w_class = headed.module.head.weight[2].detach().numpy()
    expected = U.mean(1) * (W @ w_class)[None]
    assert np.allclose(got, expected, rtol=1e-5, atol=1e-6)
    # linear in U: occlusion and integrated gradients give the same numbers
    assert np.allclose(concept_importance(head, U, "occlusion"), expected, rtol=1e-4, atol=1e-5)
    assert np.allclose(concept_importance(head, U, "integrated-gradients", ig_steps=4), expected, rtol=1e-4, atol=1e-5)


def test_sobol_importance_matches_analytic_total_indices(headed):
    """With h linear, h(m ∘ U) = Σ_i c_i m_i + b, m_i ~ U[0, 1] independent: ST_i = c_i² / Σ_j c_j²."""
    split, W = _head_with_bank(headed)
    U = np.random.default_rng(2).random((2, 16, 4)).astype(np.float32)
    head = ConceptHead(split, W, target=0)
    c = concept_importance(head, U, "gradient-x-input").astype(np.float64)
    expected = c**2 / (c**2).sum(1, keepdims=True)
    got = sobol_importance(head, U, nb_design=1024, seed=0)
    assert np.allclose(got, expected, atol=0.03)
    assert head.n_passes >= 2 * 1024 * 6


def test_sobol_importance_finds_the_only_concept_that_matters(headed):
    split = ModelSplit(headed)
    w_class = headed.module.head.weight[1].detach().numpy()
    W = np.zeros((3, split.channels), dtype=np.float32)
    W[1] = np.sign(w_class)  # only concept 1 moves class 1's logit; 0 and 2 lie in nothing
    W[0, :] = 0
    U = np.ones((1, 16, 3), dtype=np.float32)
    got = sobol_importance(ConceptHead(split, W, target=1), U, nb_design=64, seed=3)[0]
    assert got.argmax() == 1 and got[0] == pytest.approx(0, abs=1e-6) and got[2] == pytest.approx(0, abs=1e-6)


def test_c_deletion_lower_with_the_true_order_than_with_random_ones(headed):
    split, W = _head_with_bank(headed, r=6)
    U = np.random.default_rng(3).random((4, 16, 6)).astype(np.float32)
    head = ConceptHead(split, W, target=1)
    true = concept_importance(head, U, "occlusion")
    auc = lambda curve: ((curve[:, 1:] + curve[:, :-1]) / 2).mean()  # noqa: E731
    deletion_true = auc(concept_curves(head, U, true, deletion=True))
    insertion_true = auc(concept_curves(head, U, true, deletion=False))
    rng = np.random.default_rng(0)
    randoms = [rng.random(true.shape) for _ in range(20)]
    assert all(deletion_true < auc(concept_curves(head, U, r, deletion=True)) for r in randoms)
    assert all(insertion_true > auc(concept_curves(head, U, r, deletion=False)) for r in randoms)
    curve = concept_curves(head, U, true, deletion=True)
    with torch.inference_mode():
        full = head.logit(torch.as_tensor(U)).numpy()
    assert np.allclose(curve[:, 0], full, atol=1e-5)  # nothing removed: the rebuilt logit


def test_strategic_clusters():
    importance = np.array([[0.9, 0.1], [0.8, 0.3], [0.2, 0.7], [0.6, 0.1]])
    out = strategic_clusters(importance, np.array([True, False, True, True]))
    assert out["dominant"] == [0, 0, 1, 0]
    assert out["prevalence"] == [0.75, 0.25]
    assert out["reliability"] == [pytest.approx(2 / 3), 1.0]
    assert strategic_clusters(np.array([[1.0, 0.0]]), np.array([True]))["reliability"] == [1.0, None]


@pytest.mark.parametrize("extractor", ["nmf", "pca", "kmeans", "dictionary"])
def test_craft_end_to_end_on_a_tiny_model(headed, images, extractor):
    e = explain(headed, images, method="craft", target=1, n_concepts=3, patch_size=16, seed=0, extractor=extractor,
                nb_design=8)
    assert e.scores.shape == (3,) and e.target == 1 and e.target_label == "class 1"
    x = e.extras
    assert x["importance_local"].shape == (6, 3) and np.allclose(x["importance_local"].mean(0), e.scores)
    assert x["concept_maps"].shape == (6, 3, 4, 4)  # one coefficient per position of the 4×4 feature map
    assert x["concept_crops"].shape == (3, 6, 16, 16, 3) and x["concept_crops"].dtype == np.uint8
    assert x["n_crops"] == 6 * crops_per_image((32, 32), 16)
    assert e.n_forward == x["n_crops"] + 6  # crops and images through g; h is the model's own head
    if extractor == "nmf":
        assert (e.scores >= 0).all() and 0 <= x["metrics"]["reconstruction_error"] < 1
    back = Explanation.from_json(e.to_json())
    assert np.array_equal(back.extras["concept_maps"], x["concept_maps"]) and back.extras["metrics"] == x["metrics"]


def test_craft_is_deterministic_per_seed(headed, images):
    a = explain(headed, images, method="craft", n_concepts=3, patch_size=16, seed=4, nb_design=8)
    b = explain(headed, images, method="craft", n_concepts=3, patch_size=16, seed=4, nb_design=8)
    assert np.array_equal(a.scores, b.scores)
    assert np.array_equal(a.extras["concept_bank"], b.extras["concept_bank"])


def test_craft_through_the_swap_hook_counts_its_head_passes(headed, images):
    e = explain(headed, images[:2], method="craft", layer="features.0", n_concepts=2, patch_size=16,
                nb_design=4, seed=0, extractor="pca")
    from explainers import get_method

    # pooling a ReLU map 8×8 first changes nothing that the head's mean sees; the conv's raw output is another matter
    assert ModelSplit(headed, "features.1").fast_head and not ModelSplit(headed, "features.0").fast_head
    passes = get_method("craft", "image").estimate(
        {"layer": "features.0", "n_concepts": 2, "patch_size": 16, "nb_design": 4}, headed)
    sobol = 4 * (2 + 2)
    metrics = 2 * 3 + 65  # deletion and insertion curves, µ-fidelity subsets and their reference
    assert passes == (crops_per_image((32, 32), 16) + 1 + 1 + sobol + metrics, 0)  # crops, g, prediction, h
    assert e.n_forward == 2 * passes[0] and e.extras["n_head_passes"] == 2 * (1 + sobol + metrics)


def test_bad_requests_are_clear(headed, images):
    with pytest.raises(ExplainerError, match="one input at a time"):
        explain(headed, images, method="grad-cam")
    with pytest.raises(ExplainerError, match="patch_size"):
        explain(headed, images, method="craft", patch_size=64)
    with pytest.raises(ExplainerError, match="at least one"):
        explain(headed, [], method="craft")
    with pytest.raises(ExplainerError, match="importance"):
        explain(headed, images, method="craft", importance="shapley")


# ---- CRAFT over a dataset in shards (explainers/concepts/dataset.py) equals CRAFT over the same images at once

SHARDED = dict(n_concepts=3, patch_size=16, nb_design=8, seed=0)


@pytest.mark.parametrize("importance", ["sobol", "occlusion", "gradient-x-input"])
def test_craft_in_shards_gives_what_one_run_gives(headed, images, importance):
    whole = explain(headed, images, method="craft", importance=importance, **SHARDED)
    shards = [[0, 1, 2], [3], [4, 5]]  # uneven shards of image indices
    said = []
    parts = craft_dataset(headed, shards, lambda shard: [images[i] for i in shard], importance=importance,
                          progress=said.append, **SHARDED)
    assert parts.target == whole.target and parts.method == "craft"
    np.testing.assert_allclose(parts.scores, whole.scores, rtol=1e-4, atol=1e-6)
    for key in ("importance_local", "concept_maps", "concept_bank"):
        np.testing.assert_allclose(parts.extras[key], whole.extras[key], rtol=1e-4, atol=1e-6)
    np.testing.assert_array_equal(parts.extras["concept_crops"], whole.extras["concept_crops"])
    np.testing.assert_array_equal(parts.extras["concept_crop_images"], whole.extras["concept_crop_images"])
    for name in ("reconstruction_error", "sparsity", "c_deletion", "c_insertion"):
        assert parts.extras["metrics"][name] == pytest.approx(whole.extras["metrics"][name], rel=1e-4, abs=1e-6)
    assert parts.extras["predictions"] == whole.extras["predictions"]
    assert parts.extras["n_crops"] == whole.extras["n_crops"] and parts.extras["n_shards"] == 3
    # step 3 reads each image's activations again on its worker (one forward per image) instead of shipping them
    assert parts.n_forward == whole.n_forward + len(images) and parts.n_backward == whole.n_backward
    assert len(said) == 3


def test_an_explicit_class_is_explained_and_each_shard_read_through_the_mapper(headed, images):
    calls = []
    base = local_shards(headed, lambda shard: [images[i] for i in shard])

    def run(fn, shards, **kwargs):
        calls.append((fn.__name__, len(shards)))
        return base(fn, shards, **kwargs)

    e = craft_dataset(headed, [[0, 1], [2, 3]], lambda shard: [images[i] for i in shard], run, target=2, **SHARDED)
    assert e.target == 2 and calls == [("shard_crops", 2), ("shard_concepts", 2)]
    assert e.extras["concept_maps"].shape[:2] == (4, 3)


def test_no_images_is_refused_with_a_sentence(headed):
    with pytest.raises(ExplainerError, match="at least one image"):
        craft_dataset(headed, [], lambda shard: [], **SHARDED)
