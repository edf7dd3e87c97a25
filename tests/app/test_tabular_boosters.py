"""The Tables page with boosters (AppTest): an XGBoost model trained here with its waterfall and interaction
heatmap; a LightGBM file uploaded; a pickle under a booster's name refused."""

import pickle

import numpy as np
import pytest

from explainers.tabular.shap_methods import tree_model
from models.inputs.tables import load_dataset
from models.adapters.tabular import train_model
from tests.app.test_tabular_page import captions, charts, page  # noqa: F401 - page: the Tables page's fixture


def test_xgboost_trained_here_shows_waterfall_and_interactions(page):
    page.selectbox(key="tab_kind").set_value("xgboost").run()
    assert not page.exception and not page.error
    text = captions(page)
    assert "Default **shap-tree**" in text and "held-out accuracy" in text and "model's **log-odds**" in text
    assert "scores add up to the model's log-odds margin: base value + Σ SHAP = the raw output" in text
    page.checkbox(key="tab_interactions").check().run()
    page.button(key="FormSubmitter:tab_whatif-Explain this row").click().run()
    assert not page.exception and not page.error
    local = page.session_state["tab_local"]["e"]
    assert local.extras["interactions"].shape == (30, 30)
    np.testing.assert_allclose(local.extras["interactions"].sum(axis=1), local.scores.astype(float), atol=1e-5)
    ids = charts(page)
    assert any("tab_waterfall" in i for i in ids) and any("tab_interactions:local" in i for i in ids)
    page.number_input(key="tab_rows").set_value(30).run()
    page.button(key="run_global").click().run()
    assert not page.exception and not page.error
    assert any("tab_interactions:global" in i for i in charts(page))
    assert page.session_state["tab_global"]["e"].extras["interaction_values"].shape == (30, 30, 30)


def test_lightgbm_file_upload_and_pickle_refused(page, tmp_path):
    m = train_model(load_dataset("iris"), "lightgbm")
    path = tmp_path / "iris.txt"
    tree_model(m).save_model(str(path))
    page.selectbox(key="tab_dataset").set_value("iris").run()
    page.radio(key="tab_model_source").set_value("Upload an XGBoost, LightGBM or CatBoost file").run()
    assert not page.exception and any("Upload a booster" in i.value for i in page.info)
    page.file_uploader(key="tab_booster").set_value(("iris.txt", path.read_bytes(), "text/plain")).run()
    assert not page.exception and not page.error
    assert "Loaded lightgbm:model.txt · accuracy on the given data" in captions(page)
    assert "log-odds margin" in captions(page)
    page.button(key="FormSubmitter:tab_whatif-Explain this row").click().run()
    assert not page.exception and not page.error and any("tab_waterfall" in i for i in charts(page))
    page.file_uploader(key="tab_booster").set_value(("model.json", pickle.dumps(m.estimator), "application/json")).run()
    assert not page.exception
    assert any("Pickle and joblib files can run any code" in e.value for e in page.error)
