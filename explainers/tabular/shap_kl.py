"""SHAP-KL: Shapley values of how close the label distribution stays when only some features are kept.

After Jethani et al., "Don't be fooled: label leakage in explanation methods and the importance of their
quantitative evaluation" (AISTATS 2023). A class-dependent attribution (SHAP of one class's output) can pick
features that make *that* class look more likely whatever the class is (label leakage, see
explainers/metrics/leakage.py); SHAP-KL explains the whole distribution over classes at once instead:

    v(S) = −KL( p(y | x) ‖ p(y | x_S) )

with p(y | x_S) the model's class probabilities averaged over ``background`` training rows whose features outside S
are kept and whose features in S are the row's (explainers/tabular/marginal.py; a categorical column is one
feature). v(all) = 0 and v(∅) = −KL(p(y|x) ‖ p̄), p̄ the background's mean probabilities. The values are estimated
by the permutation estimator of ``shap-permutation`` (``permutations`` antithetic orderings, seeded the same way:
explainers/core/shapley.py), so they sum exactly to v(all) − v(∅) = KL(p(y|x) ‖ p̄): a positive value brings the
predicted distribution closer to the row's, a negative one moves it away.

**Output.** Like the other tabular SHAP methods (shap_methods.py): ``scores`` (n_features,) for one row,
``base_value`` = v(∅), ``extras["output"]`` = v(all) = 0, ``extras["probabilities"]`` p(y|x); several rows: mean
|value| per feature with ``extras["shap_values"]``. The explanation is the same for every class (``target_label``
says "all classes (distribution)"); ``target`` is the class given, else the predicted one, only so that a deletion
curve (Compare) has a class output to follow. Classifiers only: a regressor has no distribution over classes.
"""

from __future__ import annotations

import numpy as np

from explainers.core.budget import DOUBLE
from explainers.core.engine import expect
from explainers.core.registry import SEED, register
from explainers.core.shapley import count_coalitions, orderings, permutation_shapley
from explainers.tabular.marginal import (
    ROWS_PER_BATCH, is_classifier, marginal_probabilities, probabilities, require_classifier,
)
from explainers.tabular.shap_methods import _finish, _positive, _rows_memory, orderings_setup

METHOD = "shap-kl"  # its id: the Tables page's leakage part imports it (pages name no method themselves)

EPSILON = 1e-12  # probabilities are floored here inside the logarithm (a class the background never gives)
ALL_CLASSES = "all classes (distribution)"
VALUE_NAME = "−KL(p(y|x) ‖ p(y|x_S))"


def kl_divergence(p: np.ndarray, q: np.ndarray) -> np.ndarray:
    """KL(p ‖ q) = Σ_c p_c log(p_c / q_c) over the last axis (0 log 0 = 0; q floored at ``EPSILON``)."""
    p, q = np.asarray(p, dtype=np.float64), np.asarray(q, dtype=np.float64)
    logs = np.log(np.maximum(p, EPSILON)) - np.log(np.maximum(q, EPSILON))
    return np.where(p > 0, p * logs, 0.0).sum(axis=-1)


def _coalitions(params, model) -> int:
    m = len(model.feature_names) if model is not None else 10
    return count_coalitions(m, _positive("permutations", params["permutations"]), int(params["seed"]))


def _kl_cost(params, model=None, **sizes):
    """Rows evaluated for one explained row: the row once, then every distinct coalition but the full one (the
    empty one included) × background rows."""
    k = _positive("background", params["background"])
    if model is not None:
        k = min(k, len(model.background))
    return 1 + (_coalitions(params, model) - 1) * k, 0


def _kl_memory(params, model, n_rows=1, **_) -> int:
    """The orderings' prefixes (bool), the probabilities of every coalition × background row, one batch of rows."""
    m, p = len(model.feature_names), int(params["permutations"])
    u = _coalitions(params, model)
    rows = u * min(int(params["background"]), len(model.background))
    return (4 * 2 * p * (m + 1) * m + 3 * rows * len(model.labels) * DOUBLE
            + 4 * ROWS_PER_BATCH * (m + 2) * DOUBLE + _rows_memory(model, n_rows))


@register(METHOD, modality="tabular", family="shap", cost=_kl_cost,
          defaults={"background": 50, "permutations": 10, "seed": 0}, signed=True,
          limits={"background": (1, 200), "permutations": (1, 100), "seed": SEED}, memory=_kl_memory,
          exclusive=False, requires=is_classifier)
def shap_kl(model, frame, target, background=50, permutations=10, seed=0):
    """SHAP-KL (Jethani et al., AISTATS 2023): Shapley values of −KL(p(y|x) ‖ p(y|x_S)), the whole class distribution.

    One explanation for all classes: a feature's value is how much keeping it (the others
    marginalised over ``background`` training rows) brings the predicted distribution
    closer to the row's. Estimated like shap-permutation (``permutations`` antithetic
    orderings, seeded); the values sum exactly to KL(p(y|x) ‖ mean background p).
    """
    require_classifier(model, METHOD)
    k, p, frame, index, bg, m = orderings_setup(model, frame, target, background, permutations, seed)
    order = orderings(m, p, seed)
    expect(_kl_cost({"background": k, "permutations": p, "seed": seed}, model)[0] * len(frame))
    encoded = model.schema.encode(frame)
    p_x = probabilities(model, encoded)
    values, bases = np.zeros((len(frame), m)), np.zeros(len(frame))
    for r, x in enumerate(encoded):

        def value(masks, x=x, r=r):
            out = np.zeros(len(masks))  # v(all) = −KL(p ‖ p) = 0: no model rows needed
            partial = ~masks.all(axis=1)
            out[partial] = -kl_divergence(p_x[r], marginal_probabilities(model, x, masks[partial], bg))
            return out

        result = permutation_shapley(value, m, order=order)
        values[r], bases[r] = result.values, result.empty
    scores, index, fields = _finish(model, frame, values, bases.mean(), index, METHOD, output=np.zeros(len(frame)))
    extras = fields["extras"]
    extras.update(output_kind=VALUE_NAME, probabilities=p_x[0] if len(frame) == 1 else p_x,
                  class_independent=True)
    if len(frame) > 1:
        extras["base_values"] = bases
    return scores, index, {**fields, "target_label": ALL_CLASSES}
