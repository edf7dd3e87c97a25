"""Faithfulness of a text-classifier explanation: comprehensiveness and sufficiency (DeYoung et al., ACL 2020, ERASER).

Rank the non-special tokens by score (highest first: for signed methods, the
tokens pushing hardest toward the class). For each fraction q = 10 %, 20 %, …,
100 % take the top ⌈q·n⌉ tokens and measure the target's softmax probability p:

- comprehensiveness(q) = p(x) − p(x without the top tokens): high when removing them hurts;
- sufficiency(q) = p(x) − p(only the top tokens): low when they alone suffice.

AOPC is the mean over the fractions. Removed tokens leave the attention mask
(as in the methods). All 2·10 + 1 inputs run as one batch through the engine.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from explainers.text.methods import hidden_variants, probabilities
from models.errors import ExplainerError

FRACTIONS = tuple(round(0.1 * k, 1) for k in range(1, 11))


def text_faithfulness(model, text, explanation, fractions=FRACTIONS) -> dict:
    """{"fractions", "comprehensiveness", "sufficiency", "aopc_comprehensiveness", "aopc_sufficiency", "probability"}.

    ``explanation``: an ``Explanation`` of ``model`` on ``text`` (its scores and
    target are used). Lists are per fraction.
    """
    enc = model.encode(text)
    scores = np.asarray(explanation.scores, dtype=np.float64)
    if scores.shape != (len(enc.tokens),):
        raise ExplainerError("The explanation's scores do not match this text's tokens; explain the text again.")
    index = explanation.target if explanation.target is not None else model.class_index(None, text)
    content = enc.content
    order = content[np.argsort(-scores[content], kind="stable")]
    T = len(enc.tokens)
    keep = torch.ones((1 + 2 * len(fractions), T), dtype=torch.bool)
    for r, q in enumerate(fractions):
        top = torch.as_tensor(order[: max(1, math.ceil(q * len(content)))])
        keep[1 + r, top] = False  # comprehensiveness: the top tokens removed
        row = torch.zeros(T, dtype=torch.bool)
        row[top] = True
        keep[1 + len(fractions) + r] = row  # sufficiency: only the top tokens kept
    ids = hidden_variants(enc, keep.to(enc.input_ids.device))
    p = probabilities(model, ids.shape[0], lambda i, j: ids[i:j], int(index)).cpu().numpy().astype(np.float64)
    comp = p[0] - p[1 : 1 + len(fractions)]
    suff = p[0] - p[1 + len(fractions) :]
    return {
        "fractions": list(fractions),
        "probability": float(p[0]),
        "comprehensiveness": comp.tolist(),
        "sufficiency": suff.tolist(),
        "aopc_comprehensiveness": float(comp.mean()),
        "aopc_sufficiency": float(suff.mean()),
    }
