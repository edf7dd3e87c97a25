"""Gradient-boosted trees from XGBoost, LightGBM and CatBoost: trained here, or loaded from their native files.

    m = load_model("tabular:breast_cancer:xgboost")                 # trained now (also lightgbm, catboost)
    m = load_model("xgboost:model.json", data="breast_cancer")      # .json/.ubj; lightgbm: .txt; catboost: .cbm
    m = load_model("lightgbm:model.txt", data=frame, target="y")    # a DataFrame: the target column last or named

Either way the model is a ``TabularModel`` whose final estimator is a ``BoostedTrees``: the library's model behind
scikit-learn's interface. A classifier's explained output is its **raw margin** (``output_kind`` "log-odds": the
sum of the trees' leaves, which the sigmoid or softmax turns into probabilities; for two classes column 1 is the
margin and column 0 its negative); a regressor's is its prediction (identity link only). TreeSHAP decomposes
exactly that: base value + sum of the SHAP values = the raw output.

**Files.** A model file is recognised by its suffix *and* its content (XGBoost JSON or UBJSON, LightGBM's text
format, CatBoost's ``CBM1`` header); pickles and joblib files are refused whatever their name, never opened. A
file is first read in a child process (``_probe``): the libraries' native readers can abort or crash on a damaged
file, and that must not take the server down. The
feature names (and classes, where the file records them) come from the file; otherwise the data's columns are
taken in order and its target's values, sorted, as the classes (also when the file's classes are just the codes
0..K-1 and the data names them). A count or name mismatch is one sentence.
"""

from __future__ import annotations

import json
import re
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator
from sklearn.utils.metaestimators import available_if

from models.errors import ModelLoadError, reason
from models.inputs.limits import check_size
from models.inputs.tables import Dataset
from models.sources.pickles import looks_pickled, refuse_pickle

LIBRARIES = {"xgboost": "XGBoost", "lightgbm": "LightGBM", "catboost": "CatBoost"}
SUFFIXES = {"xgboost": (".json", ".ubj"), "lightgbm": (".txt",), "catboost": (".cbm",)}
TREES, DEPTH, LEARNING_RATE = 100, 4, 0.1  # what training here uses (every library alike)

# Objectives whose raw output is the margin a sigmoid/softmax turns into probabilities, or a regression prediction
# as is (identity link): TreeSHAP on the raw output then explains what the page states.
_CLASSIFY = {
    "xgboost": {"binary:logistic", "binary:logitraw", "multi:softprob", "multi:softmax"},
    "lightgbm": {"binary", "multiclass"},
    "catboost": {"Logloss", "CrossEntropy", "MultiClass"},
}
_REGRESS = {
    "xgboost": {"reg:squarederror", "reg:linear", "reg:absoluteerror", "reg:pseudohubererror"},
    "lightgbm": {"regression", "regression_l1", "huber", "fair", "quantile"},
    "catboost": {"RMSE", "MAE", "Quantile", "Huber", "Lq"},
}
def _sigmoid(d):
    return 1.0 / (1.0 + np.exp(-d))


def _softmax(d):
    e = np.exp(d - d.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


class BoostedTrees(BaseEstimator):
    decision_is_margin = True  # decision_function is the raw margin (log-odds): TabularModel explains it
    """An XGBoost, LightGBM or CatBoost model behind scikit-learn's interface (``fit``, ``predict``,
    ``predict_proba``, ``decision_function`` = the raw margin, ``score``), taking rows of numbers.

    ``tree_model_`` is what shap's ``TreeExplainer`` reads (an ``xgboost.Booster``, a ``lightgbm.Booster``, a
    ``catboost.CatBoost``). Classifiers have ``classes_`` (regressors none, as in scikit-learn); training encodes
    the labels as 0..K-1 for the library and keeps the names here.
    """

    def __init__(self, library: str = "xgboost", task: str = "classification", n_estimators: int = TREES,
                 seed: int = 0):
        self.library = library
        self.task = task
        self.n_estimators = n_estimators
        self.seed = seed

    # --- training ----------------------------------------------------------------------------------------

    def _library_estimator(self, n_classes: int):
        classify = self.task == "classification"
        if self.library == "xgboost":
            import xgboost as xgb

            kind = xgb.XGBClassifier if classify else xgb.XGBRegressor
            return kind(n_estimators=self.n_estimators, max_depth=DEPTH, learning_rate=LEARNING_RATE, n_jobs=1,
                        random_state=self.seed, tree_method="hist", verbosity=0)
        if self.library == "lightgbm":
            import lightgbm as lgb

            kind = lgb.LGBMClassifier if classify else lgb.LGBMRegressor
            return kind(n_estimators=self.n_estimators, num_leaves=2 ** DEPTH - 1, learning_rate=LEARNING_RATE,
                        n_jobs=1, random_state=self.seed, deterministic=True, force_row_wise=True, verbose=-1)
        if self.library == "catboost":
            import catboost as cb

            kind = cb.CatBoostClassifier if classify else cb.CatBoostRegressor
            extra = {"loss_function": "MultiClass"} if classify and n_classes > 2 else {}
            return kind(iterations=self.n_estimators, depth=DEPTH, learning_rate=LEARNING_RATE, thread_count=1,
                        random_seed=self.seed, verbose=False, allow_writing_files=False, **extra)
        raise ModelLoadError(f"Unknown boosting library '{self.library}'. Choose one of: {', '.join(LIBRARIES)}.")

    def fit(self, X, y):
        X = _numbers(X)
        y = np.asarray(y)
        if self.task == "classification":
            self.classes_, codes = np.unique(y, return_inverse=True)
            if len(self.classes_) < 2:
                raise ModelLoadError("The training rows hold only one class; a classifier needs at least two.")
            target = codes
        else:
            target = y.astype(np.float64)
        estimator = self._library_estimator(len(getattr(self, "classes_", ())))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            estimator.fit(X, target)
        self.tree_model_ = {"xgboost": lambda: estimator.get_booster(), "lightgbm": lambda: estimator.booster_,
                            "catboost": lambda: estimator}[self.library]()
        self.n_features_in_ = X.shape[1]
        return self

    @classmethod
    def from_file(cls, library: str, tree_model, task: str, classes, n_features: int) -> "BoostedTrees":
        """A model loaded from its native file (see ``load_booster``)."""
        out = cls(library=library, task=task)
        out.tree_model_ = tree_model
        out.n_features_in_ = n_features
        if task == "classification":
            out.classes_ = np.asarray(classes, dtype=object)
        return out

    # --- outputs -----------------------------------------------------------------------------------------

    def raw(self, X) -> np.ndarray:
        """The raw output: (n,) for two classes (class 1's margin) and regression, (n, K) for K > 2 classes."""
        X = _numbers(X)
        m = self.tree_model_
        if self.library == "xgboost":
            out = m.inplace_predict(X, predict_type="margin")
        elif self.library == "lightgbm":
            out = m.predict(X, raw_score=True)
        else:
            out = m.predict(X, prediction_type="RawFormulaVal")
        out = np.asarray(out, dtype=np.float64)
        return out[:, 0] if out.ndim == 2 and out.shape[1] == 1 else out

    def _classifies(self) -> bool:
        return self.task == "classification"

    @available_if(_classifies)
    def decision_function(self, X) -> np.ndarray:
        return self.raw(X)

    @available_if(_classifies)
    def predict_proba(self, X) -> np.ndarray:
        d = self.raw(X)
        if d.ndim == 1:
            if self.library == "lightgbm":  # its sigmoid may be scaled (the file's sigmoid parameter)
                p = np.asarray(self.tree_model_.predict(_numbers(X)), dtype=np.float64)
            else:
                p = _sigmoid(d)
            return np.stack([1 - p, p], axis=1)
        return _softmax(d)

    def predict(self, X) -> np.ndarray:
        if self.task == "classification":
            return self.classes_[self.predict_proba(X).argmax(axis=1)]
        return self.raw(X)

    def score(self, X, y) -> float:
        if self.task == "classification":
            return float(np.mean(self.predict(X).astype(str) == np.asarray(y).astype(str)))
        from sklearn.metrics import r2_score

        return float(r2_score(np.asarray(y, dtype=np.float64), self.predict(X)))


def _numbers(X) -> np.ndarray:
    if hasattr(X, "to_numpy"):
        X = X.to_numpy()
    return np.ascontiguousarray(X, dtype=np.float64)


# --- native files ---------------------------------------------------------------------------------------------


def file_library(path) -> str | None:
    """Which library's native format the file's content is (None: none of them); pickles raise the refusal."""
    path = Path(path)
    with open(path, "rb") as f:
        head = f.read(64)
    if looks_pickled(path, head):
        refuse_pickle()
    text = head.lstrip()
    if head.startswith(b"CBM1"):
        return "catboost"
    if head.startswith(b"tree\n") or head.startswith(b"tree\r\n"):
        return "lightgbm"
    if text.startswith(b'{"learner"') or text.startswith(b"{L\x00\x00\x00\x00\x00\x00\x00\x07learner") or (
            text.startswith(b"{") and b"learner" in head[:40]):
        return "xgboost"
    return None


UPLOAD_TYPES = tuple(sorted({suffix.lstrip(".") for suffixes in SUFFIXES.values() for suffix in suffixes}))


def library_of(name: str) -> str:
    """The library whose native file ``name`` is named like (.json/.ubj XGBoost, .txt LightGBM, .cbm CatBoost); a
    pickle's name gets the refusal, any other a sentence. The content is checked when the file is loaded."""
    from models.sources.pickles import PICKLE_SUFFIXES

    suffix = Path(name).suffix.lower()
    if suffix in PICKLE_SUFFIXES:
        refuse_pickle()
    for library, suffixes in SUFFIXES.items():
        if suffix in suffixes:
            return library
    raise ModelLoadError(f"{Path(name).name} is not named like a booster's model file: XGBoost .json or .ubj, "
                         "LightGBM .txt, CatBoost .cbm.")


def raw_output_note(model) -> str | None:
    """How a booster's SHAP values add up, for the page (None for other models)."""
    if not isinstance(getattr(model, "final", None), BoostedTrees):
        return None
    if model.task == "classification":
        squash = "sigmoid" if len(model.labels) == 2 else "softmax"
        return (f"{LIBRARIES[model.final.library]} scores add up to the model's log-odds margin: base value + Σ SHAP "
                f"= the raw output (the trees' sum before the {squash} that makes it a probability).")
    return (f"{LIBRARIES[model.final.library]} scores add up to the model's prediction: base value + Σ SHAP = the "
            "raw output.")


# Run in a child process before the file is read here: a damaged file can make the libraries' native code abort
# or crash (LightGBM's parser terminates on some; XGBoost's UBJSON reader can crash), which would take the whole
# server down. The child loads the file, predicts a row and explains it with shap, as Lumen will.
_PROBE = r"""
import sys, warnings
import numpy as np
warnings.simplefilter("ignore")
library, path = sys.argv[1], sys.argv[2]
if library == "xgboost":
    import xgboost as xgb
    model = xgb.Booster(model_file=path)
    model.feature_names = None
    model.feature_types = None
    n = model.num_features()
    model.inplace_predict(np.zeros((1, n)), predict_type="margin")
elif library == "lightgbm":
    import lightgbm as lgb
    model = lgb.Booster(model_file=path)
    n = model.num_feature()
    model.predict(np.zeros((1, n)), raw_score=True)
else:
    import catboost as cb
    model = cb.CatBoost()
    model.load_model(path)
    n = len(model.feature_names_ or [])
    if not model.get_cat_feature_indices():
        model.predict(np.zeros((1, n)), prediction_type="RawFormulaVal")
"""
PROBE_SECONDS = 120


def _probe(library: str, path: Path) -> None:
    """Read the file in a child process first (``_PROBE``); a child that crashes or aborts becomes a sentence."""
    import subprocess
    import sys

    try:
        done = subprocess.run([sys.executable, "-c", _PROBE, library, str(path)], capture_output=True,
                              timeout=PROBE_SECONDS, stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired:
        raise ModelLoadError(f"Reading the {LIBRARIES[library]} file {path.name} took over {PROBE_SECONDS} s; "
                             "Lumen gave up on it.") from None
    if done.returncode < 0:  # killed by a signal: the library crashed on the file
        raise ModelLoadError(f"The {LIBRARIES[library]} file {path.name} is damaged: the library crashed reading "
                             "it.")


def _read(library: str, path: Path):
    """The library's model object from its file, and (objective, n_outputs, feature names or None, classes or None)."""
    if library == "xgboost":
        import xgboost as xgb

        booster = xgb.Booster(model_file=str(path))
        config = json.loads(booster.save_config())["learner"]
        objective = config["objective"]["name"]
        n_outputs = int(config["learner_model_param"].get("num_class", "0") or 0)
        names = booster.feature_names
        n_features = booster.num_features()
        classes = None
        try:
            meta = json.loads(booster.attributes().get("scikit_learn") or "{}")
            classes = meta.get("classes_")
        except ValueError:
            pass
        booster.feature_names = None  # the columns are matched here; shap then passes plain arrays
        booster.feature_types = None
        return booster, objective, n_outputs, names, n_features, classes
    if library == "lightgbm":
        import lightgbm as lgb

        booster = lgb.Booster(model_file=str(path))
        dump = booster.dump_model(num_iteration=1)
        objective = str(dump.get("objective", "")).split(" ")[0]
        names = list(booster.feature_name())
        unnamed = all(n == f"Column_{i}" for i, n in enumerate(names))
        return booster, objective, int(dump.get("num_class", 1)), None if unnamed else names, booster.num_feature(), None
    import catboost as cb

    model = cb.CatBoost()
    model.load_model(str(path))
    params = model.get_all_params()
    objective = str(params.get("loss_function", "")).split(":")[0]
    if model.get_cat_feature_indices():
        raise ModelLoadError("The CatBoost model has categorical features; Lumen loads CatBoost models over "
                             "numeric columns only (train it here instead: its pipeline one-hot encodes categories).")
    names = list(model.feature_names_ or [])
    unnamed = all(n == str(i) for i, n in enumerate(names))
    classes = getattr(model, "classes_", None)
    classes = None if classes is None or not len(classes) else [str(c) for c in classes]
    n_outputs = len(classes) if classes else (2 if objective in ("Logloss", "CrossEntropy") else 1)
    return model, objective, n_outputs, None if unnamed else names, len(names), classes


def _shown(names, limit: int = 8) -> str:
    names = list(names)
    text = ", ".join(f"'{n}'" for n in names[:limit])
    return text + (f" and {len(names) - limit} more" if len(names) > limit else "")


def load_booster(library: str, path, dataset: Dataset):
    """What a ``TabularModel`` over ``dataset`` needs from an XGBoost (.json/.ubj), LightGBM (.txt) or CatBoost
    (.cbm) file: (the ``BoostedTrees``, the feature columns in the model's order, the dataset with the model's task,
    the target as the model's labels); every problem is one ``ModelLoadError`` sentence. models/adapters/tabular.py
    (``load_tabular``) makes the model."""
    title = LIBRARIES.get(library)
    if title is None:
        raise ModelLoadError(f"Unknown boosting library '{library}'. Choose one of: {', '.join(LIBRARIES)}.")
    path = Path(path)
    if not path.is_file():
        raise ModelLoadError(f"No model file at {path.name}.")
    check_size(path)
    found = file_library(path)  # refuses pickles first, whatever the suffix
    if path.suffix.lower() not in SUFFIXES[library]:
        raise ModelLoadError(f"{path.name} is not named like a {title} model file ({' or '.join(SUFFIXES[library])}).")
    if found is None:
        raise ModelLoadError(f"{path.name} is not a {title} model file (its content is none of the formats Lumen reads).")
    if found != library:
        raise ModelLoadError(f"{path.name} holds a {LIBRARIES[found]} model, not a {title} one: load it as {found}:PATH.")
    _probe(library, path)
    try:
        tree_model, objective, n_outputs, names, n_features, classes = _read(library, path)
    except ModelLoadError:
        raise
    except Exception as e:  # noqa: BLE001 - a broken file becomes a sentence
        raise ModelLoadError(f"The {title} file {path.name} could not be read ({reason(e)}).") from None
    if objective in _CLASSIFY[library]:
        task = "classification"
    elif objective in _REGRESS[library]:
        task = "regression"
    else:
        known = sorted(_CLASSIFY[library] | _REGRESS[library])
        raise ModelLoadError(f"The {title} model's objective is '{objective}'; Lumen explains the raw output of "
                             f"these: {', '.join(known)}.")

    features = dataset.features
    if names is not None:
        if library == "lightgbm":  # LightGBM writes whitespace in feature names as underscores
            spelled = {re.sub(r"\s", "_", str(c)): c for c in features.columns}
            names = [n if n in features.columns else spelled.get(n, n) for n in names]
        missing = [n for n in names if n not in features.columns]
        if missing:
            raise ModelLoadError(
                f"The model file's {len(names)} features are not this data's: {_shown(missing)} "
                f"{'is' if len(missing) == 1 else 'are'} not among the data's {features.shape[1]} feature columns.")
        features = features[names]
    elif n_features != features.shape[1]:
        raise ModelLoadError(
            f"The model file takes {n_features} features but the data has {features.shape[1]} feature columns "
            "(the file records no feature names, so the columns are matched in order).")
    text = [c for c in features.columns if not pd.api.types.is_numeric_dtype(features[c])]
    if text:
        raise ModelLoadError(f"A {title} model file takes numbers, but the data's column{'s' if len(text) > 1 else ''} "
                             f"{_shown(text)} hold{'' if len(text) > 1 else 's'} text.")

    y = dataset.frame[dataset.target]
    if task == "classification":
        k = max(2, n_outputs)
        y = y.map(lambda v: str(int(v)) if isinstance(v, float) and float(v).is_integer() else str(v))
        values = sorted(y.unique())
        if classes is not None and [str(c) for c in classes] == [str(i) for i in range(k)] and not set(values) <= {
                str(i) for i in range(k)}:
            classes = None  # codes 0..K-1 (a model trained on encoded labels): the data's names, sorted, as for XGBoost
        if classes is not None:
            classes = [str(c) for c in classes]
            if len(classes) != k:
                raise ModelLoadError(f"The model file names {len(classes)} classes but has {k} outputs.")
            unknown = [v for v in values if v not in classes]
            if unknown:
                raise ModelLoadError(f"The data's target '{dataset.target}' holds {_shown(unknown)}, which the model "
                                     f"file's classes ({_shown(classes)}) do not include.")
        else:
            if len(values) != k:
                raise ModelLoadError(
                    f"The model file has {k} classes but the data's target '{dataset.target}' has {len(values)} "
                    "distinct values (the file records no class names, so the sorted values are taken as the classes).")
            classes = values
    elif dataset.task == "classification" and not pd.api.types.is_numeric_dtype(y):
        raise ModelLoadError(f"The {title} model is a regressor, but the data's target '{dataset.target}' holds text.")
    if dataset.task != task:
        dataset = Dataset(dataset.name, dataset.frame, dataset.target, task, dataset.notes)
    estimator = BoostedTrees.from_file(library, tree_model, task, classes, features.shape[1])
    return estimator, features, dataset, (y if task == "classification" else y.astype(float))
