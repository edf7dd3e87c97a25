"""A classifier's class probabilities given only some features of a row: the rest marginalised over background rows.

    p(y | x_S) = mean over background rows b of p(y | x_S, b_S̄)

the row's values on the features in S, each background row's on the others (the interventional expectation
SHAP's tables use; a categorical column is one feature, so its categories move as one group). Every row goes
through the one engine (batched, counted, cancellable). SHAP-KL (shap_kl.py) and the leakage check
(explainers/metrics/leakage.py) both read probabilities from here.
"""

from __future__ import annotations

import numpy as np
import torch

from explainers.core.engine import batched_logits
from models.errors import ExplainerError

ROWS_PER_BATCH = 2048  # rows per model call (scikit-learn is fastest on big batches)
NOT_A_CLASSIFIER = ("{method} reads the model's distribution over classes; a regressor has none "
                    "(use shap-permutation, which explains its prediction).")


def require_classifier(model, method: str) -> None:
    if getattr(model, "task", None) != "classification":
        raise ExplainerError(NOT_A_CLASSIFIER.format(method=method))


def is_classifier(model) -> bool:
    return getattr(model, "task", None) == "classification"


def _probabilities(model, frame) -> np.ndarray:
    """Class probabilities of decoded rows: ``predict_proba``, else the softmax of the decision function (as
    ``TabularModel.predict`` does)."""
    if hasattr(model.estimator, "predict_proba"):
        return np.asarray(model.estimator.predict_proba(frame), dtype=np.float64)
    d = model._raw_output(frame)
    e = np.exp(d - d.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def _forward(model):
    """The engine's forward: encoded rows -> class probabilities; every row counts as one model pass."""

    def run(batch: torch.Tensor) -> torch.Tensor:
        with model.lock:
            model.count_forward(batch.shape[0])
        return torch.from_numpy(_probabilities(model, model.schema.decode(batch.cpu().numpy())))

    return run


def probabilities(model, rows: np.ndarray) -> np.ndarray:
    """(n, n_classes) class probabilities of encoded rows (``TableSchema.encode``), through the engine."""
    batch = torch.from_numpy(np.ascontiguousarray(rows, dtype=np.float64))
    out = batched_logits(model, len(batch), lambda i, j: batch[i:j], batch_size=ROWS_PER_BATCH, forward=_forward(model))
    return out.double().numpy()


def marginal_probabilities(model, x: np.ndarray, masks: np.ndarray, background: np.ndarray) -> np.ndarray:
    """(n_masks, n_classes): p(y | x_S) for each coalition S (a row of ``masks``, True = the row's value kept), the
    features outside S taken from each of the ``background`` rows (encoded) in turn and the probabilities
    averaged. n_masks × n_background model rows, built a batch at a time."""
    x = np.asarray(x, dtype=np.float64).reshape(-1)
    masks = np.asarray(masks, dtype=bool)
    background = np.asarray(background, dtype=np.float64)
    k = len(background)
    if k == 0:
        raise ExplainerError("No background rows to marginalise over.")

    def make(i, j):
        t = np.arange(i, j)
        return torch.from_numpy(np.where(masks[t // k], x[None, :], background[t % k]))

    out = batched_logits(model, len(masks) * k, make, batch_size=ROWS_PER_BATCH, forward=_forward(model))
    return out.double().numpy().reshape(len(masks), k, -1).mean(axis=1)


def sample_background(model, size: int, seed: int) -> np.ndarray:
    """``size`` background rows (seeded), encoded: the rows the tabular SHAP methods sample."""
    from explainers.tabular.shap_methods import _encoded_background

    return _encoded_background(model, size, seed)
