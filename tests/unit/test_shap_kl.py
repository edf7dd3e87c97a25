"""SHAP-KL and the label-leakage check against their definitions (issue 19 §3).

The coalition-value permutation estimator (explainers/core/shapley.py) against exact Shapley values and against
shap's PermutationExplainer; SHAP-KL's efficiency and its empty coalition; the leakage figure: 0 for a
class-independent explanation averaged over all classes, and lower for SHAP-KL than for class-dependent SHAP on a
table built to leak.
"""

from itertools import permutations as all_permutations

import numpy as np
import pandas as pd
import pytest

from explainers import ExplainerError, explain, get_method, list_explainers, methods_for
from explainers.core.compare import compare
from explainers.core.explanation import Explanation
from explainers.core.shapley import count_coalitions, exact_shapley, orderings, permutation_shapley
from explainers.metrics.leakage import leakage, leakage_check
from explainers.tabular.shap_kl import ALL_CLASSES, kl_divergence
from explainers.tabular.shap_methods import _encoded_background
from models.adapters.tabular import train_model
from models.inputs.tables import Dataset, load_dataset

_MODELS = {}


def model(dataset="wine", kind="random-forest"):
    if (dataset, kind) not in _MODELS:
        _MODELS[dataset, kind] = train_model(load_dataset(dataset), kind, n_estimators=20)
    return _MODELS[dataset, kind]


def nonlinear_value(masks):
    """A value function with interactions and no additive form: v(S) over 4 players."""
    m = masks.astype(float)
    return (1.5 * m[:, 0] - 0.7 * m[:, 1] + 2.0 * m[:, 0] * m[:, 2] - 1.1 * m[:, 1] * m[:, 2] * m[:, 3]
            + 0.3 * m[:, 3] ** 2 + np.sin(m.sum(axis=1)))


# --- the estimator -------------------------------------------------------------------------------------


def test_every_ordering_walked_gives_the_exact_shapley_values_of_a_nonlinear_game():
    exact = exact_shapley(nonlinear_value, 4)
    order = np.array(list(all_permutations(range(4))))
    result = permutation_shapley(nonlinear_value, 4, order=order)
    np.testing.assert_allclose(result.values, exact, atol=1e-12)
    assert result.n_coalitions == 16  # every coalition of 4 players, each asked once
    assert np.abs(exact).min() > 0.1 and len(np.unique(np.round(exact, 6))) == 4  # a game that tells players apart


def test_sampled_orderings_give_exact_values_on_an_additive_game_and_converge_on_the_other():
    weights = np.array([0.5, -2.0, 3.0, 0.25])
    additive = lambda masks: masks.astype(float) @ weights + 7.0  # noqa: E731
    np.testing.assert_allclose(permutation_shapley(additive, 4, permutations=3, seed=5).values, weights, atol=1e-12)
    exact = exact_shapley(nonlinear_value, 4)
    few = permutation_shapley(nonlinear_value, 4, permutations=2, seed=1).values
    many = permutation_shapley(nonlinear_value, 4, permutations=100, seed=1).values
    assert np.abs(many - exact).max() < 0.05 < np.abs(few - exact).max()  # sampled, and closer with more orderings


def test_efficiency_holds_exactly_for_any_orderings():
    for seed in range(5):
        result = permutation_shapley(nonlinear_value, 4, permutations=1, seed=seed)
        assert result.values.sum() == pytest.approx(result.full - result.empty, abs=1e-12)


def test_the_orderings_and_values_are_shaps_permutation_explainer():
    import shap

    rng = np.random.default_rng(0)
    m, k, p = 5, 7, 4
    background, x = rng.normal(size=(k, m)), rng.normal(size=(1, m))

    def f(rows):  # a nonlinear model
        return np.tanh(rows[:, 0] * rows[:, 1]) + rows[:, 2] ** 2 - np.exp(0.3 * rows[:, 3]) * rows[:, 4]

    def value(masks):
        return np.array([f(np.where(mask, x, background)).mean() for mask in masks])

    np.random.seed(3)
    explainer = shap.PermutationExplainer(f, shap.maskers.Independent(background, max_samples=k), seed=3)
    expected = explainer(x, max_evals=p * (2 * m + 1), silent=True).values[0]
    ours = permutation_shapley(value, m, permutations=p, seed=3)
    np.testing.assert_allclose(ours.values, expected, atol=1e-10)
    assert ours.n_coalitions == count_coalitions(m, p, 3) <= p * (2 * m + 1)


def test_orderings_are_seeded_and_antithetic():
    a, b = orderings(6, 3, seed=4), orderings(6, 3, seed=4)
    np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(a[1], a[0][::-1])
    assert not np.array_equal(a, orderings(6, 3, seed=5))
    with pytest.raises(ExplainerError, match="permutations must be a whole number"):
        orderings(6, 0)


# --- SHAP-KL ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("dataset, kind", [("wine", "random-forest"), ("breast_cancer", "gradient-boosting"),
                                           ("iris", "linear")])
def test_shap_kl_values_sum_to_the_full_minus_the_empty_coalition(dataset, kind):
    mdl = model(dataset, kind)
    row = mdl.held_out[0].iloc[3]
    e = explain(mdl, row, "shap-kl", background=20, permutations=3, seed=2)
    assert e.extras["output"] == 0.0  # v(all) = −KL(p ‖ p)
    # v(∅) = −KL(p(y|x) ‖ mean background p), computed here without the method
    bg = mdl.schema.decode(_encoded_background(mdl, 20, 2))
    p_bar = mdl.estimator.predict_proba(bg).mean(axis=0)
    p_x = mdl.estimator.predict_proba(mdl.rows(row))[0]
    assert e.base_value == pytest.approx(-kl_divergence(p_x, p_bar), rel=1e-5, abs=1e-6)
    assert float(np.sum(e.scores, dtype=np.float64)) == pytest.approx(0.0 - e.base_value, rel=1e-5, abs=1e-6)
    assert e.target_label == ALL_CLASSES and e.extras["class_independent"]
    np.testing.assert_allclose(e.extras["probabilities"], p_x, atol=1e-6)


def test_shap_kl_counts_what_its_estimate_says_and_is_seeded():
    mdl = model()
    row = mdl.held_out[0].iloc[0]
    params = {"background": 10, "permutations": 2, "seed": 7}
    a = explain(mdl, row, "shap-kl", **params)
    b = explain(mdl, row, "shap-kl", **params)
    c = explain(mdl, row, "shap-kl", **{**params, "seed": 8})
    assert a.n_forward == get_method("shap-kl", "tabular").estimate(params, mdl)[0]
    np.testing.assert_array_equal(a.scores, b.scores)
    assert not np.array_equal(a.scores, c.scores)
    # the class asked for changes nothing but the class a deletion curve follows
    d = explain(mdl, row, "shap-kl", target=0, **params)
    np.testing.assert_array_equal(a.scores, d.scores)
    assert d.target == 0 and d.target_label == ALL_CLASSES


def test_shap_kl_explains_several_rows_and_refuses_a_regressor():
    mdl = model()
    e = explain(mdl, mdl.held_out[0].iloc[:3], "shap-kl", background=5, permutations=1)
    assert e.extras["shap_values"].shape == (3, len(mdl.feature_names))
    np.testing.assert_allclose(e.scores, np.abs(e.extras["shap_values"]).mean(axis=0), rtol=1e-6)
    np.testing.assert_allclose(e.extras["shap_values"].sum(axis=1), -e.extras["base_values"], rtol=1e-5, atol=1e-6)
    regressor = model("diabetes", "linear")
    assert "shap-kl" not in [m.id for m in methods_for(regressor)]
    with pytest.raises(ExplainerError, match="regressor has none"):
        explain(regressor, regressor.held_out[0].iloc[0], "shap-kl")


def test_shap_kl_is_a_tabular_method_and_runs_through_compare():
    assert "shap-kl" in list_explainers("tabular")
    mdl = model()
    assert "shap-kl" in [m.id for m in methods_for(mdl, baseline=False)]
    out = compare(mdl, mdl.held_out[0].iloc[1], {"shap-kl": {"background": 10, "permutations": 2},
                                                 "shap-permutation": {"background": 10, "permutations": 2}})
    by = {e.method: e for e in out}
    assert set(by) == {"shap-kl", "shap-permutation", "random"}
    assert by["shap-kl"].target == by["shap-permutation"].target  # the same class's deletion curve
    assert np.isfinite(by["shap-kl"].faithfulness["deletion_auc"])


# --- the leakage check -------------------------------------------------------------------------------------


def leaking_model():
    """Three classes, each raised by its own feature (logits 3·x_c): at rows near the origin every class is about
    as likely, and the explanation of class c keeps feature c, which makes c look likely whichever c is asked."""
    if "leaking" not in _MODELS:
        rng = np.random.default_rng(0)
        X = rng.normal(size=(1500, 3))
        p = np.exp(3 * X)
        p /= p.sum(axis=1, keepdims=True)
        y = np.array([rng.choice(3, p=pi) for pi in p])
        frame = pd.DataFrame(X, columns=["a", "b", "c"])
        frame["label"] = np.array(["A", "B", "C"])[y]
        _MODELS["leaking"] = (train_model(Dataset("leaking", frame, "label", "classification"), "linear"),
                              pd.DataFrame(rng.normal(scale=0.3, size=(6, 3)), columns=["a", "b", "c"]))
    return _MODELS["leaking"]


def test_shap_kl_leaks_less_than_class_dependent_shap_on_a_table_built_to_leak():
    mdl, rows = leaking_model()
    figures = leakage_check(mdl, rows, {"shap-permutation": {"background": 20, "permutations": 3},
                                        "shap-kl": {"background": 20, "permutations": 3}}, k=1, background=30)
    shap_figure, kl_figure = figures["shap-permutation"], figures["shap-kl"]
    assert shap_figure.top[0] == {0: ["a"], 1: ["b"], 2: ["c"]}  # each class keeps its own feature
    assert shap_figure.leakage > 0.02  # the class asked for looks more likely than the model finds it
    assert abs(kl_figure.leakage) < 1e-6 < shap_figure.leakage - kl_figure.leakage
    assert shap_figure.n_checked == kl_figure.n_checked == 6 * 3
    assert kl_figure.n_forward < shap_figure.n_forward  # one SHAP-KL explanation per row, not one per class


def test_a_class_independent_explanation_averaged_over_all_classes_leaks_nothing():
    mdl = model()
    rows = mdl.held_out[0].iloc[:4]
    rng = np.random.default_rng(1)
    fixed = [rng.normal(size=len(mdl.feature_names)) for _ in range(len(rows))]

    def same_for_every_class(r, c):
        return Explanation(scores=fixed[r], method="fixed", modality="tabular", model=mdl.name, target=c)

    for k in (1, 3, len(mdl.feature_names) - 1):
        result = leakage(mdl, rows, "fixed", k=k, explanations=same_for_every_class)
        assert result.leakage == pytest.approx(0.0, abs=1e-6)
        assert np.isfinite(result.gaps).all()
    # a class-dependent choice of features on the same rows is not 0
    def per_class(r, c):
        return Explanation(scores=np.roll(fixed[r], 3 * c), method="fixed", modality="tabular", model=mdl.name)

    assert abs(leakage(mdl, rows, "fixed", k=2, explanations=per_class).leakage) > 1e-4


def test_leakage_refuses_bad_settings_with_a_sentence():
    mdl = model()
    row = mdl.held_out[0].iloc[0]
    with pytest.raises(ExplainerError, match="k \\(the top features kept\\) must be a whole number from 1 to 13"):
        leakage(mdl, row, "shap-kl", k=14)
    with pytest.raises(ExplainerError, match="classes must be one of all, random"):
        leakage(mdl, row, "shap-kl", classes="some")
    regressor = model("diabetes", "linear")
    with pytest.raises(ExplainerError, match="regressor has none"):
        leakage(regressor, regressor.held_out[0].iloc[0], "shap-permutation")
    one = leakage(mdl, row, "shap-kl", k=2, classes="random", params={"background": 5, "permutations": 1})
    assert one.n_checked == 1


@pytest.mark.parametrize("params", [{}, {"background": 200, "permutations": 30}])
def test_shap_kl_memory_estimate_is_above_the_measured_peak_and_within_four_times_it(params):
    from tests.unit.test_run_budget import measured_peak

    mdl = model("wine")
    row = mdl.held_out[0].iloc[0]
    estimate = get_method("shap-kl", "tabular").estimate_memory(params, mdl, n_rows=1)
    explain(mdl, row, "shap-kl", **params)  # first use: lazy imports are not the run's
    measured = measured_peak(lambda: explain(mdl, row, "shap-kl", **params))
    assert measured <= estimate <= 4 * measured, (estimate, measured)


def test_a_shap_kl_explanation_exports_to_every_report_form():
    from reports.bundle import read_bundle, write_bundle
    from reports.html import to_html
    from reports.pdf import to_pdf
    from reports.report import make_item, new_report

    mdl = model()
    row = mdl.held_out[0].iloc[0]
    e = explain(mdl, row, "shap-kl", background=10, permutations=2)
    report = new_report("SHAP-KL", [make_item(mdl, row.to_dict(), e)])
    assert "all classes (distribution)" in to_html(report) and "Waterfall" in to_html(report)
    assert to_pdf(report)[:4] == b"%PDF"
    back = read_bundle(write_bundle(report)).items[0].explanation
    np.testing.assert_array_equal(back.scores, e.scores)
    assert back.target_label == ALL_CLASSES and back.base_value == pytest.approx(e.base_value)
