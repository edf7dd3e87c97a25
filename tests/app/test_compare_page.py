"""The Compare page through AppTest: image and text, faithfulness figures, the random baseline, agreement."""

import base64
import json
import re

import numpy as np
import pytest
from scipy.stats import spearmanr


def open_page(at):
    at.switch_page("pages/compare.py").run()
    assert not at.exception
    return at


def chart_keys(app) -> str:
    return " ".join(chart.proto.id for chart in app.get("plotly_chart"))


def captions(app) -> str:
    return "\n".join(c.value for c in app.caption)


def figures_table(app):
    """Compare's faithfulness table: a frame indexed by method, one column per figure."""
    return next(d.value for d in app.dataframe if d.value.index.name == "method")


@pytest.mark.slow  # an embedded model on every method of a page: seconds to minutes
def test_image_comparison_with_sanity_check(at):
    open_page(at)
    at.multiselect(key="compare_methods:image").set_value(["grad-cam"]).run()
    at.checkbox(key="compare_sanity").check().run()
    at.checkbox(key="compare_faithfulness:image:pixel_curves").check().run()  # the RISE-paper curves too
    # the cost, said before Run: grad-cam 1 + 1, random 0 (the class is known), 2 × (98 region + 450 pixel + 2)
    # for the figures, grad-cam again on the randomised copy
    estimate = re.search(r"Estimated cost: ([\d,]+) forward \+ ([\d,]+) backward passes \(explaining ([\d,]+) \+ "
                         r"([\d,]+), faithfulness ([\d,]+), sanity check ([\d,]+) \+ ([\d,]+)\) ≈ [\d.]+ (s|min) on ",
                         captions(at))
    assert estimate, captions(at)
    total_f, total_b, explain_f, explain_b, measure_f, sanity_f, sanity_b = (int(g.replace(",", ""))
                                                                             for g in estimate.groups()[:7])
    assert (explain_f, explain_b, measure_f, sanity_f, sanity_b) == (1, 1, 2 * (98 + 450 + 2), 1, 1)
    assert (total_f, total_b) == (explain_f + measure_f + sanity_f, explain_b + sanity_b)
    at.button(key="compare_run").click().run()
    assert not at.exception and not at.error
    results = at.session_state["compare_results"][1]
    assert (sum(e.n_forward for e in results), sum(e.n_backward for e in results)) == (explain_f, explain_b)
    assert [e.extras["sanity"]["passes"] for e in results if "sanity" in e.extras] == [[sanity_f, sanity_b]]
    keys = chart_keys(at)
    assert "compare_image_overlay:grad-cam" in keys and "compare_image_overlay:random" in keys and "compare_agreement_matrix" in keys
    table, text = figures_table(at), captions(at)
    assert "grad-cam for **Egyptian cat**" in text and "random for **Egyptian cat**" in text
    assert table.columns[0] == "srg — higher is better"
    assert {"deletion auc — lower is better", "insertion auc — higher is better"} <= set(table.columns)
    assert table.loc["grad-cam", "sanity"] == "passes" and "random" in table.index
    # sorted by the headline figure, in its direction
    headline = table.columns[0]
    values = table[headline].to_numpy()
    assert list(values) == sorted(values, reverse="higher" in headline)
    at.toggle(key="compare_curves:grad-cam").set_value(True).run()
    assert "compare_curve:grad-cam" in chart_keys(at)
    at.selectbox(key="compare_agreement").set_value("kendall").run()
    assert not at.exception


@pytest.mark.slow  # an embedded model on every method of a page: seconds to minutes
def test_text_comparison(at):
    open_page(at)
    at.radio(key="compare_modality").set_value("Text").run()
    at.multiselect(key="compare_methods:text").set_value(["occlusion"]).run()
    assert at.selectbox(key="compare_faithfulness:text:removal").value == "delete"  # the paper's definition first
    at.button(key="compare_run").click().run()
    assert not at.exception and not at.error
    keys = chart_keys(at)
    assert "compare_ranked_bars:occlusion" in keys and "compare_ranked_bars:random" in keys and "compare_agreement_matrix" in keys
    assert "aopc comprehensiveness — higher is better" in figures_table(at).columns
    deleted = figures_table(at).loc["occlusion", "aopc comprehensiveness — higher is better"]
    assert all(e.faithfulness["removal"] == "delete" for e in at.session_state["compare_results"][1])
    at.selectbox(key="compare_faithfulness:text:removal").set_value("attention-mask").run()
    at.button(key="compare_run").click().run()
    assert all(e.faithfulness["removal"] == "attention-mask" for e in at.session_state["compare_results"][1])
    assert figures_table(at).loc["occlusion", "aopc comprehensiveness — higher is better"] != deleted


def test_table_row_comparison(at):
    open_page(at)
    at.radio(key="compare_modality").set_value("Table row").run()
    assert not at.exception
    assert "compare_sanity" not in [c.key for c in at.checkbox]  # a scikit-learn model has no layers to randomise
    at.number_input(key="row_index:breast_cancer").set_value(5).run()
    options = at.multiselect(key="compare_methods:tabular").options
    assert "shap-tree" in options and "permutation-importance" not in options  # that one explains a model, not a row
    at.multiselect(key="compare_methods:tabular").set_value(["shap-tree"]).run()
    at.button(key="compare_run").click().run()
    assert not at.exception and not at.error
    keys = chart_keys(at)
    assert "compare_ranked_bars:shap-tree" in keys and "compare_ranked_bars:random" in keys and "compare_agreement_matrix" in keys
    assert "deletion auc — lower is better" in figures_table(at).columns
    at.toggle(key="compare_curves:shap-tree").set_value(True).run()
    assert "compare_curve:shap-tree" in chart_keys(at)


@pytest.mark.slow  # an embedded model on every method of a page: seconds to minutes
def test_prompt_comparison(at):
    open_page(at)
    at.radio(key="compare_modality").set_value("Prompt (generation)").run()
    assert not at.exception and not at.error
    at.number_input(key="cmp_max_new").set_value(2).run()
    at.button(key="compare_run").click().run()
    assert not at.exception and not at.error
    keys = chart_keys(at)
    assert "compare_generation_matrix:occlusion" in keys and "compare_generation_matrix:random" in keys and "compare_agreement_matrix" in keys
    assert "soft ns mean — higher is better" in figures_table(at).columns


def _shown_agreement(at) -> np.ndarray:
    chart = next(c for c in at.get("plotly_chart") if c.proto.id.endswith("compare_agreement_matrix"))
    z = json.loads(chart.proto.spec)["data"][0]["z"]
    if isinstance(z, dict):  # Plotly's typed-array form: base64 bytes with their dtype and shape
        z = np.frombuffer(base64.b64decode(z["bdata"]), dtype=z["dtype"]).reshape([int(n) for n in str(z["shape"]).split(",")])
    return np.asarray(z, dtype=float)


def test_agreement_is_computed_on_what_the_tiles_show(at):
    open_page(at)
    at.radio(key="compare_modality").set_value("Table row").run()
    at.number_input(key="row_index:breast_cancer").set_value(5).run()
    at.multiselect(key="compare_methods:tabular").set_value(["shap-tree", "shap-permutation"]).run()
    at.button(key="compare_run").click().run()
    assert not at.exception and not at.error
    results = at.session_state["compare_results"][1]
    for scale, shown in (("magnitude (|score|)", np.abs), ("signed", lambda s: s)):
        at.radio(key="compare_scale").set_value(scale).run()
        arrays = [shown(e.scores) for e in results]  # what each tile's bars are drawn from
        expected = np.array([[spearmanr(a, b).statistic for b in arrays] for a in arrays])
        assert np.allclose(_shown_agreement(at), expected, atol=1e-9), scale
    signed = _shown_agreement(at)
    at.radio(key="compare_scale").set_value("magnitude (|score|)").run()
    assert not np.allclose(signed, _shown_agreement(at))  # the choice reaches the matrix


@pytest.mark.slow  # the embedded CNN: seconds
def test_image_agreement_is_computed_on_the_maps_as_shown(at):
    from explainers.metrics.agreement import _features
    from reports.figures.base import display_scores

    open_page(at)
    at.multiselect(key="compare_methods:image").set_value(["saliency", "grad-cam"]).run()
    at.button(key="compare_run").click().run()
    assert not at.exception and not at.error
    results = at.session_state["compare_results"][1]
    for scale, percentile in (("signed", 90.0), ("magnitude (|score|)", 99.0)):
        at.radio(key="compare_scale").set_value(scale).run()
        at.slider(key="compare_clip_percentile").set_value(percentile).run()
        magnitude = scale.startswith("magnitude")
        # the tiles' values: each map on the display scale, clipped at the percentile (then block means, 64 a side)
        arrays = [_features(display_scores(np.abs(e.scores) if magnitude else e.scores, e.signed and not magnitude,
                                           percentile)) for e in results]
        expected = np.array([[spearmanr(a, b).statistic for b in arrays] for a in arrays])
        assert np.allclose(_shown_agreement(at), expected, atol=1e-9), scale
        if percentile < 99:  # and not on the unclipped scores, which differ once a tenth of each map is clipped
            raw = [_features(np.abs(e.scores) if magnitude else e.scores) for e in results]
            assert not np.allclose(_shown_agreement(at), [[spearmanr(a, b).statistic for b in raw] for a in raw],
                                   atol=1e-3)


def test_compare_offers_shap_kl_for_a_table_row(at):
    open_page(at)
    at.radio(key="compare_modality").set_value("Table row").run()
    at.number_input(key="row_index:breast_cancer").set_value(5).run()
    assert "shap-kl" in at.multiselect(key="compare_methods:tabular").options  # registered for tables: offered
    at.multiselect(key="compare_methods:tabular").set_value(["shap-tree", "shap-kl"]).run()
    at.button(key="compare_run").click().run()
    assert not at.exception and not at.error
    results = {e.method: e for e in at.session_state["compare_results"][1]}
    assert results["shap-kl"].target_label == "all classes (distribution)"
    assert results["shap-kl"].target == results["shap-tree"].target  # its deletion curve follows the same class
    assert "compare_ranked_bars:shap-kl" in chart_keys(at)
    assert np.isfinite(figures_table(at).loc["shap-kl", "deletion auc — lower is better"])
