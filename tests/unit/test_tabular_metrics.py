"""The tabular deletion curve against its definition, and a true ordering against random ones."""

import numpy as np
import pytest

from explainers import explain
from explainers.metrics.tabular import tabular_deletion
from models import load_model


@pytest.fixture(scope="module")
def linear():
    return load_model("tabular:diabetes:linear")


def row_of(model, i=0):
    return model.background.iloc[i]


def test_curve_runs_from_the_output_to_the_background_mean(linear):
    row = row_of(linear, 3)
    e = explain(linear, row, method="shap-linear")
    d = tabular_deletion(linear, row, e, background_rows=10**6)  # every background row
    assert d["deletion_curve"][0] == pytest.approx(e.extras["output"], rel=1e-6)  # the engine hands float32 outputs
    assert len(d["fractions"]) == len(linear.feature_names) + 1 and d["fractions"][-1] == 1
    # everything removed: each row is a background row, so the curve ends at their mean output
    assert d["deletion_curve"][-1] == pytest.approx(linear.output(linear.background).mean(), rel=1e-6)
    p = np.asarray(d["deletion_curve"])
    assert d["deletion_auc"] == pytest.approx(((p[1:] + p[:-1]) / 2).mean(), rel=1e-9)


def test_shap_order_beats_random_orders_on_a_linear_model(linear):
    row = row_of(linear, 7)
    truth = explain(linear, row, method="shap-linear")
    true_auc = tabular_deletion(linear, row, truth)["deletion_auc"]
    for seed in range(8):
        random = explain(linear, row, method="random", seed=seed)
        assert true_auc <= tabular_deletion(linear, row, random)["deletion_auc"] + 1e-9
    assert explain(linear, row, method="random", seed=1).feature_names == linear.feature_names
