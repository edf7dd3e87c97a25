"""The Tables page through Streamlit's AppTest: datasets, CSV uploads, skops uploads, global and local SHAP."""

import pickle

import numpy as np
import pytest
import skops.io as sio

from models.inputs.tables import load_dataset
from models.adapters.tabular import train_model


@pytest.fixture
def page(at):
    at.switch_page("pages/tabular.py").run()
    assert not at.exception and not at.error
    return at


def charts(app) -> list[str]:
    return [chart.proto.id for chart in app.get("plotly_chart")]


def captions(app) -> str:
    return "\n".join(c.value for c in app.caption)


def test_bundled_dataset_global_and_local(page):
    assert "held-out accuracy" in captions(page)
    assert "Default **shap-tree**" in captions(page) and "Background:" in captions(page)
    page.number_input(key="tab_rows").set_value(40).run()
    page.button(key="run_global").click().run()
    assert not page.exception and not page.error
    ids = charts(page)
    assert any("tab_bar" in i for i in ids) and any("tab_beeswarm" in i for i in ids)
    assert any("tab_dependence" in i for i in ids)
    assert "shap-tree on 40 rows" in captions(page)
    assert any(b.proto.label.startswith("Download ranked table") for b in page.get("download_button"))
    page.number_input(key="tab_row").set_value(3).run()
    page.button(key="FormSubmitter:tab_whatif-Explain this row").click().run()
    assert not page.exception and not page.error
    assert any("tab_waterfall" in i for i in charts(page))
    assert "= base value" in captions(page)


def test_what_if_on_a_categorical_column_and_a_slow_explainer(page):
    page.selectbox(key="tab_dataset").set_value("tips").run()
    page.selectbox(key="tab_kind").set_value("mlp").run()
    assert "Default **shap-permutation**" in captions(page) and "held-out R²" in captions(page)
    next(w for w in page.selectbox if w.key.startswith("tab_value:") and w.key.endswith(":0:3")).set_value("Sat")  # day: a form commits its values on submit
    page.button(key="FormSubmitter:tab_whatif-Explain this row").click().run()
    assert not page.exception and not page.error
    local = page.session_state["tab_local"]["e"]
    assert local.method == "shap-permutation" and local.extras["row"][3] == ["Fri", "Sat", "Sun", "Thur"].index("Sat")
    assert any("tab_waterfall" in i for i in charts(page))


def upload_csv(app, name: str, data: bytes):
    app.radio(key="tab_source").set_value("Upload CSV").run()
    app.file_uploader(key="tab_csv").set_value((name, data, "text/csv")).run()


def test_csv_upload_with_garbage_and_missing_values_trains(page):
    rng = np.random.default_rng(0)
    lines = ["height;colour;weight;label"]
    for i in range(80):
        weight = "oops" if i == 5 else ("" if i % 9 == 0 else f"{rng.normal(70, 5):.1f}")
        lines.append(f"{rng.normal(170, 8):.1f};{['red', 'green'][i % 2]};{weight};{'big' if i % 3 else 'small'}")
    upload_csv(page, "people.csv", "\n".join(lines).encode())
    assert not page.exception and not page.error
    assert any("'weight': 1 value that is not a number" in i.value for i in page.info)
    assert page.selectbox(key="tab_target").value == "label"
    assert "1 categorical" in captions(page) and "held-out accuracy" not in captions(page)  # not trained yet
    page.button(key="tab_train").click().run()
    assert not page.exception and not page.error and "held-out accuracy" in captions(page)
    page.button(key="run_global").click().run()
    assert not page.error and any("tab_beeswarm" in i for i in charts(page))


@pytest.mark.parametrize("data, message", [(b"", "empty"), (b"a,b\n", "no data rows"), (b"x\n1\n2\n", "one column")])
def test_bad_csv_is_one_sentence_and_the_session_goes_on(page, data, message):
    upload_csv(page, "bad.csv", data)
    assert not page.exception and len(page.error) == 1 and message in page.error[0].value
    page.radio(key="tab_source").set_value("Bundled dataset").run()
    assert not page.error and "held-out" in captions(page)


def test_one_class_target_is_refused(page):
    upload_csv(page, "one.csv", b"x,y\n1,a\n2,a\n3,a\n")
    assert page.selectbox(key="tab_target").value == "x"  # the guess passes over a column with one value
    page.selectbox(key="tab_target").set_value("y").run()
    assert len(page.error) == 1 and "only one value" in page.error[0].value
    assert not [b for b in page.button if b.key == "tab_train"]  # nothing to train


def test_skops_upload_asks_to_accept_untrusted_types(page):
    data = load_dataset("iris")
    model = train_model(data, "random-forest", n_estimators=5)
    page.selectbox(key="tab_dataset").set_value("iris").run()
    page.radio(key="tab_model_source").set_value("Upload a skops model").run()
    page.file_uploader(key="tab_skops").set_value(("forest.skops", sio.dumps(model.estimator), "application/zip")).run()
    assert not page.exception and not page.error
    assert any("sklearn.tree._tree.Tree" in c.value for c in page.code)
    assert "Explainer" not in [s.label for s in page.selectbox]  # nothing loads before the types are accepted
    page.checkbox(key="tab_trust").check().run()
    assert not page.error and "Loaded skops:" in captions(page)
    page.number_input(key="tab_rows").set_value(20).run()
    page.button(key="run_global").click().run()
    assert not page.error and any("tab_bar" in i for i in charts(page))


def test_pickle_upload_is_refused(page):
    model = train_model(load_dataset("iris"), "linear")
    page.radio(key="tab_model_source").set_value("Upload a skops model").run()
    page.file_uploader(key="tab_skops").set_value(("model.pkl", pickle.dumps(model.estimator), "application/octet-stream")).run()
    assert not page.exception and len(page.error) == 1 and "Pickle and joblib" in page.error[0].value


def test_shap_kl_is_offered_and_the_leakage_check_shows_both_figures(page):
    page.selectbox(key="tab_dataset").set_value("wine").run()
    page.selectbox(key="tab_kind").set_value("linear").run()
    methods = next(s for s in page.selectbox if s.key.startswith("tab_method:"))
    assert "shap-kl" in methods.options
    methods.set_value("shap-kl").run()
    assert not page.exception and not page.error
    assert "explains the whole distribution over classes" in captions(page)
    page.number_input(key="tab_rows").set_value(3).run()
    page.button(key="run_global").click().run()
    assert not page.exception and not page.error
    assert "shap-kl on 3 rows, explaining the −KL(p(y|x) ‖ p(y|x_S)) of **all classes" in captions(page)
    assert any("tab_beeswarm" in i for i in charts(page))
    page.button(key="FormSubmitter:tab_whatif-Explain this row").click().run()
    assert not page.exception and not page.error
    local = page.session_state["tab_local"]["e"]
    assert local.method == "shap-kl" and local.target_label == "all classes (distribution)"
    assert "−KL(p(y|x) ‖ p(y|x_S)) 0 = base value" in captions(page)
    page.number_input(key="tab_leak_rows").set_value(2)
    page.number_input(key="tab_leak_k").set_value(2).run()
    page.button(key="tab_leak_run").click().run()
    assert not page.exception and not page.error
    result = page.session_state["tab_leakage"]["result"]
    assert list(result) == ["shap-linear", "shap-kl"]  # the model's class-dependent SHAP beside SHAP-KL
    labels = [m.label for m in page.metric]
    assert labels == ["shap-linear · leakage at k = 2", "shap-kl · leakage at k = 2"]
    assert abs(result["shap-kl"].leakage) < 1e-6 and result["shap-kl"].n_checked == 2 * 3
    assert any("they leak the label" in m.value for m in page.markdown)


def test_the_what_if_form_shows_the_chosen_datasets_row_after_a_switch(page):
    """The what-if fields are the chosen table's: after breast cancer, wine's row 0 must not show breast-cancer
    numbers labelled as edits (the fields were keyed by row and column only, so a switch kept the old values)."""
    from models.inputs.tables import load_dataset

    def first_field():
        return next(w for w in page.number_input if w.key.startswith("tab_value:") and w.key.endswith(":0:0"))

    page.number_input(key="tab_row").set_value(0).run()
    assert first_field().value == pytest.approx(float(load_dataset("breast_cancer").features.iloc[0, 0]))
    page.selectbox(key="tab_dataset").set_value("wine").run()
    assert not page.exception and not page.error
    page.number_input(key="tab_row").set_value(0).run()
    assert first_field().value == pytest.approx(float(load_dataset("wine").features.iloc[0, 0]))
