"""XGBoost, LightGBM and CatBoost: trained here, loaded from their native files, explained by exact TreeSHAP (with
interaction values); pickles, corrupt files and other feature sets refused with a sentence."""

import pickle
import warnings

import joblib
import numpy as np
import pandas as pd
import pytest

from explainers import explain
from explainers.tabular.shap_methods import is_tree, tree_model
from models import ModelLoadError, load_model
from models.adapters.tabular import TabularModel
from models.inputs.tables import load_dataset

LIBRARIES = ("xgboost", "lightgbm", "catboost")


@pytest.fixture(scope="module")
def trained():
    """Models trained here once per (library, dataset): binary, multi-class and regression."""
    cache = {}

    def get(library, dataset):
        if (library, dataset) not in cache:
            cache[library, dataset] = load_model(f"tabular:{dataset}:{library}")
        return cache[library, dataset]

    return get


def _shap_reference(model, frame, index):
    """shap's TreeExplainer on the library's own model, for class ``index``: (values, base value)."""
    import shap

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        explainer = shap.TreeExplainer(tree_model(model))
        values = np.asarray(explainer.shap_values(model.transform(frame)), dtype=np.float64)
    base = np.atleast_1d(np.asarray(explainer.expected_value, dtype=np.float64))
    if values.ndim == 3:
        return values[:, :, index], base[index]
    sign = -1.0 if len(model.labels) == 2 and index == 0 else 1.0
    return sign * values, sign * base[0]


@pytest.mark.parametrize("library", LIBRARIES)
@pytest.mark.parametrize("dataset, task, kind", [("breast_cancer", "classification", "log-odds"),
                                                 ("iris", "classification", "log-odds"),
                                                 ("diabetes", "regression", "prediction")])
def test_treeshap_equals_shap_and_adds_up_to_the_raw_output(trained, library, dataset, task, kind):
    m = trained(library, dataset)
    assert isinstance(m, TabularModel) and m.kind == library and m.task == task and m.output_kind == kind
    assert is_tree(m) and m.score > (0.85 if task == "classification" else 0.1)
    rows = m.held_out[0].iloc[:6].reset_index(drop=True)
    for target in ([0, 1] if dataset == "breast_cancer" else [2] if dataset == "iris" else [None]):
        e = explain(m, rows, method="shap-tree", target=target)
        reference, base = _shap_reference(m, rows, e.target)
        np.testing.assert_allclose(e.extras["shap_values"], reference, atol=1e-6, rtol=0)
        assert abs(e.base_value - base) < 1e-6
        raw = m.output(rows)[:, e.target]  # the margin (log-odds) for classifiers, the prediction for regressors
        total = e.base_value + e.extras["shap_values"].sum(axis=1)
        np.testing.assert_allclose(total, raw, atol=1e-5 * max(1.0, np.abs(raw).max()), rtol=0)  # float32 trees
    one = explain(m, rows.iloc[0], method="shap-tree")
    assert abs(one.base_value + float(one.scores.astype(np.float64).sum()) - one.extras["output"]) < 1e-4 * max(
        1.0, abs(one.extras["output"]))


def test_classifier_margin_is_the_log_odds_of_its_probabilities(trained):
    m = trained("lightgbm", "breast_cancer")
    rows = m.held_out[0].iloc[:5]
    margin = m.output(rows)
    probs = m.estimator.predict_proba(rows)
    np.testing.assert_allclose(margin[:, 1], np.log(probs[:, 1] / probs[:, 0]), atol=1e-8)
    np.testing.assert_allclose(margin[:, 0], -margin[:, 1])
    m3 = trained("catboost", "iris")
    d = m3.output(m3.held_out[0].iloc[:5])
    e = np.exp(d - d.max(axis=1, keepdims=True))
    np.testing.assert_allclose(e / e.sum(axis=1, keepdims=True), m3.estimator.predict_proba(m3.held_out[0].iloc[:5]),
                               atol=1e-8)


def test_training_is_seed_deterministic():
    data = load_dataset("breast_cancer")
    from models.adapters.tabular import train_model

    for library in LIBRARIES:
        a, b = train_model(data, library), train_model(data, library)
        rows = a.held_out[0].iloc[:20]
        np.testing.assert_array_equal(a.output(rows), b.output(rows))


@pytest.mark.parametrize("library", LIBRARIES)
def test_interaction_values_add_up_to_the_shap_values(trained, library):
    m = trained(library, "breast_cancer")
    rows = m.held_out[0].iloc[:4].reset_index(drop=True)
    one = explain(m, rows.iloc[0], method="shap-tree", interactions=True)
    pairs = one.extras["interactions"]
    assert pairs.shape == (30, 30)
    np.testing.assert_allclose(pairs.sum(axis=1), one.scores.astype(np.float64), atol=1e-5)
    np.testing.assert_allclose(pairs, pairs.T, atol=1e-6)
    many = explain(m, rows, method="shap-tree", interactions=True)
    each = many.extras["interaction_values"]
    assert each.shape == (4, 30, 30)
    np.testing.assert_allclose(each.sum(axis=2), many.extras["shap_values"], atol=1e-5)
    np.testing.assert_allclose(many.extras["interactions"], np.abs(each).mean(axis=0))


def test_interactions_over_one_hot_columns_and_per_class(trained):
    tips = trained("xgboost", "tips")  # categorical columns one-hot encoded: summed back on both sides
    e = explain(tips, tips.held_out[0].iloc[0], method="shap-tree", interactions=True)
    assert e.extras["interactions"].shape == (6, 6)
    np.testing.assert_allclose(e.extras["interactions"].sum(axis=1), e.scores.astype(np.float64), atol=1e-5)
    for library in ("xgboost", "catboost"):
        m = trained(library, "iris")
        e = explain(m, m.held_out[0].iloc[0], method="shap-tree", target=1, interactions=True)
        np.testing.assert_allclose(e.extras["interactions"].sum(axis=1), e.scores.astype(np.float64), atol=1e-5)


def _fit_native(library, X, y):
    """A model trained with the library itself, as a user would, on a DataFrame (so the file records the names)."""
    import catboost
    import lightgbm
    import xgboost

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if library == "xgboost":
            return xgboost.XGBClassifier(n_estimators=15, max_depth=3, n_jobs=1).fit(X, y)
        if library == "lightgbm":
            return lightgbm.LGBMClassifier(n_estimators=15, num_leaves=7, n_jobs=1, verbose=-1).fit(X, y)
        return catboost.CatBoostClassifier(iterations=15, depth=3, thread_count=1, verbose=False,
                                           allow_writing_files=False).fit(X, y)


def _save(library, fitted, path):
    if library == "lightgbm":
        fitted.booster_.save_model(str(path))
    else:
        fitted.save_model(str(path))


@pytest.mark.parametrize("library, suffix", [("xgboost", ".json"), ("xgboost", ".ubj"), ("lightgbm", ".txt"),
                                             ("catboost", ".cbm")])
def test_native_file_round_trip(tmp_path, library, suffix):
    data = load_dataset("breast_cancer")
    codes = (data.frame[data.target] == "malignant").astype(int)  # the sorted names: benign 0, malignant 1
    fitted = _fit_native(library, data.features, codes)
    path = tmp_path / f"model{suffix}"
    _save(library, fitted, path)
    m = load_model(f"{library}:{path}", data="breast_cancer")
    assert isinstance(m, TabularModel) and m.labels == ["benign", "malignant"] and m.output_kind == "log-odds"
    assert m.feature_names == list(data.features.columns) and m.score > 0.9
    rows = data.features.iloc[:25]
    np.testing.assert_allclose(m.estimator.predict_proba(rows), fitted.predict_proba(rows), atol=1e-6)
    e = explain(m, rows, method="shap-tree")
    np.testing.assert_allclose(e.base_value + e.extras["shap_values"].sum(axis=1), e.extras["output"],
                               atol=1e-4 * max(1.0, np.abs(e.extras["output"]).max()))


def test_a_model_trained_here_saved_natively_loads_from_a_dataframe(tmp_path, trained):
    m = trained("lightgbm", "iris")  # its booster saw unnamed columns: matched to the data's in order
    path = tmp_path / "iris.txt"
    tree_model(m).save_model(str(path))
    frame = load_dataset("iris").frame
    frame = frame[["species", *[c for c in frame.columns if c != "species"]]]  # the target first: named by target=
    loaded = load_model(f"lightgbm:{path}", data=frame, target="species")
    assert loaded.labels == m.labels and loaded.feature_names == m.feature_names
    rows = m.held_out[0]
    np.testing.assert_allclose(loaded.output(rows), m.output(rows), atol=1e-9)


def test_catboost_file_records_its_classes(tmp_path):
    data = load_dataset("iris")
    fitted = _fit_native("catboost", data.features, data.frame[data.target])  # string labels, kept in the file
    path = tmp_path / "iris.cbm"
    fitted.save_model(str(path))
    m = load_model(f"catboost:{path}", data="iris")
    assert m.labels == [str(c) for c in fitted.classes_]
    rows = data.features.iloc[::10]
    assert list(m.estimator.predict(rows)) == [str(c) for c in fitted.predict(rows).ravel()]
    wine = load_dataset("wine")
    renamed = wine.frame.iloc[:, :4].set_axis(list(data.features.columns), axis=1).assign(species=wine.frame[wine.target])
    with pytest.raises(ModelLoadError, match=r"The data's target 'species' holds 'class_0', 'class_1', 'class_2', "
                                             r"which the model file's classes \('setosa'"):
        load_model(f"catboost:{path}", data=renamed, target="species")


def test_model_file_from_another_feature_set_is_refused(tmp_path):
    import xgboost

    cancer = load_dataset("breast_cancer")
    fitted = _fit_native("xgboost", cancer.features.iloc[:, :5], (cancer.frame[cancer.target] == "malignant"))
    named = tmp_path / "five.json"
    fitted.save_model(str(named))
    with pytest.raises(ModelLoadError, match=r"The model file's 5 features are not this data's: 'mean radius', "
                                             r"'mean texture', .* are not among the data's 4 feature columns"):
        load_model(f"xgboost:{named}", data="iris")
    booster = xgboost.train({"objective": "binary:logistic", "max_depth": 2, "nthread": 1},
                            xgboost.DMatrix(cancer.features.iloc[:, :5].to_numpy(),
                                            label=(cancer.frame[cancer.target] == "malignant").to_numpy()), 3)
    unnamed = tmp_path / "unnamed.ubj"
    booster.save_model(str(unnamed))
    with pytest.raises(ModelLoadError, match="The model file takes 5 features but the data has 4 feature columns"):
        load_model(f"xgboost:{unnamed}", data="iris")
    with pytest.raises(ModelLoadError, match="The model file has 2 classes but the data's target 'species' has 3"):
        load_model(f"xgboost:{unnamed}", data=cancer.features.iloc[:, :5].assign(
            species=np.resize(["setosa", "versicolor", "virginica"], len(cancer.frame))))


@pytest.mark.parametrize("library, suffix", [("xgboost", ".json"), ("lightgbm", ".txt"), ("catboost", ".cbm"),
                                             ("xgboost", ".pkl")])
@pytest.mark.parametrize("dump", ["pickle", "joblib"])
def test_pickled_booster_is_refused_whatever_its_name(tmp_path, library, suffix, dump):
    data = load_dataset("breast_cancer")
    fitted = _fit_native(library, data.features, (data.frame[data.target] == "malignant").astype(int))
    path = tmp_path / f"model{suffix}"
    if dump == "joblib":
        joblib.dump(fitted, path, compress=3)
    else:
        with open(path, "wb") as f:
            pickle.dump(fitted, f)
    with pytest.raises(ModelLoadError, match="Pickle and joblib files can run any code"):
        load_model(f"{library}:{path}", data="breast_cancer")


@pytest.mark.parametrize("library, name, content, sentence", [
    ("lightgbm", "m.txt", b"tree\nversion=v4\nnum_class=oops\n", "The LightGBM file m.txt could not be read"),
    ("xgboost", "m.json", b'{"learner": {"truncated', "The XGBoost file m.json could not be read"),
    ("catboost", "m.cbm", b"CBM1" + bytes(range(200)), "The CatBoost file m.cbm could not be read"),
    ("catboost", "m.cbm", b"hello, not a model", "m.cbm is not a CatBoost model file"),
    ("xgboost", "m.txt", b'{"learner": {}}', r"m.txt is not named like an? XGBoost model file \(.json or .ubj\)"),
    ("xgboost", "m.json", b"tree\nversion=v4\n", "m.json holds a LightGBM model, not a XGBoost one"),
])
def test_broken_or_mislabelled_files_are_sentences(tmp_path, library, name, content, sentence):
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(ModelLoadError, match=sentence):
        load_model(f"{library}:{path}", data="breast_cancer")


def test_needs_data_and_a_known_objective(tmp_path):
    import lightgbm

    with pytest.raises(ModelLoadError, match="needs data to explain"):
        load_model("xgboost:model.json")
    data = load_dataset("diabetes")
    booster = lightgbm.train({"objective": "poisson", "verbose": -1, "num_threads": 1},
                             lightgbm.Dataset(data.features, data.frame[data.target]), 3)
    path = tmp_path / "poisson.txt"
    booster.save_model(str(path))
    with pytest.raises(ModelLoadError, match="The LightGBM model's objective is 'poisson'"):
        load_model(f"lightgbm:{path}", data="diabetes")


def test_regressor_file_on_a_dataframe(tmp_path):
    import xgboost

    data = load_dataset("diabetes")
    fitted = xgboost.XGBRegressor(n_estimators=20, max_depth=3, n_jobs=1).fit(data.features, data.frame[data.target])
    path = tmp_path / "reg.json"
    fitted.save_model(str(path))
    frame = pd.concat([data.features, data.frame[data.target]], axis=1)  # the target last
    m = load_model(f"xgboost:{path}", data=frame)
    assert m.task == "regression" and m.output_kind == "prediction" and m.target == data.target
    np.testing.assert_allclose(m.output(data.features.iloc[:10])[:, 0], fitted.predict(data.features.iloc[:10]),
                               rtol=1e-6)


@pytest.mark.parametrize("dataset, kind", [("iris", "random-forest"), ("breast_cancer", "gradient-boosting")])
def test_interactions_of_scikit_learn_trees_too(dataset, kind):
    from models.adapters.tabular import train_model

    m = train_model(load_dataset(dataset), kind, n_estimators=20)
    e = explain(m, m.held_out[0].iloc[:3], method="shap-tree", target=0, interactions=True)
    np.testing.assert_allclose(e.extras["interaction_values"].sum(axis=2), e.extras["shap_values"], atol=1e-9)
