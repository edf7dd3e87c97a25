"""Faithfulness of a text-classifier explanation: comprehensiveness and sufficiency (DeYoung et al., ACL 2020, ERASER).

Rank the non-special tokens by score (highest first: for signed methods, the
tokens pushing hardest toward the class). For each bin q of ``fractions`` (by
default ERASER's bins 1, 5, 10, 20 and 50 %) take the top ⌈q·n⌉ tokens (at least
one) and measure the target's softmax probability p:

- comprehensiveness(q) = p(x) − p(x without the top tokens): high when removing them hurts;
- sufficiency(q) = p(x) − p(only the top tokens): low when they alone suffice.

AOPC is the mean over the bins (ERASER's ``_instances_aopc``; Samek et al. 2017).

How a token is taken away (``removal``, named in the result as ``"removal"``):

- ``"delete"`` (the default, the paper's definition): the token is removed from
  the sequence. The remaining ids, in their order, are packed into a shorter
  sequence with the special tokens ([CLS], [SEP]) kept, so the tokens after a
  removed one move up a position, as in ERASER.
- ``"attention-mask"``: the token stays in place but leaves the attention mask
  (``HIDDEN``), the operation Lumen's text occlusion, LIME and SHAP use. It keeps
  every position, but it is the very perturbation occlusion is built from, so it
  favours occlusion in a comparison.

``text_faithfulness_many`` measures several explanations of one text in one engine call (per class).

All 1 + 2·len(fractions) inputs run through the model's counted forward, in the
model's batches; deleted variants are padded per batch to the longest of the
batch (pad id under a zero attention mask, after the last token, so every kept token
has the position it would have alone).
"""

from __future__ import annotations

import math

import numpy as np
import torch

from explainers.text.methods import hidden_variants, probabilities
from models.adapters.text import HIDDEN
from models.errors import ExplainerError

ERASER_BINS = (0.01, 0.05, 0.1, 0.2, 0.5)  # DeYoung et al. 2020, section 4.2
DECILES = tuple(round(0.1 * k, 1) for k in range(1, 11))  # 10 %, 20 %, …, 100 % (Lumen's bins before issue 16)
FRACTIONS = ERASER_BINS
REMOVALS = ("delete", "attention-mask")
REMOVAL_WORDS = {"delete": "deleted", "attention-mask": "hidden from attention"}  # for captions: "top tokens deleted"


def text_faithfulness_passes(fractions=FRACTIONS) -> int:
    """Forward passes ``text_faithfulness`` makes: the text, and each bin removed and kept."""
    return 1 + 2 * len(fractions)


def _pad(rows: list[torch.Tensor]) -> torch.Tensor:
    """Rows of ids of unequal lengths as one (N, longest) tensor, ``HIDDEN`` after a row's last token.

    Padding on the right keeps every kept token at the position it has when its row runs alone."""
    width = max(len(r) for r in rows)
    out = torch.full((len(rows), width), HIDDEN, dtype=rows[0].dtype, device=rows[0].device)
    for i, r in enumerate(rows):
        out[i, : len(r)] = r
    return out


def text_faithfulness(model, text, explanation, fractions=FRACTIONS, removal: str = "delete") -> dict:
    """{"fractions", "removal", "probability", "comprehensiveness", "sufficiency", "aopc_comprehensiveness",
    "aopc_sufficiency"}.

    ``explanation``: an ``Explanation`` of ``model`` on ``text`` (its scores and
    target are used). Lists are per fraction; ``removal`` ("delete" or
    "attention-mask", see the module's docstring) says how tokens were taken away.
    """
    return text_faithfulness_many(model, text, [explanation], fractions, removal)[0]


def text_faithfulness_many(model, text, explanations, fractions=FRACTIONS, removal: str = "delete") -> list[dict]:
    """``text_faithfulness`` of each explanation of ``text``; those of one class go through the engine in one call
    (their variants fill the same batches)."""
    if removal not in REMOVALS:
        raise ExplainerError(f"Unknown token removal {removal!r}; choose one of {', '.join(REMOVALS)}.")
    fractions = tuple(float(q) for q in fractions)
    if not fractions or not all(0 < q <= 1 for q in fractions):
        raise ExplainerError("The faithfulness bins must be fractions in (0, 1].")
    enc = model.encode(text)
    by_class: dict[int, list[int]] = {}
    for k, e in enumerate(explanations):
        if np.shape(e.scores) != (len(enc.tokens),):
            raise ExplainerError("The explanation's scores do not match this text's tokens; explain the text again.")
        index = e.target if e.target is not None else model.class_index(None, text)
        by_class.setdefault(int(index), []).append(k)
    out: list[dict | None] = [None] * len(explanations)
    n = text_faithfulness_passes(fractions)
    for index, members in by_class.items():
        keep = torch.cat([_kept(enc, explanations[k].scores, fractions) for k in members]).to(enc.input_ids.device)
        p = probabilities(model, keep.shape[0], _variants(enc, keep, removal), index).cpu().numpy().astype(np.float64)
        for r, k in enumerate(members):
            out[k] = _figures(p[r * n: (r + 1) * n], fractions, removal)
    return out


def _kept(enc, scores, fractions) -> torch.Tensor:
    """(1 + 2 · bins, T) the tokens each variant keeps: the text, each bin's top tokens removed, each bin's kept."""
    scores = np.asarray(scores, dtype=np.float64)
    content = enc.content
    order = content[np.argsort(-scores[content], kind="stable")]
    T = len(enc.tokens)
    keep = torch.ones((text_faithfulness_passes(fractions), T), dtype=torch.bool)
    for r, q in enumerate(fractions):
        top = torch.as_tensor(order[: max(1, math.ceil(q * len(content)))])
        keep[1 + r, top] = False  # comprehensiveness: the top tokens removed
        row = torch.zeros(T, dtype=torch.bool)
        row[top] = True
        keep[1 + len(fractions) + r] = row  # sufficiency: only the top tokens kept
    return keep


def _variants(enc, keep: torch.Tensor, removal: str):
    """``make_batch(i, j)``: the variants of ``keep``'s rows i..j-1, the tokens taken away by ``removal``."""
    if removal == "attention-mask":
        ids = hidden_variants(enc, keep)
        return lambda i, j: ids[i:j]
    keep = keep | torch.as_tensor(enc.special, device=keep.device)  # [CLS], [SEP] always stay
    rows = [enc.input_ids[0][k] for k in keep]
    return lambda i, j: _pad(rows[i:j])


def _figures(p: np.ndarray, fractions: tuple, removal: str) -> dict:
    comp = p[0] - p[1 : 1 + len(fractions)]
    suff = p[0] - p[1 + len(fractions) :]
    return {
        "fractions": list(fractions),
        "removal": removal,
        "probability": float(p[0]),
        "comprehensiveness": comp.tolist(),
        "sufficiency": suff.tolist(),
        "aopc_comprehensiveness": float(comp.mean()),
        "aopc_sufficiency": float(suff.mean()),
    }
