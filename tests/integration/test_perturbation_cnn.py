"""The perturbation methods on the embedded CNN: real weights, real images, small budgets for CPU."""

import threading

import numpy as np
import pytest
import torch

from explainers import explain, get_method, list_explainers
from explainers.core.engine import Cancelled, default_batch_size
from explainers.image.shap_image import shap_values
from tests.conftest import pearson

SMALL = {
    "occlusion": {"window": 56, "stride": 56},
    "rise": {"n_masks": 64},
    "sobol": {"grid_size": 3, "nb_design": 8},
    "shap": {"max_evals": 20},
}


def test_registered_as_perturbation_methods():
    for method in SMALL:
        spec = get_method(method, "image")
        assert method in list_explainers("image") and spec.family == "perturbation"
        assert spec.signed == (method in ("occlusion", "shap"))
        assert spec.summary


@pytest.mark.parametrize("method", ["occlusion", "rise", "sobol"])
def test_class_sensitive_and_counted(cnn, chelsea, method):
    params = SMALL[method]
    cat = explain(cnn, chelsea, method=method, target="Egyptian cat", **params)
    cup = explain(cnn, chelsea, method=method, target="espresso", **params)
    assert pearson(cat.scores, cup.scores) < 0.9
    assert cat.n_forward == cup.n_forward == get_method(method, "image").estimate(params)[0]
    assert cat.n_backward == 0
    for e in (cat, cup):
        assert e.scores.shape == chelsea.shape[:2] and e.scores.dtype == np.float32
        low = -1 if get_method(method, "image").signed else 0
        assert e.scores.min() >= low and e.scores.max() <= 1 and np.abs(e.scores).max() == pytest.approx(1)


def test_default_budgets():
    estimate = {m: get_method(m, "image").estimate({})[0] for m in SMALL}
    assert estimate == {"occlusion": 13 * 13 + 1, "rise": 1000 + 1, "sobol": 32 * (8 * 8 + 2) + 1, "shap": 500}


def test_shap_on_the_cnn_adds_up_and_is_counted(cnn, chelsea):
    before = cnn.n_forward
    values, base, index = shap_values(cnn, chelsea, None, max_evals=SMALL["shap"]["max_evals"])
    assert cnn.n_forward - before == get_method("shap", "image").estimate(SMALL["shap"])[0]
    with torch.inference_mode():
        probs = torch.softmax(cnn.module(cnn.preprocess(chelsea)), dim=1)[0]
    assert index == int(probs.argmax())
    assert values.sum() + base == pytest.approx(float(probs[index]), abs=1e-5)


def test_cancel_stops_a_long_run_within_a_batch(cnn, chelsea):
    cancel = threading.Event()
    seen = []

    def progress(done, total):
        seen.append((done, total))
        cancel.set()

    before = cnn.n_forward
    with pytest.raises(Cancelled, match="Cancelled by the user"):
        explain(cnn, chelsea, method="sobol", progress=progress, cancel=cancel)  # 2113 passes if not stopped
    assert len(seen) == 1 and seen[0][1] == 32 * (64 + 2) + 1
    assert cnn.n_forward - before == seen[0][0] <= default_batch_size(cnn, 2113)  # one batch, not the whole run
    e = explain(cnn, chelsea, method="occlusion", **SMALL["occlusion"])  # the model still works afterwards
    assert e.n_forward == 17
