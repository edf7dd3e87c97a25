"""The model-randomisation sanity check: what it randomises, and a method that passes vs one that cannot."""

import numpy as np
import torch

from explainers import explain
from explainers.metrics.sanity import parameterised_layers, randomized_copy, sanity_check
from tests.tiny_models import random_image, small_cnn


def test_randomized_copy_changes_only_the_top_layers_and_leaves_the_original():
    model = small_cnn(16)
    before = {k: v.clone() for k, v in model.module.state_dict().items()}
    clone = randomized_copy(model, n_layers=1, seed=0)
    assert parameterised_layers(model.module) == ["features.0", "head"]
    assert clone.randomized_layers == ["head"]
    after = clone.module.state_dict()
    assert torch.equal(after["features.0.weight"], before["features.0.weight"])
    assert not torch.equal(after["head.weight"], before["head.weight"])
    for k, v in model.module.state_dict().items():
        assert torch.equal(v, before[k])  # the original is untouched
    assert clone.module is not model.module and clone.lock is not model.lock
    again = randomized_copy(model, n_layers=1, seed=0)
    assert torch.equal(again.module.state_dict()["head.weight"], after["head.weight"])  # seeded


def test_gradient_method_passes_and_an_input_only_map_fails():
    model = small_cnn(16)
    image = random_image(16)
    grad = explain(model, image, method="saliency", target=0)
    result = sanity_check(model, image, grad, n_layers=2)
    assert result.passed and result.spearman < 0.5
    # a "method" that ignores the model: the random baseline with a fixed seed gives the same map twice
    fake = explain(model, image, method="random", target=0, seed=0)
    result = sanity_check(model, image, fake)
    assert not result.passed and np.isclose(result.spearman, 1)
