"""SHAP for tables, through the shap library, plus scikit-learn's permutation importance.

**Input.** ``explain(model, x, method)`` takes a row (pandas Series, dict, or a 1-row frame)
for a *local* explanation, or a frame of several rows for a *global* one
(``explain_global`` samples the rows for you). The method checks the columns against the
model's features (missing ones are named).

**Output explained.** ``model.output`` for the target class (see models/adapters/tabular.py: the
log-odds of logistic regression and gradient boosting, the probability of random forests
and other classifiers, the prediction of regressors). Every method decomposes that same
output, so their values are comparable, and ``base_value + scores.sum()`` equals it for the
row: to float rounding for ``shap-tree``, ``shap-linear`` and ``shap-permutation`` (each
permutation's contributions telescope), and for ``shap-kernel`` (its weighted regression is
constrained to the sum) within ``ADDITIVITY_TOLERANCE`` (the engine hands shap float32 outputs).

**Local** (one row): ``scores`` (n_features,) are the SHAP values, ``base_value`` the
explainer's expected output, ``extras["output"]`` the model output for the row.
**Global** (several rows): ``scores`` are mean |SHAP| per feature; ``extras`` hold
``shap_values`` (n_rows, n_features), ``rows`` (the rows encoded: categories as codes, see
``TableSchema``), ``output`` (n_rows,) and ``categories`` (code -> name per categorical column).

One-hot columns made by the model's pipeline are summed back into their source column
(SHAP values add up), so every score belongs to a column of the person's table.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import torch

from explainers.core.explain import explain
from explainers.core import engine
from explainers.core.engine import batched_logits, expect
from explainers.core.budget import DOUBLE
from explainers.core.registry import SEED, get_method, register
from explainers.core.shap_budget import numpy_seed
from models.errors import ExplainerError, InputError
from models.per_model import PerModel

ROWS_PER_BATCH = 2048  # rows per model call from the engine (scikit-learn is fastest on big batches)
ADDITIVITY_TOLERANCE = 1e-4  # kernel/permutation, relative to max(1, |output|): float32 model outputs in the engine
MAX_EXACT_BACKGROUND = 100  # background rows of the interventional linear explainer
EXACT_CHUNK = 256  # rows per call of the exact explainers, with progress and a cancel check in between
_GROUPS = PerModel()  # model -> which of the person's columns each transformed column comes from (``groups``)
_KMEANS = PerModel()  # (model, k) -> shap's k-means summary of the background (``_kmeans_background``)
TREE_MODELS = ("RandomForest", "ExtraTrees", "GradientBoosting", "DecisionTree", "HistGradientBoosting",
               "BoostedTrees")  # the last: XGBoost, LightGBM, CatBoost (models/sources/boosters.py)


# --- which model, which explainer ---------------------------------------------------------------------


def is_tree(model) -> bool:
    name = type(model.final).__name__
    if not name.startswith(TREE_MODELS):
        return False
    return not (name == "GradientBoostingClassifier" and len(model.labels) > 2)  # shap: binary only


def tree_model(model):
    """What shap's ``TreeExplainer`` reads: the final estimator, or a booster's library model."""
    final = model.final
    return getattr(final, "tree_model_", final)


def is_linear(model) -> bool:
    final = model.final
    return hasattr(final, "coef_") and hasattr(final, "intercept_") and model.output_kind != "probability"


def groups(model) -> np.ndarray:
    """(n_model_columns, n_features) 0/1: which of the person's columns each column the final estimator sees comes from.

    Found by probing the pipeline's preprocessing: change one column of background rows
    and see which transformed columns move. Probed once per model (kept in ``_GROUPS``, not on the model).
    """
    return _GROUPS.get(model, "groups", lambda: _probe_groups(model))


def _probe_groups(model) -> np.ndarray:
    base = model.background.iloc[:200].reset_index(drop=True)
    t0 = model.transform(base)
    owner = np.zeros((t0.shape[1], len(model.feature_names)), dtype=np.float64)
    for j, column in enumerate(model.feature_names):
        changed = base.copy()
        if column in model.schema.categories:
            names = model.schema.categories[column]
            codes = model.schema.encode(base)[:, j]
            shifted = (np.nan_to_num(codes, nan=-1) + 1 + np.arange(len(base))) % max(len(names), 1)
            changed[column] = pd.Series([names[int(c)] for c in shifted], dtype=object) if names else np.nan
        else:
            values = base[column].to_numpy(float)
            changed[column] = np.where(np.isnan(values), 0.0, values + 1.0 + np.abs(values))
        owner[:, j] = np.any(np.abs(model.transform(changed) - t0) > 0, axis=0)
    if np.any(owner.sum(axis=1) > 1):
        raise ExplainerError(
            "The model's preprocessing mixes several columns into one, so exact SHAP cannot be split per column; "
            "use shap-permutation or shap-kernel."
        )
    return owner


def default_explainer(model) -> tuple[str, str]:
    """The method to offer first for ``model`` (the modality spec's default that applies to it), and why."""
    from explainers.core.registry import default_method

    method = default_method(model)
    if method == "shap-tree":
        return method, "a tree ensemble: TreeSHAP gives exact Shapley values fast, without sampling."
    if method == "shap-linear":
        return method, (
            f"a linear model: its SHAP values have a closed form, coef × (x − mean) on the {model.output_kind} scale."
        )
    return method, (
        "no exact SHAP algorithm fits this model, so SHAP values are estimated by permuting features "
        "(model-agnostic, exactly additive; fewer model evaluations than Kernel SHAP)."
    )


def background_note(method: str, model, params: dict) -> str:
    """One sentence on the background rows ``method`` with ``params`` reads (the tabular page shows it)."""
    spec = get_method(method, "tabular")
    size = params.get("background", spec.defaults.get("background"))
    source = f"{min(size, len(model.background))} rows sampled from" if size else "the trees' own"
    summary = f" (k-means summary of {size} centroids)" if method == "shap-kernel" else ""
    return f"Background: {source} {len(model.background):,} training rows{summary}."


# --- helpers -----------------------------------------------------------------------------------------


def _in_chunks(frame: pd.DataFrame, explain_chunk) -> np.ndarray:
    """``explain_chunk(part) -> (rows, m)`` over chunks of ``EXACT_CHUNK`` rows, stacked; progress in rows."""
    parts = []
    for start in range(0, len(frame), EXACT_CHUNK):
        engine.report_progress(start, len(frame))
        parts.append(explain_chunk(frame.iloc[start:start + EXACT_CHUNK]))
    engine.report_progress(len(frame), len(frame))
    return np.concatenate(parts, axis=0)


def _target(model, frame: pd.DataFrame, target) -> int:
    if target is not None:
        return int(target)
    classes = model.predicted_classes(frame)
    return int(np.bincount(classes).argmax())  # one row: its predicted class; many: the most predicted one


def _engine_output(model, index: int):
    """shap's view of the model: encoded rows -> the target's output, through the one engine."""

    def f(rows: np.ndarray) -> np.ndarray:
        rows = np.ascontiguousarray(rows, dtype=np.float64)
        batch = torch.from_numpy(rows)
        out = batched_logits(model, len(rows), lambda i, j: batch[i:j], batch_size=ROWS_PER_BATCH)
        return out[:, index].double().numpy()

    return f


def _select(values, index: int, n_outputs: int) -> np.ndarray:
    """The target's values (n, m) from shap's output, which has one column for two-class margins."""
    values = np.asarray(values, dtype=np.float64)
    if values.ndim == 3:
        return values[:, :, index]
    return -values if n_outputs == 2 and index == 0 else values  # the margin explains class 1; class 0's is its negative


def _select_base(expected, index: int, n_outputs: int) -> float:
    expected = np.atleast_1d(np.asarray(expected, dtype=np.float64))
    if len(expected) > 1:
        return float(expected[index])
    return -float(expected[0]) if n_outputs == 2 and index == 0 else float(expected[0])


def _finish(model, frame, values, base, index, method, output=None):
    if output is None:
        output = model.output(frame)[:, index]
    fields = {"feature_names": model.feature_names, "base_value": float(base)}
    extras = {"output_kind": model.output_kind, "categories": dict(model.schema.categories)}
    if len(frame) == 1:
        scores = values[0]
        extras["output"] = float(output[0])
        extras["row"] = model.schema.encode(frame)[0]
    else:
        scores = np.abs(values).mean(axis=0)
        extras.update(shap_values=values.astype(np.float64), rows=model.schema.encode(frame),
                      output=np.asarray(output, dtype=np.float64))
    fields["extras"] = extras
    return np.asarray(scores, dtype=np.float32), index, fields


def _encoded_background(model, size: int, seed: int) -> np.ndarray:
    bg = model.background
    if len(bg) > size:
        bg = bg.sample(n=size, random_state=seed)
    return model.schema.encode(bg)


def _positive(name, value) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ExplainerError(f"{name} must be a whole number of at least 1; got {value!r}.")
    return int(value)


# --- the explainers ----------------------------------------------------------------------------------


# Costs are for one explained row (a global run multiplies them by its rows): model rows evaluated.
def _rows_memory(model, n_rows: int, copies: int = 4) -> int:
    """The explained rows and their values, encoded and transformed (one-hot columns included)."""
    return copies * max(1, n_rows) * (len(model.feature_names) + 8) * DOUBLE * 4


def _tree_memory(params, model, n_rows=1, **_) -> int:
    """The rows and their values; with interactions, shap's (rows × columns × columns) matrices, about three copies."""
    if not params.get("interactions"):
        return _rows_memory(model, n_rows)
    width = max(len(model.feature_names), groups(model).shape[0])
    return _rows_memory(model, n_rows) + 3 * min(max(1, n_rows), EXACT_CHUNK) * width * width * DOUBLE * 2


@register("shap-tree", modality="tabular", family="shap", cost=lambda params, model=None, **sizes: (1, 0),
          defaults={"interactions": False}, signed=True, memory=_tree_memory, exclusive=False, requires=is_tree)
def shap_tree(model, frame, target, interactions=False):
    """TreeSHAP (Lundberg et al., Nature Machine Intelligence 2020): exact Shapley values of a tree ensemble.

    shap's ``TreeExplainer`` with path-dependent perturbation (the trees' own training
    cover stands in for the background): polynomial time, no sampling, exact additivity.
    The only model call is one evaluation per row of the output explained. XGBoost,
    LightGBM and CatBoost classifiers are explained in their raw margin (log-odds).

    ``interactions``: also the SHAP interaction values (Lundberg et al. 2020, the Shapley
    interaction index split evenly between each pair; the diagonal holds the main effects),
    whose rows add up to the SHAP values: ``extras["interactions"]`` is the row's
    (features × features) matrix, or over several rows the mean |interaction value| per
    pair (the rows' matrices in ``extras["interaction_values"]``).
    """
    import shap

    if not is_tree(model):
        raise ExplainerError(
            f"shap-tree needs a tree ensemble shap supports (random forest, binary gradient boosting, ...); "
            f"this model is a {type(model.final).__name__}."
        )
    frame = model.rows(frame)
    index = _target(model, frame, target)
    g = groups(model)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        explainer = shap.TreeExplainer(tree_model(model))
    n_outputs = len(model.labels)

    def chunk(part):
        raw = explainer.shap_values(model.transform(part), check_additivity=False)
        return _select(raw, index, n_outputs) @ g

    values = _in_chunks(frame, chunk)
    # read after explaining: for XGBoost, shap sets the expected value from the booster's own contributions (its
    # bias term) once it has computed them; before, it is shap's reading of the base score, which may differ
    expected = explainer.expected_value
    out = _finish(model, frame, values, _select_base(expected, index, n_outputs), index, "shap-tree")
    if interactions:
        pairs = _interactions(model, explainer, frame, index, values)
        out[2]["extras"]["interactions"] = pairs[0] if len(frame) == 1 else np.abs(pairs).mean(axis=0)
        if len(frame) > 1:
            out[2]["extras"]["interaction_values"] = pairs
    return out


def _interactions(model, explainer, frame, index: int, values: np.ndarray) -> np.ndarray:
    """(rows, features, features): the target's SHAP interaction values per row, one-hot columns summed into their
    source column on both sides; checked to add up (over the second feature) to ``values``, the SHAP values."""
    g = groups(model)
    n_outputs = len(model.labels)

    def chunk(part):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                raw = np.asarray(explainer.shap_interaction_values(model.transform(part)), dtype=np.float64)
            except Exception as e:  # noqa: BLE001 - shap supports interactions for fewer models than SHAP values
                raise ExplainerError(f"shap cannot compute TreeSHAP interaction values for this "
                                     f"{model.kind} model ({type(e).__name__}).") from None
        n, width = len(part), g.shape[0]
        if raw.ndim == 4 and raw.shape[:2] == (n_outputs, n) and raw.shape[2:] == (width, width):
            raw = raw[index]  # CatBoost: classes first
        elif raw.ndim == 4:
            raw = raw[..., index]  # classes last
        elif n_outputs == 2 and index == 0:
            raw = -raw  # the margin explains class 1; class 0's is its negative
        return np.einsum("ia,nab,bj->nij", g.T, raw, g)

    pairs = _in_chunks(frame, chunk)
    scale = np.maximum(1.0, np.abs(values).max(axis=1, keepdims=True))  # the libraries sum in float32
    if pairs.shape != (len(frame),) + (values.shape[1],) * 2 or np.any(
            np.abs(pairs.sum(axis=2) - values) > ADDITIVITY_TOLERANCE * scale):
        raise ExplainerError(f"shap's TreeSHAP interaction values for this {model.kind} model do not add up to its "
                             "SHAP values for the explained class, so Lumen does not show them.")
    return pairs


@register("shap-linear", modality="tabular", family="shap", cost=lambda params, model=None, **sizes: (1, 0),
          defaults={"background": MAX_EXACT_BACKGROUND, "seed": 0}, signed=True,
          limits={"background": (1, 10000), "seed": SEED},
          memory=lambda params, model, n_rows=1, **_: _rows_memory(model, n_rows + int(params["background"])), exclusive=False,
          requires=is_linear)
def shap_linear(model, frame, target, background=MAX_EXACT_BACKGROUND, seed=0):
    """Linear SHAP (Lundberg & Lee, NeurIPS 2017): φ_j = w_j (x_j − E[x_j]) for a linear model, exact.

    shap's ``LinearExplainer`` with an independent (interventional) masker over
    ``background`` training rows; w are the coefficients on the model's own scale (log-odds
    for logistic regression), E the background mean after the pipeline's preprocessing.
    """
    import shap

    if not is_linear(model):
        raise ExplainerError(f"shap-linear needs a linear model; this model is a {type(model.final).__name__}.")
    size = _positive("background", background)
    frame = model.rows(frame)
    index = _target(model, frame, target)
    g = groups(model)
    bg = model.background
    bg = bg.sample(n=size, random_state=seed) if len(bg) > size else bg
    masker = shap.maskers.Independent(model.transform(bg), max_samples=size)
    explainer = shap.LinearExplainer(model.final, masker)
    n_outputs, expected = len(model.labels), explainer.expected_value
    values = _in_chunks(frame, lambda part: _select(explainer.shap_values(model.transform(part)), index, n_outputs) @ g)
    return _finish(model, frame, values, _select_base(expected, index, n_outputs), index, "shap-linear")


def _kmeans_background(model, k: int):
    """shap's k-means summary of the background (``shap.kmeans``, seeded): computed once per model and size,
    since its ten k-means restarts cost more than explaining a row."""
    import shap

    def summarise():
        bg = model.schema.encode(model.background)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # an all-missing column has no median: it becomes 0 below
            bg = np.nan_to_num(np.where(np.isnan(bg), np.nanmedian(bg, axis=0), bg))  # k-means needs numbers
        return shap.kmeans(bg, min(k, len(np.unique(bg, axis=0))))

    return _KMEANS.get(model, k, summarise)


def _kernel_cost(params, model=None, **sizes):
    """Rows evaluated for one explained row: the centroids once, the row, each coalition × centroids, the output."""
    k = _positive("background", params["background"])
    n = _positive("nsamples", params["nsamples"])
    if model is not None and len(model.feature_names) <= 30:
        n = min(n, 2 ** len(model.feature_names) - 2)  # shap enumerates when there are fewer coalitions
    return k + 2 + n * k, 0


def _kernel_memory(params, model, n_rows=1, **_) -> int:
    """shap's synthetic data for one row: every coalition × every centroid, as rows of doubles (and its outputs)."""
    synthetic = int(params["nsamples"]) * int(params["background"])
    return 3 * synthetic * (len(model.feature_names) + 2) * DOUBLE + _rows_memory(model, n_rows)


@register("shap-kernel", modality="tabular", family="shap", cost=_kernel_cost,
          defaults={"background": 20, "nsamples": 512, "seed": 0}, signed=True,
          limits={"background": (1, 100), "nsamples": (1, 10000), "seed": SEED}, memory=_kernel_memory)
def shap_kernel(model, frame, target, background=20, nsamples=512, seed=0):
    """Kernel SHAP (Lundberg & Lee, NeurIPS 2017): Shapley values by a weighted linear regression over coalitions.

    shap's ``KernelExplainer``; the background is summarised by k-means into ``background``
    weighted centroids (each value rounded to one seen in the data, so categories stay
    categories). ``nsamples`` coalitions per row (all of them when there are fewer); hidden
    features take the centroids' values. Additive by construction. ``seed`` fixes the sampling.
    """
    import shap

    k = _positive("background", background)
    n = _positive("nsamples", nsamples)
    frame = model.rows(frame)
    index = _target(model, frame, target)
    summary = _kmeans_background(model, k)
    expect(k + (_kernel_cost({"background": k, "nsamples": n}, model)[0] - k) * len(frame))
    with numpy_seed(seed), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        explainer = shap.KernelExplainer(_engine_output(model, index), summary)
        values = explainer.shap_values(model.schema.encode(frame), nsamples=n, silent=True)
    values = np.asarray(values, dtype=np.float64).reshape(len(frame), -1)
    return _finish(model, frame, values, float(np.ravel(explainer.expected_value)[0]), index, "shap-kernel")


def _permutation_cost(params, model=None, **sizes):
    """Rows evaluated for one explained row: 2m + 1 masks per ordering × background rows, then the output."""
    m = len(model.feature_names) if model is not None else 10
    k = _positive("background", params["background"])
    if model is not None:
        k = min(k, len(model.background))
    return k * _positive("permutations", params["permutations"]) * (2 * m + 1) + 1, 0


def _permutation_memory(params, model, n_rows=1, **_) -> int:
    """shap evaluates one row's masked copies at once: permutations · (2m + 1) masks × background rows."""
    masked = _permutation_cost(params, model)[0]
    return 3 * masked * (len(model.feature_names) + 2) * DOUBLE + _rows_memory(model, n_rows)


def orderings_setup(model, frame, target, background, permutations, seed):
    """What a permutation estimator over a table starts from (shap-permutation, shap-kl): the checked ``background``
    and ``permutations`` counts, the rows, the class index, the encoded background rows and the feature count."""
    k = _positive("background", background)
    p = _positive("permutations", permutations)
    frame = model.rows(frame)
    index = _target(model, frame, target)
    return k, p, frame, index, _encoded_background(model, k, seed), len(model.feature_names)


@register("shap-permutation", modality="tabular", family="shap", cost=_permutation_cost,
          defaults={"background": 50, "permutations": 10, "seed": 0}, signed=True,
          limits={"background": (1, 200), "permutations": (1, 100), "seed": SEED}, memory=_permutation_memory)
def shap_permutation(model, frame, target, background=50, permutations=10, seed=0):
    """Permutation SHAP (Štrumbelj & Kononenko, 2014; shap's ``PermutationExplainer``): Shapley values by sampling orderings.

    Each of ``permutations`` random feature orderings (seeded) is walked forwards and
    backwards, revealing one feature at a time against ``background`` training rows
    (independent masker); a feature's value is its mean marginal contribution. The
    contributions of one ordering telescope to output(x) − E[output(background)], so
    additivity is exact; the values are exact Shapley values in expectation.
    """
    import shap

    k, p, frame, index, bg, m = orderings_setup(model, frame, target, background, permutations, seed)
    expect(_permutation_cost({"background": k, "permutations": p}, model)[0] * len(frame))
    with numpy_seed(seed):  # shap seeds and shuffles with the global np.random: nobody else draws meanwhile
        explainer = shap.PermutationExplainer(_engine_output(model, index), shap.maskers.Independent(bg, max_samples=k),
                                              seed=int(seed))
        result = explainer(model.schema.encode(frame), max_evals=p * (2 * m + 1), silent=True)
    values = np.asarray(result.values, dtype=np.float64).reshape(len(frame), -1)
    base = float(np.ravel(result.base_values)[0])
    return _finish(model, frame, values, base, index, "shap-permutation")


def _importance_cost(params, model=None, **sizes):
    """Rows scored: the held-out rows once unshuffled, then once per column and repeat, then the base score."""
    n = 0 if model is None or model.held_out is None else len(model.held_out[0])
    return n * (2 + _positive("repeats", params["repeats"]) * (len(model.feature_names) if model else 1)), 0


def _importance_memory(params, model, n_rows=1, **_) -> int:
    """scikit-learn shuffles a copy of the scored rows per column and repeat (one at a time)."""
    held_out = 0 if model.held_out is None else len(model.held_out[0])
    return _rows_memory(model, max(n_rows, held_out)) + int(params["repeats"]) * len(model.feature_names) * DOUBLE


PERMUTATION_IMPORTANCE = "permutation-importance"  # the model-level reference the tabular page shows beside SHAP


@register(PERMUTATION_IMPORTANCE, modality="tabular", family="global", cost=_importance_cost,
          defaults={"repeats": 5, "seed": 0}, signed=True,
          limits={"repeats": (1, 100), "seed": SEED}, memory=_importance_memory, exclusive=False)
def permutation_importance(model, frame, target, repeats=5, seed=0):
    """Permutation importance (Breiman 2001; scikit-learn): the drop in score when one column is shuffled.

    Global only and model-agnostic: on the model's held-out rows (the rows passed, when
    they carry the target column), each column is shuffled ``repeats`` times (seeded) and
    the mean drop in ``model.score_frame`` (negative log-loss for classifiers with
    probabilities, else accuracy; R² for regressors) is its importance. The explained row
    is not used; ``base_value`` is the unshuffled score.
    """
    from sklearn.inspection import permutation_importance as sk_importance

    r = _positive("repeats", repeats)
    if model.target in frame.columns and len(frame) > 1:
        X, y = model.rows(frame), frame[model.target].reset_index(drop=True)
    elif model.held_out is not None:
        X, y = model.held_out
    else:
        raise ExplainerError("Permutation importance needs rows with their true target values.")
    X = model.rows(X)

    class _Counted:  # scikit-learn calls the scorer once per shuffle; the model counts the rows
        def __call__(self, _estimator, rows, truth):
            return model.score_frame(rows, truth)

    expect(len(X) * (1 + r * len(model.feature_names)))
    result = sk_importance(model.estimator, X, y, scoring=_Counted(), n_repeats=r, random_state=int(seed), n_jobs=1)
    fields = {"feature_names": model.feature_names, "base_value": model.score_frame(X, y),
              "extras": {"importances": result.importances, "std": result.importances_std}}
    index = None if model.task != "classification" else _target(model, model.rows(frame), target)
    return result.importances_mean.astype(np.float32), index, fields


# --- global --------------------------------------------------------------------------------------------


def explain_global(model, frame: pd.DataFrame | None = None, method: str | None = None, rows: int = 200,
                   target=None, seed: int = 0, progress=None, cancel=None, **params):
    """A global explanation: ``method`` (default: ``default_explainer``) over ``rows`` rows sampled (seeded)
    from ``frame`` (default: the model's held-out rows, else its background rows)."""
    method = method or default_explainer(model)[0]
    if frame is None:
        frame = model.held_out[0] if model.held_out is not None else model.background
    n = _positive("rows", rows)
    sample = frame.sample(n=n, random_state=seed) if len(frame) > n else frame
    if len(sample) < 2:
        raise InputError("A global explanation needs at least two rows.")
    return explain(model, sample.reset_index(drop=True), method=method, target=target, progress=progress,
                   cancel=cancel, **params)


def ranked(explanation) -> pd.DataFrame:
    """The features ranked by |score|, as a table (feature, value in the row, score) for showing and CSV export."""
    table = pd.DataFrame({"feature": explanation.feature_names, "score": explanation.scores.astype(float)})
    row = explanation.extras.get("row")
    if row is not None:
        cats = explanation.extras.get("categories") or {}
        table.insert(1, "value", [_display(v, cats.get(f)) for f, v in zip(explanation.feature_names, row)])
    return table.reindex(table["score"].abs().sort_values(ascending=False).index).reset_index(drop=True)


def _display(value, categories):
    if np.isnan(value):
        return "missing"
    return categories[int(value)] if categories else float(value)


def strongest_interaction(explanation, feature: str) -> str | None:
    """The feature that seems to interact most with ``feature`` in a global explanation (shap's
    ``approximate_interactions``: how well each other feature explains the spread of ``feature``'s
    SHAP values at similar values of ``feature``); None when there is no other feature."""
    from shap.utils import approximate_interactions

    names = list(explanation.feature_names)
    if len(names) < 2 or "shap_values" not in explanation.extras:
        return None
    order = approximate_interactions(names.index(feature), explanation.extras["shap_values"],
                                     np.nan_to_num(explanation.extras["rows"], nan=np.nanmean(explanation.extras["rows"])))
    others = [int(i) for i in order if int(i) != names.index(feature)]
    return names[others[0]] if others else None
