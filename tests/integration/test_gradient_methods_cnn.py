"""The Captum-backed gradient methods on the embedded EfficientNet-Lite0 (in-place ReLU6 everywhere)."""

import numpy as np
import pytest
import torch

from explainers import explain, get_method
from explainers.image.gradients import model_grid_attribution, reference_input
from tests.conftest import pearson

SIGNED = {"gradient-x-input", "integrated-gradients", "deeplift", "gradient-shap"}
# Fewer steps and samples than the defaults keep this file fast; the rules are the same.
CHEAP = {
    "saliency": {},
    "gradient-x-input": {},
    "integrated-gradients": {"n_steps": 8, "batch_size": 8},
    "smoothgrad": {"n_samples": 4},
    "deeplift": {},
    "gradient-shap": {"n_samples": 4},
    "guided-backprop": {},
}
# Guided backprop is left out on purpose: its maps hardly depend on the class (Nie et al., ICML 2018;
# Adebayo et al., NeurIPS 2018). Here "Egyptian cat" vs "espresso" correlate at 0.9998.
CLASS_DEPENDENT = [m for m in CHEAP if m != "guided-backprop"]
# Completeness error measured on chelsea, "Egyptian cat", black baseline, Gauss-Legendre: 32 steps -2.5%,
# 48 +7.0%, 64 +8.2%, 96 +2.5%, 128 +1.5%, 192 -2.4%, 256 -0.67%, 512 +0.76%. Along the path the logit
# rises steeply for alpha in 0.02..0.05 and the gradients of this ReLU6 net are rough, so it converges slowly.
IG_COMPLETENESS_STEPS = 256


@pytest.fixture(scope="module")
def cat_and_cup(cnn, chelsea):
    return {
        method: (
            explain(cnn, chelsea, method=method, target="Egyptian cat", **params),
            explain(cnn, chelsea, method=method, target="espresso", **params),
        )
        for method, params in CHEAP.items()
    }


def logit_delta(cnn, chelsea, target, baseline="black"):
    with torch.inference_mode():
        logits = cnn.module(torch.cat([cnn.preprocess(chelsea), reference_input(cnn, baseline)]))
    return float(logits[0, target] - logits[1, target])


@pytest.mark.parametrize("method", list(CHEAP))
def test_scores_shape_range_and_cost(cat_and_cup, chelsea, method):
    for e in cat_and_cup[method]:
        assert e.scores.shape == chelsea.shape[:2] and e.scores.dtype == np.float32
        assert e.scores.min() >= (-1 if method in SIGNED else 0) and e.scores.max() <= 1
        assert np.abs(e.scores).max() == pytest.approx(1.0)
        assert (e.n_forward, e.n_backward) == get_method(method, "image").estimate(CHEAP[method])
        assert e.device == "cpu" and e.method == method


@pytest.mark.parametrize("method", CLASS_DEPENDENT)
def test_class_sensitivity(cat_and_cup, method):
    cat, cup = cat_and_cup[method]
    assert (cat.target_label, cup.target_label) == ("Egyptian cat", "espresso")
    assert pearson(cat.scores, cup.scores) < 0.9


def test_integrated_gradients_completeness(cnn, chelsea):
    target = cnn.labels.index("Egyptian cat")
    raw, _ = model_grid_attribution(
        cnn, chelsea, "integrated-gradients", target, n_steps=IG_COMPLETENESS_STEPS, batch_size=32
    )
    delta = logit_delta(cnn, chelsea, target)
    assert abs(float(raw.double().sum()) - delta) <= 0.01 * abs(delta)


@pytest.mark.parametrize("baseline", ["black", "zeros"])
def test_deeplift_sums_to_delta_on_relu6_network(cnn, chelsea, baseline):
    """Exact (up to float error) only if every in-place ReLU6 of the network got the Rescale rule."""
    target = cnn.labels.index("Egyptian cat")
    raw, _ = model_grid_attribution(cnn, chelsea, "deeplift", target, baseline=baseline)
    delta = logit_delta(cnn, chelsea, target, baseline)
    assert abs(float(raw.double().sum()) - delta) <= 1e-3 * abs(delta)


def test_stochastic_methods_follow_the_seed(cnn, chelsea):
    for method in ("smoothgrad", "gradient-shap"):
        a, b, c = (explain(cnn, chelsea, method=method, target=0, n_samples=2, seed=s).scores for s in (3, 3, 4))
        np.testing.assert_array_equal(a, b)
        assert np.abs(a - c).max() > 1e-3


def test_model_left_as_found(cnn, chelsea, cat_and_cup):
    before = {k: v.clone() for k, v in cnn.module.state_dict().items()}
    for method in ("deeplift", "guided-backprop"):
        explain(cnn, chelsea, method=method)
    for name, value in cnn.module.state_dict().items():
        assert torch.equal(value, before[name]), name
    for module in cnn.module.modules():
        assert not module._forward_hooks and not module._forward_pre_hooks
        assert not module._backward_hooks and not module._backward_pre_hooks
        assert not hasattr(module, "input") and not hasattr(module, "output")
        if isinstance(module, torch.nn.ReLU6):
            assert module.inplace is True  # nothing was switched off behind the user's back
