"""Several gradient CAMs for the price of one pass: ``explain_many`` / ``SharedRuns`` against ``explain`` alone,
with the passes counted by the adapter."""

import numpy as np
import pytest

from explainers import explain
from explainers.core.compare import compare
from explainers.core.explain import SharedRuns, explain_many
from explainers.core.registry import register
from explainers.image.cam import LAYER_GRADIENTS
from tests.tiny_models import random_image, small_cnn

SIX = ("grad-cam", "grad-cam++", "xgrad-cam", "hires-cam", "layer-cam", "cf-cam")


@pytest.fixture
def model():
    return small_cnn(size=16, n_classes=5)


@pytest.fixture
def image():
    return random_image(16, seed=2)


def passes(model):
    return model.n_forward, model.n_backward


@pytest.mark.parametrize("target", [None, 1])
def test_six_cams_together_make_one_forward_and_one_backward(model, image, target):
    before = passes(model)
    together = explain_many(model, image, {m: {} for m in SIX}, target=target)
    assert (model.n_forward - before[0], model.n_backward - before[1]) == (1, 1)
    assert list(together) == list(SIX)
    # the first carries the shared passes, the others none: the sums are what the model made
    assert [(e.n_forward, e.n_backward) for e in together.values()] == [(1, 1)] + [(0, 0)] * 5
    for e in together.values():
        assert e.extras["shared_pass"] == {"pass": LAYER_GRADIENTS.name, "with": list(SIX), "carried_by": "grad-cam"}
    for method, e in together.items():
        alone = explain(model, image, method=method, target=target)
        assert (alone.n_forward, alone.n_backward) == (1, 1)
        assert e.target == alone.target and e.target_label == alone.target_label
        assert np.allclose(e.scores, alone.scores, atol=1e-6), method
        assert e.scores.any(), method  # not a trivially equal all-zero map


def test_each_keeps_its_own_noise_and_seed(model, image):
    methods = {"grad-cam": {"grad_noise": 0.5, "seed": 1}, "hires-cam": {"grad_noise": 0.5, "seed": 2},
               "layer-cam": {}}
    before = passes(model)
    together = explain_many(model, image, methods, target=1)
    assert (model.n_forward - before[0], model.n_backward - before[1]) == (1, 1)
    for method, params in methods.items():
        alone = explain(model, image, method=method, target=1, **params)
        assert np.allclose(together[method].scores, alone.scores, atol=1e-6), method
        assert together[method].params == alone.params


def test_different_layers_are_not_merged(model, image):
    methods = {"grad-cam": {"layer": "features.0"}, "grad-cam++": {"layer": "features.1"},
               "layer-cam": {"layer": "features.1"}}
    before = passes(model)
    together = explain_many(model, image, methods, target=2)
    assert (model.n_forward - before[0], model.n_backward - before[1]) == (2, 2)
    assert "shared_pass" not in together["grad-cam"].extras
    assert together["layer-cam"].extras["shared_pass"]["with"] == ["grad-cam++", "layer-cam"]
    for method, params in methods.items():
        alone = explain(model, image, method=method, target=2, **params)
        assert np.allclose(together[method].scores, alone.scores, atol=1e-6), method


def test_different_targets_are_not_merged(model, image):
    runs = SharedRuns(model, image, {"grad-cam": {}, "grad-cam++": {}, "hires-cam": {}})
    before = passes(model)
    a = runs.explain("grad-cam", target=0)  # makes the shared pass for class 0: grad-cam++ and hires-cam too
    b = runs.explain("grad-cam++", target=4)  # another class: runs alone
    c = runs.explain("hires-cam", target=0)  # served from the shared pass
    assert (model.n_forward - before[0], model.n_backward - before[1]) == (2, 2)
    assert (a.target, b.target, c.target) == (0, 4, 0)
    assert (b.n_forward, b.n_backward) == (1, 1) and "shared_pass" not in b.extras
    assert (c.n_forward, c.n_backward) == (0, 0)
    assert np.allclose(b.scores, explain(model, image, method="grad-cam++", target=4).scores, atol=1e-6)
    assert np.allclose(c.scores, explain(model, image, method="hires-cam", target=0).scores, atol=1e-6)


def test_other_methods_run_alone(model, image):
    methods = {"occlusion": {"window": 4, "stride": 4}, "grad-cam": {}, "random": {}}
    together = explain_many(model, image, methods)
    for method, params in methods.items():
        alone = explain(model, image, method=method, target=together["grad-cam"].target, **params)
        assert (together[method].n_forward, together[method].n_backward) == (alone.n_forward, alone.n_backward)
        assert np.allclose(together[method].scores, alone.scores, atol=1e-6)
        assert "shared_pass" not in together[method].extras


def test_later_methods_explain_the_first_ones_target(model, image):
    together = explain_many(model, image, {"random": {}, "grad-cam": {}, "layer-cam": {}})
    top = int(model.predict(image).probs.argmax())
    assert {e.target for e in together.values()} == {top}


def test_a_failing_member_is_said_and_the_others_still_run(model, image):
    errors = {}
    methods = {"grad-cam": {}, "hires-cam": {"grad_noise": 99.0}, "layer-cam": {}}  # above the noise limit
    together = explain_many(model, image, methods, target=0, on_error=lambda m, exc: errors.setdefault(m, exc))
    assert set(together) == {"grad-cam", "layer-cam"} and set(errors) == {"hires-cam"}
    assert together["layer-cam"].extras["shared_pass"]["with"] == ["grad-cam", "layer-cam"]


def test_hooks_removed_after_a_shared_pass(model, image):
    explain_many(model, image, {m: {} for m in SIX}, target=0)
    for module in model.module.modules():
        assert not module._forward_hooks and not module._backward_hooks


def test_compare_shares_the_cams_pass(model, image):
    results = compare(model, image, {m: {} for m in SIX}, faithfulness=False)
    cams = [e for e in results if e.method in SIX]
    assert sum(e.n_forward for e in cams) == 1 and sum(e.n_backward for e in cams) == 1
    for e in cams:
        assert np.allclose(e.scores, explain(model, image, method=e.method, target=e.target).scores, atol=1e-6)


def test_a_shared_method_must_take_the_passes():
    with pytest.raises(TypeError, match="passes"):
        register("no-passes", modality="image", family="cam", cost=lambda params, model=None, **_: (1, 1),
                 shares=LAYER_GRADIENTS)(lambda model, image, target: (None, target))


def test_the_estimate_counts_a_shared_pass_once(model, image):
    from explainers.core.cost import estimate_many
    from explainers.core.registry import share_groups

    methods = {"grad-cam": {}, "occlusion": {"window": 4, "stride": 4}, "layer-cam": {},
               "hires-cam": {"layer": "features.0"}}
    assert share_groups("image", methods) == [["grad-cam", "layer-cam"]]
    costs = estimate_many(model, methods)
    assert costs["grad-cam"][:2] == (1, 1) and costs["layer-cam"] == (0, 0, 0.0) and costs["hires-cam"][:2] == (1, 1)
    before = passes(model)
    made = explain_many(model, image, methods, target=0)
    assert (model.n_forward - before[0], model.n_backward - before[1]) == (
        sum(c[0] for c in costs.values()), sum(c[1] for c in costs.values()))
    assert [(e.n_forward, e.n_backward) for e in made.values()] == [c[:2] for c in costs.values()]


@pytest.mark.parametrize("target", [None, 2])
def test_saliency_and_gradient_x_input_share_one_backward(model, image, target):
    methods = {"saliency": {}, "gradient-x-input": {}}
    before = passes(model)
    together = explain_many(model, image, methods, target=target)
    assert (model.n_forward - before[0], model.n_backward - before[1]) == (1, 1)
    assert [(e.n_forward, e.n_backward) for e in together.values()] == [(1, 1), (0, 0)]
    for method, e in together.items():
        alone = explain(model, image, method=method, target=target)  # Captum's Saliency / InputXGradient
        assert (alone.n_forward, alone.n_backward) == (1, 1)
        assert e.target == alone.target and e.signed == alone.signed
        assert np.allclose(e.scores, alone.scores, atol=1e-6), method
        assert e.scores.any(), method
