"""Tabular models: ids through load_model, training, skops uploads (with their untrusted types), pickle refused."""

import operator
import pickle

import joblib
import numpy as np
import pytest
import skops.io as sio

from models import ModelLoadError, load_model
from models.inputs.tables import Dataset, load_dataset
from models.adapters.tabular import load_skops, train_model, untrusted_types


@pytest.fixture(scope="module")
def iris_forest():
    return train_model(load_dataset("iris"), "random-forest", n_estimators=10)


def test_model_id_through_the_common_api():
    m = load_model("tabular:iris:linear")
    assert m.modality == "tabular" and m.labels == ["setosa", "versicolor", "virginica"]
    assert m.output_kind == "log-odds" and m.score_name == "accuracy" and m.score > 0.8
    row = m.held_out[0].iloc[0]
    before = m.n_forward
    p = m.predict(row)
    assert m.n_forward == before + 1
    assert abs(float(p.probs.sum()) - 1) < 1e-5 and p.top(1)[0][1] in m.labels
    assert m.class_index("virginica") == 2 and m.class_index(None, row) == int(np.argmax(p.probs))


def test_unknown_kind_and_dataset_are_sentences():
    with pytest.raises(ModelLoadError, match="Unknown model kind 'svm'"):
        load_model("tabular:iris:svm")
    with pytest.raises(Exception, match="Unknown dataset 'titanic'"):
        load_model("tabular:titanic:linear")


def test_skops_round_trip_after_accepting_untrusted_types(tmp_path, iris_forest):
    path = tmp_path / "forest.skops"
    sio.dump(iris_forest.estimator, path)
    types = untrusted_types(path)
    data = load_dataset("iris")
    assert "sklearn.tree._tree.Tree" in types  # the forest's trees are not trusted by default
    with pytest.raises(ModelLoadError, match=r"not trusted by default: .*sklearn\.tree\._tree\.Tree"):
        load_skops(path, data, trusted=[])
    m = load_model(f"skops:{path}", data="iris", trusted=types)
    X = data.features.iloc[:20]
    np.testing.assert_array_equal(m.output(X), iris_forest.output(X))
    assert m.labels == iris_forest.labels and m.score_name.startswith("accuracy")


def test_skops_with_a_custom_type_lists_it(tmp_path):
    from sklearn.preprocessing import FunctionTransformer
    from sklearn.pipeline import make_pipeline
    from sklearn.linear_model import LogisticRegression

    data = load_dataset("iris")
    pipe = make_pipeline(FunctionTransformer(operator.neg), LogisticRegression(max_iter=1000)).fit(
        data.features, data.frame[data.target])
    path = tmp_path / "custom.skops"
    sio.dump(pipe, path)
    types = untrusted_types(path)
    assert "_operator.neg" in types
    with pytest.raises(ModelLoadError, match="_operator.neg"):
        load_skops(path, data, trusted=[])
    m = load_skops(path, data, trusted=types)
    assert m.output_kind == "log-odds" and m.feature_names == list(data.features.columns)


@pytest.mark.parametrize("suffix, dump", [(".pkl", pickle.dump), (".joblib", joblib.dump), (".skops", pickle.dump)])
def test_pickle_and_joblib_files_are_refused(tmp_path, iris_forest, suffix, dump):
    path = tmp_path / f"model{suffix}"
    if dump is joblib.dump:
        joblib.dump(iris_forest.estimator, path)
    else:
        with open(path, "wb") as f:
            pickle.dump(iris_forest.estimator, f)
    with pytest.raises(ModelLoadError, match="Pickle and joblib files can run any code"):
        load_model(f"skops:{path}", data="iris", trusted=["anything"])


def test_model_whose_columns_are_missing_from_the_data(tmp_path, iris_forest):
    path = tmp_path / "forest.skops"
    sio.dump(iris_forest.estimator, path)
    data = load_dataset("iris")
    data = Dataset("cut", data.frame.drop(columns=["petal width (cm)", "sepal length (cm)"]), data.target, data.task)
    with pytest.raises(ModelLoadError, match=r"expects columns the data does not have: 'sepal length \(cm\)', "
                                             r"'petal width \(cm\)'"):
        load_skops(path, data, trusted=untrusted_types(path))


def test_csv_with_missing_values_and_categories_trains(tmp_path):
    from models.inputs.tables import prepare_target, read_csv

    rng = np.random.default_rng(0)
    lines = ["x,colour,y"]
    for i in range(120):
        colour = ["red", "blue", ""][i % 3]
        x = "" if i % 10 == 0 else f"{rng.normal():.3f}"
        lines.append(f"{x},{colour},{'yes' if i % 2 else 'no'}")
    frame, _ = read_csv((tmp_path / "d.csv").write_text("\n".join(lines)) and (tmp_path / "d.csv"))
    m = train_model(prepare_target(frame, "y"), "gradient-boosting", n_estimators=10)
    assert m.labels == ["no", "yes"] and m.score is not None
    assert m.schema.categories == {"colour": ["blue", "red"]}
