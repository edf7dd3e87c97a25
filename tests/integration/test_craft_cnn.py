"""CRAFT end to end on the embedded CNN: 8 images of one class (views of chelsea, all 'Egyptian cat')."""

import numpy as np
import pytest

from explainers import Explanation, explain
from models.inputs.samples import sample_views


@pytest.fixture(scope="module")
def cats():
    return sample_views("chelsea (cat)", 8)


@pytest.fixture(scope="module")
def craft(cnn, cats):
    return explain(cnn, cats, method="craft", target="Egyptian cat", n_concepts=5, seed=0)


def test_scores_are_five_non_negative_sobol_indices(craft):
    assert craft.scores.shape == (5,) and (craft.scores >= 0).all() and craft.scores.max() > 0
    assert craft.target_label == "Egyptian cat"
    assert craft.extras["predictions"] == ["Egyptian cat"] * 8
    assert craft.extras["clusters"]["reliability"] == [1.0 if p > 0 else None for p in craft.extras["clusters"]["prevalence"]]
    assert sum(craft.extras["clusters"]["prevalence"]) == pytest.approx(1)


def test_same_seed_same_result(cnn, cats, craft):
    again = explain(cnn, cats, method="craft", target="Egyptian cat", n_concepts=5, seed=0)
    assert np.array_equal(again.scores, craft.scores)
    assert np.array_equal(again.extras["concept_maps"], craft.extras["concept_maps"])


def test_lens_metrics_are_reported_and_sane(craft):
    m = craft.extras["metrics"]
    assert 0 <= m["reconstruction_error"] < 0.9  # 5 concepts over 1280 channels: far from exact, far from nothing
    assert 0 <= m["sparsity"] < 1
    assert m["c_insertion"] > m["c_deletion"]
    assert -1 <= m["c_mufidelity"] <= 1
    assert craft.extras["concept_maps"].shape == (8, 5, 7, 7) and craft.extras["concept_maps"].min() >= 0
    assert craft.extras["concept_crops"].shape == (5, 6, 64, 64, 3)
    assert craft.n_forward == 8 * 17  # 16 crops and the image per image, through g; h is the classifier


def test_gradient_x_input_at_the_penultimate_layer_is_its_closed_form(cnn, cats):
    """Pooled features → linear classifier: importance_i = ū_i (W_i · w_class), exactly."""
    e = explain(cnn, cats, method="craft", target="Egyptian cat", n_concepts=5, seed=0, importance="gradient-x-input")
    x = e.extras
    u_mean = x["concept_maps"].mean(axis=(2, 3))  # (images, concepts)
    w_class = cnn.module.classifier.weight[e.target].detach().numpy()
    expected = u_mean * (x["concept_bank"] @ w_class)[None]
    assert np.allclose(x["importance_local"], expected, rtol=1e-4, atol=1e-5)


def test_round_trip_keeps_everything(craft):
    back = Explanation.from_json(craft.to_json())
    for name in ("concept_maps", "concept_bank", "concept_crops", "importance_local"):
        assert back.extras[name].tobytes() == craft.extras[name].tobytes()
    assert back.extras["clusters"] == craft.extras["clusters"]
