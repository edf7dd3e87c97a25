"""Token attributions for text classifiers (modality "text").

Every method takes the cleaned text, tokenises it with the model's tokenizer
(truncated to the model's limit; the warning goes to ``extras["truncation"]``)
and returns one score per token, ``tokens`` included. Special tokens ([CLS],
[SEP]) are shown but score exactly 0 and never enter rankings.

Units: the gradient methods explain the target class's logit (for the embedded
sentiment model, half the log-odds), the perturbation methods its softmax
probability. Scores are not rescaled, so completeness can be checked: IG's
scores sum to logit(x) − logit(baseline). Signed methods are positive where a
token pushes toward the target class. A token is hidden (occlusion, SHAP, LIME)
by taking it out of the attention mask: no token attends to it and mean pooling
skips it, while the others keep their positions. (The faithfulness figures delete
tokens instead, as ERASER does: explainers/metrics/text.py.)

``extras`` of every text explanation: ``offsets`` (character span of each token
in the text, for highlighting), ``special`` (bools), ``word_ids`` (the word of
each token, None for special tokens) and ``truncation`` (the warning, or None).
"""

from __future__ import annotations

import warnings

import numpy as np
import torch
from captum._utils.models.linear_model import SkLearnRidge
from captum.attr import LayerIntegratedGradients, Lime

from explainers.core.engine import batched_logits, check_cancel, expect, passes_made
from explainers.image.gradients import QUADRATURES, positive_int, seeded
from explainers.core.budget import (
    DOUBLE, FLOAT, attention_bytes, counted_batch, sequence_activation_bytes, text_forward_bytes,
)
from explainers.core.registry import SEED, register
from explainers.core.shap_budget import check_max_evals, partition_passes
from models.errors import ExplainerError
from models.adapters.text import HIDDEN, Encoding

COST_TEXT_TOKENS = 20  # the text length the cost models assume when the page gives none


# ---------------------------------------------------------------- peak memory (explainers/core/budget.py)


def _backward_memory(params, model, n_tokens=COST_TEXT_TOKENS) -> int:
    """One text through the model and back."""
    return sequence_activation_bytes(model, n_tokens + 2)[0]


def _ig_memory(params, model, n_tokens=COST_TEXT_TOKENS) -> int:
    """``batch_size`` path points through the model and back at once, and the embedding layer's values on the path."""
    n = n_tokens + 2
    width = int(getattr(model.embeddings, "embedding_dim", 0) or 0)
    batch = min(int(params["batch_size"]), int(params["n_steps"]))
    return batch * sequence_activation_bytes(model, n)[0] + 2 * int(params["n_steps"]) * n * width * FLOAT


def _attention_memory(params, model, n_tokens=COST_TEXT_TOKENS) -> int:
    return attention_bytes(model, n_tokens + 2) + text_forward_bytes(model, n_tokens, 1)


def _batched_memory(params, model, n_tokens=COST_TEXT_TOKENS) -> int:
    """Texts with tokens hidden, in the model's batches; what the estimator keeps per pass is small."""
    evals = int(params.get("max_evals", params.get("n_samples", n_tokens + 1)))
    batch = min(evals, counted_batch(model, model.batch_size))
    return text_forward_bytes(model, n_tokens, batch) + evals * (n_tokens + 2) * 3 * DOUBLE


# ---------------------------------------------------------------- shared helpers


def encode(model, text) -> Encoding:
    """The text's ``Encoding`` (the one ``explain()`` prepared is given back as it is)."""
    if getattr(model, "modality", None) != "text":
        raise ExplainerError("This method explains text classifiers only.")
    return model.encode(text)


def fields(enc: Encoding, **extras) -> dict:
    return {
        "tokens": list(enc.tokens),
        "extras": {
            "offsets": [list(o) for o in enc.offsets],
            "special": [bool(s) for s in enc.special],
            "word_ids": list(enc.word_ids),
            "truncation": enc.warning,
            **extras,
        },
    }


def finish(scores, enc: Encoding) -> np.ndarray:
    """Scores as float32 with special tokens set to exactly 0."""
    scores = np.asarray(scores, dtype=np.float32).reshape(-1).copy()
    scores[enc.special] = 0.0
    return scores


def top_index(model, enc: Encoding, index: int | None) -> int:
    if index is not None:
        return int(index)
    with torch.inference_mode():
        return int(model.forward(enc.input_ids)[0].argmax())


def hidden_variants(enc: Encoding, keep: torch.Tensor) -> torch.Tensor:
    """Copies of the input ids where ``keep`` (N, T) bool is False are ``HIDDEN``; special tokens always stay."""
    keep = keep | torch.as_tensor(enc.special, device=keep.device)
    ids = enc.input_ids.expand(keep.shape[0], -1)
    return torch.where(keep, ids, torch.full_like(ids, HIDDEN))


def probabilities(model, n: int, make_batch, index: int) -> torch.Tensor:
    """The target's softmax probability for n inputs built by ``make_batch``, through the engine."""
    logits = batched_logits(model, n, make_batch, batch_size=model.batch_size)
    return torch.softmax(logits, dim=1)[:, index]


def word_scores(tokens: list[str], scores, word_ids: list | None = None) -> tuple[list[str], np.ndarray]:
    """Word-piece scores summed per word: (words, scores). Special tokens stay words of their own.

    Words come from ``word_ids`` (the tokenizer's; None marks a special token)
    when given, else from WordPiece's "##" continuation prefix.
    """
    scores = np.asarray(scores, dtype=np.float32)
    if len(tokens) != len(scores):
        raise ExplainerError(f"{len(tokens)} tokens but {len(scores)} scores.")
    words: list[str] = []
    sums: list[float] = []
    previous = object()
    for i, (token, score) in enumerate(zip(tokens, scores)):
        if word_ids is not None:
            word = word_ids[i]
            joins = word is not None and word == previous
            previous = word
        else:
            joins = token.startswith("##") and bool(words)
        piece = token[2:] if token.startswith("##") else token.lstrip("▁Ġ")
        if joins:
            words[-1] += piece
            sums[-1] += float(score)
        else:
            words.append(piece if word_ids is None or word_ids[i] is not None else token)
            sums.append(float(score))
    return words, np.asarray(sums, dtype=np.float32)


# ---------------------------------------------------------------- gradient methods


def _embedding_gradient(model, enc: Encoding, index: int | None):
    """(embeddings (T, D), gradient of the target logit w.r.t. them (T, D), index) from one forward + backward."""
    seen = []
    handle = model.embeddings.register_forward_hook(lambda _m, _i, out: seen.append(out))
    try:
        with torch.enable_grad():
            logits = model.forward(enc.input_ids)
            index = int(logits[0].argmax()) if index is None else index
            if not seen or not seen[-1].requires_grad:
                raise ExplainerError("The model's embedding layer does not take gradients.")
            (grad,) = torch.autograd.grad(logits[0, index], seen[-1])
            model.count_backward(1)
    finally:
        handle.remove()
    return seen[-1].detach()[0], grad.detach()[0], index


@register("saliency", modality="text", family="gradient", cost=lambda params, model=None, **sizes: (1, 1),
          memory=_backward_memory)
def saliency(model, text, target):
    """Saliency (Simonyan, Vedaldi & Zisserman, 2014): the L2 norm of ∂logit/∂e over each token's embedding e.

    Unsigned: how sensitive the target logit is to each token, not which way it pushes.
    """
    enc = encode(model, text)
    _, grad, index = _embedding_gradient(model, enc, target)
    return finish(grad.norm(dim=-1).cpu(), enc), index, fields(enc)


@register(
    "gradient-x-input", modality="text", family="gradient", cost=lambda params, model=None, **sizes: (1, 1), signed=True,
    memory=_backward_memory,
)
def gradient_x_input(model, text, target):
    """Gradient × input (Shrikumar et al., 2016): Σ_d e_d ∂logit/∂e_d over each token's embedding e."""
    enc = encode(model, text)
    emb, grad, index = _embedding_gradient(model, enc, target)
    return finish((emb * grad).sum(-1).cpu(), enc), index, fields(enc)


class _TargetLogit(torch.nn.Module):
    """ids -> the target logit, through ``model.forward``; counts back-propagated samples."""

    def __init__(self, model, index: int):
        super().__init__()
        self.model, self.index = model, index

    def forward(self, input_ids):
        check_cancel()
        logits = self.model.forward(input_ids)
        passes_made(input_ids.shape[0])  # Captum batches internally: progress and Cancel from here
        if logits.requires_grad:
            logits.register_hook(lambda grad: self.model.count_backward(int(grad.shape[0])))
        return logits[:, self.index]


def pad_baseline(model, enc: Encoding) -> torch.Tensor:
    """The input ids with every non-special token replaced by the pad token ([CLS] and [SEP] kept)."""
    special = torch.as_tensor(enc.special, device=enc.input_ids.device)
    return torch.where(special, enc.input_ids, torch.full_like(enc.input_ids, model.pad_token_id))


def _ig_cost(params, model=None, **sizes):
    steps = positive_int("n_steps", params["n_steps"])
    # the path; x and the baseline once inside Captum (to read the embedding layer) and once more for completeness
    return steps + 4, steps


@register(
    "integrated-gradients",
    modality="text",
    family="gradient",
    cost=_ig_cost,
    defaults={"n_steps": 64, "quadrature": "gausslegendre", "batch_size": 32},
    signed=True,
    choices={"quadrature": QUADRATURES},
    # at 256 tokens, 48 path points with autograd on the embedded MiniLM take about 2.6 GB
    limits={"n_steps": (1, 1024), "batch_size": (1, 48)},
    memory=_ig_memory,
)
def integrated_gradients(model, text, target, n_steps=64, quadrature="gausslegendre", batch_size=32):
    """Integrated gradients (Sundararajan, Taly & Yan, ICML 2017) on the token-embedding layer (Captum's LayerIG).

    Σ_d (e − e')_d ∫₀¹ ∂logit/∂e_d (e' + α(e − e')) dα per token, where e' embeds
    the pad-token baseline (every token replaced by [PAD], [CLS] and [SEP] kept);
    position and segment embeddings are the same on the whole path. The scores
    sum to logit(x) − logit(baseline); ``extras["completeness"]`` gives that
    difference, the sum and the relative error (within 1% at the default 64
    Gauss–Legendre steps on the embedded model).
    """
    enc = encode(model, text)
    steps, batch = positive_int("n_steps", n_steps), positive_int("batch_size", batch_size)
    if steps < 2 and quadrature != "gausslegendre":
        raise ExplainerError("Riemann sums need n_steps of at least 2.")
    index = top_index(model, enc, target)
    baseline = pad_baseline(model, enc)
    ig = LayerIntegratedGradients(_TargetLogit(model, index), model.embeddings)
    with warnings.catch_warnings(), torch.enable_grad():
        warnings.filterwarnings("ignore", message="Setting .*hooks")
        attribution = ig.attribute(enc.input_ids, baselines=baseline, n_steps=steps, method=quadrature,
                                   internal_batch_size=batch)
    with torch.inference_mode():
        ends = model.forward(torch.cat([enc.input_ids, baseline]))[:, index]
    scores = attribution.detach()[0].sum(-1).cpu().numpy().astype(np.float64)
    difference = float(ends[0] - ends[1])
    total = float(scores.sum())
    completeness = {
        "logit_difference": difference,
        "attribution_sum": total,
        "relative_error": abs(total - difference) / max(abs(difference), 1e-12),
    }
    # special tokens keep their (identical) embedding on the path, so their scores are exactly 0 already
    return finish(scores, enc), index, fields(enc, completeness=completeness)


# ---------------------------------------------------------------- attention methods


def _attentions(model, enc: Encoding) -> list[torch.Tensor]:
    with torch.inference_mode():
        layers = model.attentions(enc.input_ids)
    if not layers or any(a is None for a in layers):
        raise ExplainerError("The model does not return its attention weights, so attention methods do not apply.")
    return [a[0].float() for a in layers]  # (heads, T, T) per layer


@register("attention", modality="text", family="attention",
          cost=lambda params, model=None, **sizes: (1, 0), memory=_attention_memory)
def attention(model, text, target):
    """Raw attention (e.g. Jain & Wallace, 2019): the last layer's attention from the [CLS] position, mean over heads.

    Row 0 ([CLS]) of the last layer's attention matrix. The embedded MiniLM
    mean-pools all token states rather than reading [CLS], so this row is a
    convention (the one BERT classifiers read), not the whole story. Unsigned and
    the same for every class; [CLS]/[SEP] columns are zeroed.
    """
    enc = encode(model, text)
    index = top_index(model, enc, target)
    last = _attentions(model, enc)[-1].mean(0)
    return finish(last[0].cpu(), enc), index, fields(enc)


def rollout(layers: list[torch.Tensor]) -> torch.Tensor:
    """Attention rollout (Abnar & Zuidema, ACL 2020): Π_l (0.5·Ā_l + 0.5·I), rows renormalised; Ā_l = mean over heads."""
    result = None
    for a in layers:
        mixed = 0.5 * a.mean(0) + 0.5 * torch.eye(a.shape[-1], device=a.device, dtype=a.dtype)
        mixed = mixed / mixed.sum(-1, keepdim=True)
        result = mixed if result is None else mixed @ result
    return result


@register("attention-rollout", modality="text", family="attention", cost=lambda params, model=None, **sizes: (1, 0),
          memory=_attention_memory)
def attention_rollout(model, text, target):
    """Attention rollout (Abnar & Zuidema, ACL 2020): attention propagated through all layers, with the residual.

    Each layer's head-mean attention plus the identity (the residual
    connection), halved and row-normalised, multiplied from the first layer to
    the last; the [CLS] row. Unsigned and the same for every class.
    """
    enc = encode(model, text)
    index = top_index(model, enc, target)
    return finish(rollout(_attentions(model, enc))[0].cpu(), enc), index, fields(enc)


# ---------------------------------------------------------------- perturbation methods


@register("occlusion", modality="text", family="perturbation",
          cost=lambda params, model=None, **sizes: (sizes.get("n_tokens", COST_TEXT_TOKENS) + 1, 0), signed=True,
          memory=_batched_memory, exclusive=False)
def occlusion(model, text, target):
    """Leave-one-out occlusion (e.g. Li, Monroe & Jurafsky, 2016): p(x) − p(x without token i), for each token.

    p is the target's softmax probability; a token is left out by taking it out
    of the attention mask. One batched pass per token plus one for x.
    """
    enc = encode(model, text)
    content = torch.as_tensor(enc.content, device=enc.input_ids.device)
    n, T = len(content) + 1, enc.input_ids.shape[1]

    def make_batch(i, j):
        keep = torch.ones((j - i, T), dtype=torch.bool, device=enc.input_ids.device)
        rows = torch.arange(i, j, device=keep.device)
        drop = rows > 0
        keep[drop.nonzero()[:, 0], content[rows[drop] - 1]] = False
        return hidden_variants(enc, keep)

    logits = batched_logits(model, n, make_batch, batch_size=model.batch_size)
    index = int(logits[0].argmax()) if target is None else int(target)
    p = torch.softmax(logits, dim=1)[:, index].cpu().numpy().astype(np.float64)
    scores = np.zeros(T)
    scores[enc.content] = p[0] - p[1:]
    return finish(scores, enc), index, fields(enc, probability=float(p[0]))


_FULL_EVALS: dict = {}  # (tokenizer id, text) -> shap_full_evals; cleared past _FULL_EVALS_KEPT entries
_FULL_EVALS_KEPT = 64


def shap_full_evals(model, enc: Encoding) -> int:
    """The passes shap's Partition explainer makes on ``enc``'s text when ``max_evals`` does not stop it first: the
    fully hidden and the whole text, then two per visit of each internal node of the Text masker's token tree, a node
    at depth d visited 2^d times (once per context, on and off, of each ancestor). A short text needs far fewer
    than the default budget (9 tokens: 92 of 300; the estimate counted the budget: ~1.6x). Imports shap."""
    key = (id(model.tokenizer), enc.kept_text)
    if key not in _FULL_EVALS:
        import shap

        tree = shap.maskers.Text(model.tokenizer, mask_token=HIDDEN, output_type="token_ids").clustering(enc.kept_text)
        leaves, visits, stack = tree.shape[0] + 1, 0, [(2 * tree.shape[0], 0)]
        while stack:
            node, depth = stack.pop()
            if node < leaves or tree[node - leaves, 2] < 0:  # a token, or a group shap does not split
                continue
            visits += 2**depth
            stack += [(int(tree[node - leaves, 0]), depth + 1), (int(tree[node - leaves, 1]), depth + 1)]
        if len(_FULL_EVALS) >= _FULL_EVALS_KEPT:
            _FULL_EVALS.clear()
        _FULL_EVALS[key] = 2 + 2 * visits
    return _FULL_EVALS[key]


def _shap_cost(params, model=None, **sizes):
    """The budget's passes (``partition_passes``), or fewer when the text's tree is expanded whole first
    (``sizes["shap_evals"]``: ``shap_full_evals``, given by the text modality's sizes)."""
    return min(partition_passes(check_max_evals(params)), int(sizes.get("shap_evals", 1 << 62))), 0


@register(
    "shap",
    modality="text",
    family="perturbation",
    cost=_shap_cost,
    defaults={"max_evals": 300, "seed": 0},
    signed=True,
    limits={"max_evals": (2, 20000), "seed": SEED},
    memory=_batched_memory,
)
def shap_text(model, text, target, max_evals=300, seed=0):
    """SHAP (Lundberg & Lee, NeurIPS 2017), Partition explainer with shap's Text masker: Owen values over a token tree.

    shap builds a hierarchy of the tokens and, within ``max_evals`` passes (an
    upper bound: short texts need fewer), estimates each token's contribution
    to the target's softmax probability; a hidden token leaves the attention
    mask. The values add up to p(x) − p(all hidden) (``base_value``).
    """
    import shap

    enc = encode(model, text)
    evals = check_max_evals({"max_evals": max_evals})
    masker = shap.maskers.Text(model.tokenizer, mask_token=HIDDEN, output_type="token_ids")
    index = top_index(model, enc, target)

    def f(ids):
        ids = torch.as_tensor(np.asarray(ids, dtype=np.int64), device=model.device)
        if ids.ndim == 1:
            ids = ids[None]
        return probabilities(model, ids.shape[0], lambda i, j: ids[i:j], index).cpu().numpy()

    expect(min(partition_passes(evals), shap_full_evals(model, enc)))
    explainer = shap.explainers.Partition(f, masker)
    with seeded(seed, model.device), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = explainer([enc.kept_text], max_evals=evals, batch_size=model.batch_size, silent=True)
    values = np.asarray(result.values[0], dtype=np.float64).reshape(-1)
    if values.shape[0] != len(enc.tokens):
        raise ExplainerError("shap's Text masker split this text differently from the model's tokenizer.")
    out = fields(enc)
    out["base_value"] = float(np.asarray(result.base_values).reshape(-1)[0])
    return finish(values, enc), index, out


@register(
    "lime",
    modality="text",
    family="perturbation",
    cost=lambda params, model=None, **sizes: (positive_int("n_samples", params["n_samples"]), 0),
    defaults={"n_samples": 200, "seed": 0},
    signed=True,
    limits={"n_samples": (1, 20000), "seed": SEED},
    memory=_batched_memory,
)
def lime(model, text, target, n_samples=200, seed=0):
    """LIME (Ribeiro, Singh & Guestrin, KDD 2016), Captum's: a weighted ridge fit on random token subsets.

    ``n_samples`` copies of the text with random tokens hidden (each kept with
    probability ½), weighted by an exponential kernel on their cosine distance
    to the full text; the coefficients of a ridge regression (α = 1, as in the
    reference LIME) of the target's softmax probability on which tokens are kept.
    """
    enc = encode(model, text)
    samples = positive_int("n_samples", n_samples)
    index = top_index(model, enc, target)
    special = torch.as_tensor(enc.special, device=enc.input_ids.device)
    # feature 0 holds the special tokens, which the forward function always restores; token k is feature k
    mask = torch.zeros_like(enc.input_ids)
    mask[0, torch.as_tensor(enc.content, device=mask.device)] = torch.arange(1, len(enc.content) + 1, device=mask.device)

    def forward(ids):
        ids = torch.where(special, enc.input_ids, ids)
        return probabilities(model, ids.shape[0], lambda i, j: ids[i:j], index)

    expect(samples)
    with seeded(seed, model.device):
        attribution = Lime(forward, interpretable_model=SkLearnRidge(alpha=1.0)).attribute(
            enc.input_ids, baselines=HIDDEN, feature_mask=mask, n_samples=samples,
            perturbations_per_eval=model.batch_size,
        )
    return finish(attribution.detach()[0].cpu().numpy(), enc), index, fields(enc)
