"""The label-leakage check of a tabular explanation method (after Jethani et al., "Don't be fooled: label leakage
in explanation methods and the importance of their quantitative evaluation", AISTATS 2023).

A method that explains one class at a time can pick, for *whichever* class it is asked about, the features that make
that class likely: keeping only those features then "shows" the class, whether or not the model predicts it. The
figure measures that, for a method, ``k`` and rows x (each with the same seeded background rows):

    leakage = mean over rows x and classes c of [ p(c | x_{S_c}) − p(c | x) ]

- S_c: the ``k`` features with the highest scores (signed: those that raise the explained output most) in the
  method's explanation of x *for class c*; a class-independent method (SHAP-KL) has one S for every class;
- p(c | x_S): the model's probability of c with the features outside S marginalised over ``background`` training
  rows (explainers/tabular/marginal.py, the same marginalisation as SHAP-KL's value function);
- the classes: every class (``classes="all"``), or one class drawn at random per row (``"random"``, seeded).

For a class-independent explanation averaged over all classes it is exactly 0: the probabilities of one S sum to 1,
as those of x do. A positive figure means the explanations of a class make that class look more likely than the
model finds it: they leak the label asked for. Per row, p(y | x) and the probabilities with the top features kept
are in the result, so the figure can be read class by class.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from explainers.core.engine import Cancelled, check_cancel
from explainers.core.explain import explain
from explainers.tabular.marginal import marginal_probabilities, probabilities, require_classifier, sample_background
from models.errors import ExplainerError
from models.locks import counting

DEFAULT_K = 3
DEFAULT_BACKGROUND = 50
CLASSES = ("all", "random")


@dataclass
class Leakage:
    """One method's leakage figure and what it is made of."""

    method: str
    k: int
    leakage: float  # the mean of ``gaps`` over the rows and classes checked
    classes: str  # "all" or "random"
    gaps: np.ndarray  # (n_rows, n_classes) p(c | x_{S_c}) − p(c | x); NaN for a class not checked
    top: list[dict[int, list[str]]] = field(default_factory=list)  # per row: class -> its top-k features
    n_forward: int = 0  # model rows evaluated: the explanations run and the kept-features probabilities

    @property
    def n_checked(self) -> int:
        return int(np.isfinite(self.gaps).sum())


def top_features(scores, k: int) -> np.ndarray:
    """The indices of the ``k`` highest scores (signed), highest first; ties in feature order."""
    return np.argsort(-np.asarray(scores, dtype=np.float64), kind="stable")[:k]


def leakage(model, rows, method: str, k: int = DEFAULT_K, params: dict | None = None, classes: str = "all",
            background: int = DEFAULT_BACKGROUND, seed: int = 0, explanations=None, progress=None,
            cancel=None) -> Leakage:
    """The leakage figure of ``method`` (with ``params``) on ``rows`` (a frame, or one row), keeping its top ``k``
    features (see the module docstring). ``explanations``, optional: ``explanations(row_index, class_index) ->
    Explanation`` to use instead of running the method (tests and callers that hold them already).
    ``progress(done, total)`` counts explanations made; ``cancel`` a threading.Event."""
    return leakage_check(model, rows, {method: params or {}}, k=k, classes=classes, background=background, seed=seed,
                         explanations={method: explanations} if explanations else None, progress=progress,
                         cancel=cancel)[method]


def leakage_check(model, rows, methods: dict[str, dict], k: int = DEFAULT_K, classes: str = "all",
                  background: int = DEFAULT_BACKGROUND, seed: int = 0, explanations: dict | None = None,
                  progress=None, cancel=None) -> dict[str, Leakage]:
    """``leakage`` of each method (name -> its params) on the same rows, classes and background: the figures side by
    side (e.g. ``{"shap-permutation": {}, "shap-kl": {}}``)."""
    require_classifier(model, "The leakage check")
    if classes not in CLASSES:
        raise ExplainerError(f"classes must be one of {', '.join(CLASSES)}; got {classes!r}.")
    frame = model.rows(rows)
    m, n_classes = len(model.feature_names), len(model.labels)
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or not 1 <= k <= m:
        raise ExplainerError(f"k (the top features kept) must be a whole number from 1 to {m}; got {k!r}.")
    if isinstance(background, bool) or not isinstance(background, (int, np.integer)) or background < 1:
        raise ExplainerError(f"background must be a whole number of at least 1; got {background!r}.")
    encoded = model.schema.encode(frame)
    bg = sample_background(model, int(background), seed)
    rng = np.random.default_rng(seed)
    checked = [list(range(n_classes)) if classes == "all" else [int(rng.integers(n_classes))] for _ in frame.index]
    explanations = explanations or {}
    total = sum(len(c) for c in checked) * len(methods)
    done = 0
    p_x = probabilities(model, encoded)
    out = {}
    for method, params in methods.items():
        gaps = np.full((len(frame), n_classes), np.nan)
        tops, passes = [], 0
        for r in range(len(frame)):
            chosen, top, shared = {}, {}, None
            for c in checked[r]:
                _check_cancel(cancel)
                if shared is not None:
                    e = shared
                elif method in explanations:
                    e = explanations[method](r, c)
                else:
                    e = explain(model, frame.iloc[[r]], method=method, target=c, cancel=cancel, **(params or {}))
                    passes += e.n_forward
                if e.extras.get("class_independent"):
                    shared = e  # the same explanation for every class: explained once
                chosen[c] = top_features(e.scores, k)
                top[c] = [model.feature_names[i] for i in chosen[c]]
                done += 1
                if progress is not None:
                    progress(done, total)
            masks = np.zeros((len(chosen), m), dtype=bool)
            for i, c in enumerate(chosen):
                masks[i, chosen[c]] = True
            with counting() as count:
                kept = marginal_probabilities(model, encoded[r], masks, bg)
            passes += count.n_forward
            for i, c in enumerate(chosen):
                gaps[r, c] = kept[i, c] - p_x[r, c]
            tops.append(top)
        out[method] = Leakage(method, int(k), float(np.nanmean(gaps)), classes, gaps, tops, passes)
    return out


def _check_cancel(cancel) -> None:
    if cancel is not None and cancel.is_set():
        raise Cancelled()
    check_cancel()
