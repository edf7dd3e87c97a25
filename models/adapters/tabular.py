"""Tabular models: scikit-learn estimators trained in seconds, or loaded from a skops file.

    m = load_model("tabular:breast_cancer:random-forest")   # trained on the bundled data
    m = train_model(dataset, "gradient-boosting")            # on any Dataset (e.g. a CSV)
    untrusted_types("model.skops")                           # show these, let the person accept
    m = load_skops("model.skops", dataset, trusted=[...])

**What is explained.** ``TabularModel.output(frame)`` is the model output the SHAP
explainers decompose, one column per class (one for regression); ``output_kind`` names it:

- ``"log-odds"``: logistic regression and gradient boosting (their decision function; for two
  classes column 1 is the margin and column 0 its negative) — what TreeSHAP and the linear
  explainer decompose exactly;
- ``"probability"``: random forests (the averaged leaf class fractions *are* the probability,
  so TreeSHAP is exact on it), MLPs and any other classifier (``predict_proba``);
- ``"prediction"``: regressors (``predict``).

``predict(row)`` gives a ``Prediction`` (class probabilities) for classifiers and a
``ValuePrediction`` (``.value``; ``.top()`` as one entry) for regressors.
"""

from __future__ import annotations

import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from models.adapters.image import Prediction
from models.adapters.base import ModelAdapter
from models.errors import ExplainerError, InputError, ModelLoadError, reason
from models.inputs.limits import check_size
from models.inputs.tables import Dataset, TableSchema, load_dataset
from models.sources.pickles import PICKLE_SUFFIXES, refuse_pickle

BACKGROUND_ROWS = 1000  # training rows kept as SHAP background (a random sample of bigger tables)

MODEL_KINDS = {
    "random-forest": "Random forest (100 trees)",
    "linear": "Logistic regression (classification) or linear regression",
    "gradient-boosting": "Gradient boosting (100 trees of depth 3)",
    "mlp": "Multi-layer perceptron (one hidden layer of 32 units)",
    "xgboost": "XGBoost (100 trees of depth 4)",
    "lightgbm": "LightGBM (100 trees of 15 leaves)",
    "catboost": "CatBoost (100 symmetric trees of depth 4)",
}
BOOSTERS = ("xgboost", "lightgbm", "catboost")  # models/sources/boosters.py: trained here or loaded from native files
_ALIASES = {"logistic-regression": "linear", "linear-regression": "linear", "logistic": "linear"}


@dataclass
class ValuePrediction:
    """A regressor's prediction for one row; ``top`` mirrors ``Prediction.top`` with the value in place of a probability."""

    value: float
    labels: list[str]

    def top(self, k: int = 1) -> list[tuple[int, str, float]]:
        return [(0, self.labels[0], float(self.value))]


def _estimator(kind: str, task: str, numeric: list[str], categorical: list[str], seed: int, n_estimators: int):
    from sklearn.compose import ColumnTransformer
    from sklearn.ensemble import (
        GradientBoostingClassifier,
        GradientBoostingRegressor,
        RandomForestClassifier,
        RandomForestRegressor,
    )
    from sklearn.impute import SimpleImputer
    from sklearn.linear_model import LinearRegression, LogisticRegression
    from sklearn.neural_network import MLPClassifier, MLPRegressor
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    classify = task == "classification"
    final = {
        "linear": lambda: LogisticRegression(max_iter=5000) if classify else LinearRegression(),
        "random-forest": lambda: (RandomForestClassifier if classify else RandomForestRegressor)(
            n_estimators=n_estimators, random_state=seed, n_jobs=1),
        "gradient-boosting": lambda: (GradientBoostingClassifier if classify else GradientBoostingRegressor)(
            n_estimators=n_estimators, max_depth=3, random_state=seed),
        "mlp": lambda: (MLPClassifier if classify else MLPRegressor)(
            hidden_layer_sizes=(32,), max_iter=2000, random_state=seed),
        **{library: (lambda library=library: _booster(library, task, n_estimators, seed)) for library in BOOSTERS},
    }[kind]()
    scale = kind in ("linear", "mlp")  # trees need no scaling
    number_steps = [("impute", SimpleImputer(strategy="median"))] + ([("scale", StandardScaler())] if scale else [])
    parts = []
    if numeric:
        parts.append(("num", Pipeline(number_steps), numeric))
    if categorical:
        parts.append(("cat", Pipeline([
            ("impute", SimpleImputer(strategy="most_frequent")),
            ("onehot", OneHotEncoder(handle_unknown="ignore", sparse_output=False)),
        ]), categorical))
    return Pipeline([("prepare", ColumnTransformer(parts)), ("model", final)])


def _booster(library: str, task: str, n_estimators: int, seed: int):
    from models.sources.boosters import BoostedTrees

    return BoostedTrees(library=library, task=task, n_estimators=n_estimators, seed=seed)


def train_model(dataset: Dataset, kind: str = "random-forest", seed: int = 0, n_estimators: int = 100,
                test_size: float = 0.25) -> "TabularModel":
    """Fit a pipeline (impute; one-hot categories; scale for linear and MLP) on 75% of the rows, score on the rest."""
    from sklearn.model_selection import train_test_split

    kind = _ALIASES.get(kind, kind)
    if kind not in MODEL_KINDS:
        raise ModelLoadError(f"Unknown model kind '{kind}'. Choose one of: {', '.join(MODEL_KINDS)}.")
    X, y = dataset.features, dataset.frame[dataset.target]
    if len(X) < 10:
        raise InputError(f"The table has only {len(X)} rows; at least 10 are needed to train and test a model.")
    schema = TableSchema.from_frame(X)
    X = schema.check(X)
    classify = dataset.task == "classification"
    stratify = y if classify and y.value_counts().min() >= 2 else None
    X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=test_size, random_state=seed, stratify=stratify)
    numeric = [c for c in schema.features if c not in schema.categories]
    estimator = _estimator(kind, dataset.task, numeric, list(schema.categories), seed, n_estimators)
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # convergence chatter; the held-out score says how good it is
        estimator.fit(X_train, y_train)
    name = f"tabular:{dataset.name}:{kind}"
    model = TabularModel(name, estimator, schema, dataset.target, dataset.task, X_train, held_out=(X_test, y_test),
                         seed=seed)
    model.kind = kind
    model.train_index = X_train.index  # the rows trained on (the data set's row numbers)
    return model


class TabularModel(ModelAdapter):
    """A scikit-learn estimator over a table, with the data SHAP needs.

    The estimator takes a frame of the feature columns (``feature_names``). ``forward``
    takes encoded rows (``TableSchema.encode``) so that the perturbation engine can batch,
    count and cancel; every row evaluated counts as one forward pass.
    """

    modality = "tabular"
    input_name = "row"
    device_description = "CPU (scikit-learn)"

    def __init__(self, name, estimator, schema: TableSchema, target: str, task: str, background: pd.DataFrame,
                 held_out=None, seed: int = 0):
        labels = [str(c) for c in estimator.classes_] if task == "classification" else [target]
        super().__init__(name, labels, "cpu")
        self.estimator = estimator
        self.schema = schema
        self.target = target
        self.task = task
        self.kind = type(self.final).__name__
        self.held_out = held_out  # (X, y) frames not seen in training, or None
        if len(background) > BACKGROUND_ROWS:
            background = background.sample(n=BACKGROUND_ROWS, random_state=seed)
        self.background = schema.check(background).reset_index(drop=True)
        self.output_kind = self._output_kind()
        self.score_name, self.score = None, None
        if held_out is not None:
            try:
                self.score = float(estimator.score(*held_out))
                self.score_name = "accuracy" if task == "classification" else "R²"
            except Exception:  # noqa: BLE001 - e.g. the data's labels are not the model's: no score, still explainable
                self.score = None

    # --- structure ---------------------------------------------------------------------------------

    @property
    def feature_names(self) -> list[str]:
        return list(self.schema.features)

    @property
    def final(self):
        """The last step of a pipeline (the estimator itself otherwise)."""
        steps = getattr(self.estimator, "steps", None)
        return steps[-1][1] if steps else self.estimator

    def transform(self, frame: pd.DataFrame) -> np.ndarray:
        """The rows as the final estimator sees them (after the pipeline's preprocessing)."""
        steps = getattr(self.estimator, "steps", None)
        if steps and len(steps) > 1:
            out = self.estimator[:-1].transform(frame)
        else:
            out = frame.to_numpy()
        if hasattr(out, "toarray"):
            out = out.toarray()
        try:
            return np.asarray(out, dtype=np.float64)
        except (TypeError, ValueError):
            raise ExplainerError("The model's preprocessing does not give numbers, so it cannot be explained per column.") from None

    def _output_kind(self) -> str:
        if self.task != "classification":
            return "prediction"
        from sklearn.ensemble import GradientBoostingClassifier
        from sklearn.linear_model._base import LinearClassifierMixin

        final = self.final
        margin = isinstance(final, (LinearClassifierMixin, GradientBoostingClassifier)) or getattr(
            final, "decision_is_margin", False)  # a booster (models/sources/boosters.py): its raw margin
        if margin and hasattr(final, "decision_function"):
            return "log-odds"
        if hasattr(self.estimator, "predict_proba"):
            return "probability"
        raise ModelLoadError("This classifier gives neither probabilities nor a decision function; Lumen cannot explain it.")

    # --- outputs -----------------------------------------------------------------------------------

    def _raw_output(self, frame: pd.DataFrame) -> np.ndarray:
        if self.output_kind == "prediction":
            return np.asarray(self.estimator.predict(frame), dtype=np.float64).reshape(-1, 1)
        if self.output_kind == "probability":
            return np.asarray(self.estimator.predict_proba(frame), dtype=np.float64)
        d = np.asarray(self.estimator.decision_function(frame), dtype=np.float64)
        return np.stack([-d, d], axis=1) if d.ndim == 1 else d

    def output(self, rows) -> np.ndarray:
        """The explained output (see the module docstring), (n_rows, n_outputs) float64; counts the rows."""
        frame = self.rows(rows)
        self.count_forward(len(frame))
        return self._raw_output(frame)

    def forward(self, batch: torch.Tensor) -> torch.Tensor:
        """Outputs for encoded rows (the engine's call); every row counts as one forward pass."""
        with self.lock:
            self.count_forward(batch.shape[0])
        frame = self.schema.decode(batch.cpu().numpy())
        return torch.from_numpy(self._raw_output(frame))

    def probe_passes(self, n_tokens=None):
        """How the cost probe (explainers/core/cost.py) times this model: (the rows one call takes in a long run,
        ``forward(b)``, ``forward_backward(b)``), each of the last two giving a function that predicts ``b``
        background rows once (a scikit-learn model has no backward: the same call). Not counted."""
        rows = self.background

        def forward(b):
            frame = rows.iloc[np.arange(b) % len(rows)]
            return lambda: self._raw_output(frame)

        return max(1, len(rows)), forward, forward

    def rows(self, x) -> pd.DataFrame:
        """A row (Series, dict, 1-row frame) or a frame as the model's feature columns; missing ones named."""
        if isinstance(x, pd.Series):
            x = x.to_frame().T
        elif isinstance(x, dict):
            x = pd.DataFrame([x])
        elif isinstance(x, np.ndarray):
            x = self.schema.decode(x)
        if not isinstance(x, pd.DataFrame):
            raise InputError("A table row must be a pandas Series, a dict of column values, or a data frame.")
        if x.empty:
            raise InputError("No rows to explain.")
        return self.schema.check(x).reset_index(drop=True)

    def predict(self, row):
        """``Prediction`` (class probabilities) for a classifier, ``ValuePrediction`` for a regressor; one row."""
        frame = self.rows(row)
        if len(frame) != 1:
            raise InputError(f"predict takes one row; got {len(frame)}.")
        self.count_forward(1)
        if self.task != "classification":
            return ValuePrediction(float(np.ravel(self.estimator.predict(frame))[0]), self.labels)
        if hasattr(self.estimator, "predict_proba"):
            probs = np.asarray(self.estimator.predict_proba(frame), dtype=np.float64)[0]
        else:
            d = self._raw_output(frame)[0]
            probs = np.exp(d - d.max()) / np.exp(d - d.max()).sum()
        return Prediction(probs=probs.astype(np.float32), labels=self.labels)

    def predicted_classes(self, rows) -> np.ndarray:
        """Index of the predicted class of each row (0 for a regressor)."""
        frame = self.rows(rows)
        if self.task != "classification":
            return np.zeros(len(frame), dtype=int)
        lookup = {c: i for i, c in enumerate(self.labels)}
        return np.array([lookup[str(c)] for c in self.estimator.predict(frame)])

    def top_class(self, row) -> int:
        """The row's predicted class (0 for a regressor): what ``class_index(None, row)`` gives."""
        return int(self.predicted_classes(row)[0])

    def actual_vs_predicted(self, frame: pd.DataFrame, y) -> pd.DataFrame:
        """Every row's true target beside the model's prediction, indexed like ``frame`` (row numbers); counts the
        rows. Classifiers: "actual", "predicted", "probability" (of the predicted class), "p(actual)" (the
        probability given the true class; NaN for a class the model does not know) and "correct"; regressors:
        "actual", "predicted" and "error" (predicted − actual). "held out" (for a model trained here): the row
        was not trained on."""
        rows = self.rows(frame)
        self.count_forward(len(rows))
        trained = getattr(self, "train_index", None)  # known for models trained here
        y = pd.Series(np.asarray(y), index=frame.index)
        out = pd.DataFrame(index=frame.index)
        if self.task != "classification":
            predicted = np.asarray(self.estimator.predict(rows), dtype=np.float64)
            out["actual"] = pd.to_numeric(y, errors="coerce").to_numpy(float)
            out["predicted"] = predicted
            out["error"] = predicted - out["actual"].to_numpy()
        else:
            out["actual"] = y.map(str).to_numpy()
            lookup = {c: i for i, c in enumerate(self.labels)}
            if hasattr(self.estimator, "predict_proba"):
                probs = np.asarray(self.estimator.predict_proba(rows), dtype=np.float64)
            else:
                d = self._raw_output(rows)
                e = np.exp(d - d.max(axis=1, keepdims=True))
                probs = e / e.sum(axis=1, keepdims=True)
            top = probs.argmax(axis=1)
            out["predicted"] = [self.labels[i] for i in top]
            out["probability"] = probs[np.arange(len(top)), top]
            truth = np.array([lookup.get(v, -1) for v in out["actual"]])
            out["p(actual)"] = np.where(truth >= 0, probs[np.arange(len(top)), np.maximum(truth, 0)], np.nan)
            out["correct"] = out["actual"].to_numpy() == out["predicted"].to_numpy()
        if trained is not None:
            trained = set(trained)
            out["held out"] = [i not in trained for i in frame.index]
        return out

    def score_frame(self, frame: pd.DataFrame, y) -> float:
        """How well the model fits rows with their true targets; counts the rows.

        Classifiers with probabilities: the negative mean log-loss (smooth, so a change that
        only shakes the model's confidence still shows); other classifiers: accuracy;
        regressors: R².
        """
        frame = self.rows(frame)
        self.count_forward(len(frame))
        if self.task == "classification" and hasattr(self.estimator, "predict_proba"):
            from sklearn.metrics import log_loss

            truth = pd.Series(y).astype(type(self.estimator.classes_[0]) if len(self.estimator.classes_) else str)
            return -float(log_loss(truth, self.estimator.predict_proba(frame), labels=self.estimator.classes_))
        return float(self.estimator.score(frame, y))


# --- loading -----------------------------------------------------------------------------------------


def load_tabular(name: str, trusted=None, data=None, target=None) -> TabularModel:
    """``tabular:DATASET:KIND`` (trained now), ``skops:PATH`` or ``xgboost:``/``lightgbm:``/``catboost:PATH`` (with
    ``data``: a Dataset, a bundled name, or a DataFrame whose target is ``target`` or else its last column)."""
    source, _, rest = name.partition(":")
    if source in BOOSTERS:
        from models.sources.boosters import load_booster

        if data is None:
            raise ModelLoadError(f"A {source} model file needs data to explain: pass data= (a bundled dataset name, a "
                                 "Dataset, or a DataFrame with its target column).")
        estimator, features, dataset, y = load_booster(source, rest, table_data(data, target))
        schema = TableSchema.from_frame(features)
        model = TabularModel(f"{source}:{Path(rest).name}", estimator, schema, dataset.target, dataset.task, features,
                             held_out=(schema.check(features), y))
        model.kind = source
        if model.score_name:
            model.score_name += " on the given data"
        return model
    if source == "tabular":
        dataset, _, kind = rest.partition(":")
        return train_model(load_dataset(dataset), kind or "random-forest")
    if source == "skops":
        if data is None:
            raise ModelLoadError("A skops model needs data to explain: pass data= (a Dataset or a bundled dataset name).")
        return load_skops(rest, table_data(data, target), trusted=trusted)
    raise ModelLoadError(f"Unknown tabular model '{name}'.")


def table_data(data, target: str | None = None) -> Dataset:
    """The data a loaded model is explained on: a ``Dataset``, a bundled dataset's name, or a DataFrame with the
    target column named by ``target`` (else its last column)."""
    if isinstance(data, Dataset):
        return data
    if isinstance(data, str):
        return load_dataset(data)
    if isinstance(data, pd.DataFrame):
        from models.inputs.tables import prepare_target

        if data.shape[1] < 2:
            raise InputError("The data needs a target column and at least one feature column.")
        return prepare_target(data, target if target is not None else data.columns[-1], name="data")
    raise InputError(f"data must be a bundled dataset name, a Dataset or a pandas DataFrame; got {type(data).__name__}.")


def _refuse_pickle(path: Path, data: bytes) -> None:
    if path.suffix.lower() in PICKLE_SUFFIXES or data[:1] == b"\x80" or not zipfile.is_zipfile(path):
        refuse_pickle()


def untrusted_types(path) -> list[str]:
    """Types in a skops file that skops does not trust by default: show them before loading."""
    import skops.io as sio

    path = Path(path)
    if not path.exists():
        raise ModelLoadError(f"No model file at {path.name}.")
    check_size(path)
    _refuse_pickle(path, path.read_bytes()[:4])
    try:
        return list(sio.get_untrusted_types(file=path))
    except Exception as e:  # noqa: BLE001 - a broken archive becomes a sentence
        raise ModelLoadError(f"The file is not a readable skops model ({type(e).__name__}).") from None


def load_skops(path, dataset: Dataset, trusted=None) -> TabularModel:
    """A scikit-learn model saved with skops, explained on ``dataset``.

    Loads only when every untrusted type is in ``trusted`` (the person accepted them);
    the model's expected columns must be in the data (missing ones are named).
    """
    import skops.io as sio

    path = Path(path)
    pending = sorted(set(untrusted_types(path)) - set(trusted or []))
    if pending:
        raise ModelLoadError(
            f"The model file contains types that are not trusted by default: {', '.join(pending)}. "
            "Accept them only if you trust where the file comes from."
        )
    try:
        estimator = sio.load(path, trusted=list(trusted or []))
    except Exception as e:  # noqa: BLE001
        raise ModelLoadError(f"The skops file could not be loaded ({reason(e)}).") from None
    if not hasattr(estimator, "predict"):
        raise ModelLoadError(f"The file holds a {type(estimator).__name__}, not a scikit-learn model with predict().")
    features = dataset.features
    expected = getattr(estimator, "feature_names_in_", None)
    if expected is not None:
        expected = [str(c) for c in expected]
        missing = [c for c in expected if c not in features.columns]
        if missing:
            shown = ", ".join(f"'{c}'" for c in missing[:10]) + (f" and {len(missing) - 10} more" if len(missing) > 10 else "")
            raise ModelLoadError(f"The model expects columns the data does not have: {shown}.")
        features = features[expected]
    elif getattr(estimator, "n_features_in_", features.shape[1]) != features.shape[1]:
        raise ModelLoadError(
            f"The model takes {estimator.n_features_in_} columns but the data has {features.shape[1]} feature columns."
        )
    is_classifier = hasattr(estimator, "classes_")
    if (dataset.task == "classification") != is_classifier:
        dataset = Dataset(dataset.name, dataset.frame, dataset.target,
                          "classification" if is_classifier else "regression", dataset.notes)
    schema = TableSchema.from_frame(features)
    y = dataset.frame[dataset.target]
    if is_classifier:
        y = y.astype(str) if all(isinstance(c, str) for c in estimator.classes_) else y
    model = TabularModel(f"skops:{path.name}", estimator, schema, dataset.target, dataset.task, features,
                         held_out=(schema.check(features), y))
    if model.score_name:
        model.score_name += " on the given data"
    return model
