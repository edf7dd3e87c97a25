"""Tabular SHAP against its definitions: additivity, the linear closed form, agreement with permutation importance."""

import numpy as np
import pytest

from explainers import ExplainerError, InputError, explain, get_method, list_explainers
from explainers.tabular.shap_methods import ADDITIVITY_TOLERANCE, default_explainer, explain_global, ranked
from models.inputs.tables import load_dataset
from models.adapters.tabular import train_model

EXACT = {"shap-tree", "shap-linear"}
FAST = {"shap-kernel": {"background": 8, "nsamples": 200}, "shap-permutation": {"background": 20, "permutations": 4}}

_MODELS = {}


def model(dataset, kind, n_estimators=20):
    key = (dataset, kind, n_estimators)
    if key not in _MODELS:
        _MODELS[key] = train_model(load_dataset(dataset), kind, n_estimators=n_estimators)
    return _MODELS[key]


CASES = [
    (dataset, kind, method)
    for dataset in ("breast_cancer", "wine", "tips")  # two classes, three classes, regression with categories
    for kind in ("linear", "random-forest", "gradient-boosting", "mlp")
    for method in ("shap-tree", "shap-linear", "shap-kernel", "shap-permutation")
    if not (method == "shap-tree" and kind not in ("random-forest", "gradient-boosting"))
    and not (method == "shap-linear" and kind != "linear")
    and not (method == "shap-tree" and dataset == "wine" and kind == "gradient-boosting")  # shap: binary GB only
]


@pytest.mark.parametrize("dataset, kind, method", CASES, ids=["-".join(c) for c in CASES])
def test_base_value_plus_scores_is_the_model_output(dataset, kind, method):
    m = model(dataset, kind)
    rows = m.held_out[0].iloc[[2, 7]]
    for i in range(len(rows)):
        row = rows.iloc[i]
        e = explain(m, row, method=method, **FAST.get(method, {}))
        output = m.output(row)[0, e.target]  # the documented explained output, computed here independently
        total = e.base_value + float(np.sum(e.scores, dtype=np.float64))
        tolerance = 1e-6 if method in EXACT else ADDITIVITY_TOLERANCE * max(1.0, abs(output))
        assert abs(total - output) <= tolerance, (total, output)
        assert e.feature_names == m.feature_names and e.scores.shape == (len(m.feature_names),)
        assert e.target == m.predicted_classes(row)[0]


def test_other_class_is_explained_when_asked():
    m = model("breast_cancer", "linear")
    row = m.held_out[0].iloc[0]
    e0 = explain(m, row, method="shap-linear", target="benign")
    e1 = explain(m, row, method="shap-linear", target="malignant")
    assert e0.target_label == "benign" and e1.target_label == "malignant"
    np.testing.assert_allclose(e0.scores, -e1.scores, rtol=1e-6)  # two-class log-odds: one margin, two signs


@pytest.mark.parametrize("dataset, target", [("diabetes", 0), ("breast_cancer", 1), ("breast_cancer", 0)])
def test_linear_shap_is_coef_times_deviation_from_the_background_mean(dataset, target):
    m = model(dataset, "linear")
    row = m.held_out[0].iloc[5]
    e = explain(m, row, method="shap-linear", target=target, background=10_000)  # every background row
    scaler, final = m.estimator["prepare"].named_transformers_["num"]["scale"], m.final
    w = np.atleast_2d(final.coef_)[0] / scaler.scale_  # per raw unit of each column
    sign = -1.0 if dataset == "breast_cancer" and target == 0 else 1.0
    x = row[m.feature_names].to_numpy(float)
    expected = sign * w * (x - m.background[m.feature_names].to_numpy(float).mean(axis=0))
    np.testing.assert_allclose(e.scores, expected, rtol=1e-4, atol=1e-6)


def test_linear_shap_of_a_one_hot_category_is_the_sum_over_its_columns():
    m = model("tips", "linear")
    row = m.held_out[0].iloc[1]
    e = explain(m, row, method="shap-linear", background=10_000)
    names = list(m.estimator["prepare"].get_feature_names_out())
    onehot = m.transform(row.to_frame().T)[0]
    mean = m.transform(m.background).mean(axis=0)
    day = [i for i, n in enumerate(names) if n.startswith("cat__day_")]
    expected = float(np.sum(m.final.coef_[day] * (onehot[day] - mean[day])))
    assert e.scores[m.feature_names.index("day")] == pytest.approx(expected, rel=1e-5, abs=1e-7)


def test_global_tree_ranking_agrees_with_permutation_importance():
    m = model("breast_cancer", "random-forest", n_estimators=100)
    g = explain_global(m, method="shap-tree", rows=143)
    imp = explain_global(m, method="permutation-importance", rows=143, repeats=5)
    top_shap = set(np.argsort(-g.scores)[:5])
    top_perm = set(np.argsort(-imp.scores)[:5])
    assert len(top_shap & top_perm) >= 3, ([m.feature_names[i] for i in top_shap], [m.feature_names[i] for i in top_perm])


def test_global_explanation_holds_the_matrix_and_rows():
    m = model("tips", "random-forest")
    e = explain_global(m, method="shap-tree", rows=30, seed=1)
    values, rows, output = e.extras["shap_values"], e.extras["rows"], e.extras["output"]
    assert values.shape == rows.shape == (30, len(m.feature_names)) and output.shape == (30,)
    np.testing.assert_allclose(e.scores, np.abs(values).mean(axis=0), rtol=1e-6)
    np.testing.assert_allclose(e.base_value + values.sum(axis=1), output, atol=1e-6)
    assert e.extras["categories"]["day"] == sorted(m.schema.categories["day"])
    assert e.n_forward == 30
    again = type(e).from_json(e.to_json())
    np.testing.assert_array_equal(again.extras["shap_values"], values)


@pytest.mark.parametrize("method", ["shap-kernel", "shap-permutation"])
def test_same_seed_same_scores(method):
    m = model("wine", "mlp")
    row = m.held_out[0].iloc[0]
    a = explain(m, row, method=method, seed=3, **FAST[method])
    b = explain(m, row, method=method, seed=3, **FAST[method])
    c = explain(m, row, method=method, seed=4, **FAST[method])
    np.testing.assert_array_equal(a.scores, b.scores)
    assert not np.array_equal(a.scores, c.scores)


@pytest.mark.parametrize("method", ["shap-tree", "shap-kernel", "shap-permutation"])
def test_cost_model_counts_the_rows_evaluated(method):
    m = model("breast_cancer", "random-forest")
    params = FAST.get(method, {})
    expected, _ = get_method(method, "tabular").estimate(params, m)
    e = explain(m, m.held_out[0].iloc[0], method=method, **params)
    assert e.n_forward == expected and e.n_backward == 0


def test_default_explainer_says_why():
    assert default_explainer(model("breast_cancer", "random-forest"))[0] == "shap-tree"
    assert default_explainer(model("breast_cancer", "linear"))[0] == "shap-linear"
    method, reason = default_explainer(model("wine", "gradient-boosting"))  # multi-class GB: no TreeSHAP in shap
    assert method == "shap-permutation" and "no exact" in reason
    assert default_explainer(model("tips", "mlp"))[0] == "shap-permutation"


def test_wrong_method_for_the_model_is_a_sentence():
    with pytest.raises(ExplainerError, match="needs a tree ensemble"):
        explain(model("iris", "mlp"), model("iris", "mlp").held_out[0].iloc[0], method="shap-tree")
    with pytest.raises(ExplainerError, match="needs a linear model"):
        explain(model("iris", "random-forest"), model("iris", "random-forest").held_out[0].iloc[0], method="shap-linear")


def test_row_missing_columns_is_named():
    m = model("tips", "random-forest")
    with pytest.raises(InputError, match="'smoker'"):
        explain(m, m.held_out[0].iloc[0].drop("smoker"), method="shap-tree")


def test_what_if_row_as_dict_and_ranked_table():
    m = model("tips", "gradient-boosting")
    row = m.held_out[0].iloc[0].to_dict()
    row["day"], row["total_bill"] = "Sun", 80.0
    e = explain(m, row, method="shap-tree")
    table = ranked(e)
    assert list(table.columns) == ["feature", "value", "score"]
    assert table["score"].abs().is_monotonic_decreasing
    assert table.set_index("feature").loc["day", "value"] == "Sun"
    assert e.base_value + e.scores.sum() == pytest.approx(m.output(row)[0, 0], abs=1e-5)


def test_regression_prediction_and_methods_listed():
    m = model("diabetes", "random-forest")
    p = m.predict(m.held_out[0].iloc[0])
    assert p.top(1)[0][1] == "progression" and p.value == pytest.approx(m.output(m.held_out[0].iloc[0])[0, 0])
    assert {"shap-tree", "shap-linear", "shap-kernel", "shap-permutation", "permutation-importance"} <= set(
        list_explainers("tabular"))


def test_exact_explainers_report_progress_and_stop_on_cancel():
    import threading

    from explainers.core.engine import Cancelled

    m = model("breast_cancer", "random-forest")
    seen = []
    explain_global(m, method="shap-tree", rows=140, progress=lambda done, total: seen.append((done, total)))
    assert seen and seen[-1] == (140, 140)
    stop = threading.Event()
    stop.set()
    with pytest.raises(Cancelled):
        explain_global(m, method="shap-tree", rows=140, cancel=stop)


@pytest.mark.parametrize("method", ["shap-tree", "shap-kernel", "shap-permutation"])
def test_row_with_a_missing_value_is_imputed_and_stays_additive(method):
    m = model("tips", "gradient-boosting")
    row = m.held_out[0].iloc[4].copy()
    row["total_bill"] = np.nan
    row["day"] = np.nan
    e = explain(m, row, method=method, **FAST.get(method, {}))
    output = m.output(row)[0, 0]
    tolerance = 1e-6 if method in EXACT else ADDITIVITY_TOLERANCE * max(1.0, abs(output))
    assert abs(e.base_value + float(np.sum(e.scores, dtype=np.float64)) - output) <= tolerance
    assert ranked(e).set_index("feature").loc["day", "value"] == "missing"
