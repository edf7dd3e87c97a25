"""Faithfulness of a tabular explanation: the deletion curve over features in importance order.

Features are removed one at a time in decreasing order of their score (the one
pushing the explained output up most goes first). Removing a set S of features
means replacing their values by those of background rows and averaging the
model's output over those rows (the interventional expectation E[f(x_S̄, X_S)]),
the same reference SHAP's base value uses. The curve runs from the row's output
(nothing removed) to the background mean (everything removed); its area over
x ∈ [0, 1] (trapezoids) is lower for a more faithful order.
"""

from __future__ import annotations

import numpy as np
import torch

from explainers.core.engine import batched_logits
from models.errors import ExplainerError

BACKGROUND_ROWS = 50
ROWS_PER_BATCH = 2048


def tabular_deletion_passes(model, background_rows: int = BACKGROUND_ROWS) -> int:
    """Rows ``tabular_deletion`` runs through the model: each of the m + 1 steps over the background sample."""
    return (len(model.feature_names) + 1) * min(len(model.background), int(background_rows))


def tabular_deletion(model, row, e, background_rows: int = BACKGROUND_ROWS, seed: int = 0) -> dict:
    """{"deletion_auc", "fractions", "deletion_curve"} of explanation ``e`` of ``row``."""
    encoded = model.schema.encode(model.rows(row))
    if len(encoded) != 1:
        raise ExplainerError("The deletion curve explains one row; give one row.")
    scores = np.asarray(e.scores, dtype=np.float64)
    m = encoded.shape[1]
    if scores.shape != (m,):
        raise ExplainerError(f"The explanation has {scores.size} scores for {m} features; explain this row again.")
    background = model.schema.encode(model.background)
    if len(background) > background_rows:
        background = background[np.random.default_rng(seed).choice(len(background), background_rows, replace=False)]
    order = np.argsort(-scores, kind="stable")
    b = len(background)
    rows = np.repeat(encoded, (m + 1) * b, axis=0).reshape(m + 1, b, m)
    for k in range(1, m + 1):
        removed = order[:k]
        rows[k][:, removed] = background[:, removed]
    batch = torch.from_numpy(rows.reshape(-1, m))
    out = batched_logits(model, len(batch), lambda i, j: batch[i:j], batch_size=ROWS_PER_BATCH)
    curve = out[:, e.target].double().numpy().reshape(m + 1, b).mean(1)
    fractions = np.arange(m + 1) / m
    return {"deletion_auc": float(np.trapezoid(curve, fractions)), "fractions": fractions.tolist(),
            "deletion_curve": curve.tolist()}
