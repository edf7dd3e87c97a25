"""What a causal LM's MLP neurons write: which of them drive the next token, and the tokens each one promotes.

A neuron is one input unit j of a block's down projection (the MLP's output layer): its activation a_j (the input
of ``down_proj`` at the last position) is written into the residual stream along the column W_down[:, j].
``lm-neurons`` scores every neuron of every block by gradient × activation of the target token's logit at the
last position (one forward and one backward), keeps the top ``top_k`` by |score|, and decodes each through the LM
head (Decoding specialised feature neurons in LLMs with the final projection layer): the logits W_U · (γ ⊙
W_down[:, j]) over the vocabulary, γ being the final norm's scale (``through_norm=True``, the default; the norm's
per-token 1/rms is left out, as it only rescales all the tokens of a neuron alike), or W_U · W_down[:, j] without it.
Its largest logits are the tokens the neuron promotes, its smallest those it suppresses.

``search_neurons(model, word)``: the neurons whose decoded top tokens contain a word, over all blocks, exactly and
vectorised: per block one matmul of the word's tokens' unembedding rows with every neuron, against a bound on
each neuron's k-th largest logit read from a strided sample of the vocabulary (one matmul per block, in chunks of
neurons so that memory stays bounded, kept per model); only the neurons above their bound are decoded over the
whole vocabulary (SmolLM2: 30 blocks × 1,536 neurons × 49,152 tokens in full would be 2.6 TFLOP; the sample's
bound is 1/12 of it, once per model, and a word then costs milliseconds).

``scores`` (so the explanation fits every generation view: the Generation page, Compare, reports): each
continuation token's logit's gradient × input over the prompt tokens, teacher forced in the same forward (one
backward per token, the first one the neurons' too), each row divided by its largest |value| into [-1, 1].
"""

from __future__ import annotations

import re

import numpy as np
import torch
from torch import nn

from explainers.core.budget import lm_logits_bytes, sequence_activation_bytes
from explainers.core.engine import check_cancel, passes_made, report_progress
from explainers.core.registry import register
from explainers.generation.methods import (
    COST_PROMPT_TOKENS, COST_TARGET_TOKENS, MAX_NEW_TOKENS, make_task, scale_rows, target_tokens,
)
from models.errors import ExplainerError, InputError
from models.per_model import PerModel

# The MLP output layers of the usual causal LM families (Llama/Mistral/Qwen/Gemma/SmolLM: mlp.down_proj; GPT-2:
# mlp.c_proj, a Conv1D; OPT: fc2; GPT-NeoX/Pythia: mlp.dense_4h_to_h; GPT-J: mlp.fc_out; Phi: mlp.fc2).
_DOWN = re.compile(r"(^|\.)(mlp|feed_forward|ffn)\.(down_proj|c_proj|fc2|dense_4h_to_h|fc_out|w2)$|(^|\.)fc2$")
# The final norm before the LM head, by the names the same families give it.
_FINAL_NORMS = ("model.norm", "transformer.ln_f", "gpt_neox.final_layer_norm", "model.final_layernorm",
                "model.decoder.final_layer_norm", "transformer.norm_f")
MAX_TOP_K = 200
MAX_TOKENS = 50
SEARCH_TOKENS = 10  # a neuron matches a word when one of its top (or bottom) SEARCH_TOKENS tokens spells it
SEARCH_SAMPLE = 4096  # vocabulary tokens each neuron's bound is read from (every V/4096-th token)
CHUNK_BYTES = 64 * 2**20  # one chunk of a block's decoding (vocabulary × neurons floats)

_BOUNDS = PerModel()  # (model, through_norm, sample) -> SearchBounds
_TOKEN_TEXTS = PerModel()


def down_projections(module: nn.Module) -> list[tuple[str, nn.Module]]:
    """Each block's MLP output layer (name, module), in block order; [] for a model without recognised ones."""
    found = []
    for name, sub in module.named_modules():
        if _DOWN.search(name) and _output_weight(sub) is not None:
            found.append((name, sub))
    return found


def _output_weight(layer: nn.Module) -> torch.Tensor | None:
    """The layer's weight as (d_model, n_neurons): a column per neuron (a Linear's own layout; Conv1D's transposed)."""
    weight = getattr(layer, "weight", None)
    if not isinstance(weight, torch.Tensor) or weight.ndim != 2:
        return None
    if isinstance(layer, nn.Linear):
        return weight
    if type(layer).__name__ == "Conv1D":  # transformers' GPT-2 layer: weight (in, out)
        return weight.t()
    return None


def _unembedding(module: nn.Module) -> torch.Tensor | None:
    head = module.get_output_embeddings() if hasattr(module, "get_output_embeddings") else None
    weight = getattr(head, "weight", None)
    return weight if isinstance(weight, torch.Tensor) and weight.ndim == 2 else None


def final_norm_scale(module: nn.Module) -> torch.Tensor | None:
    """The final norm's scale γ (d_model,), or None for a model without a known final norm (or one without scale)."""
    for name in _FINAL_NORMS:
        try:
            norm = module.get_submodule(name)
        except AttributeError:
            continue
        weight = getattr(norm, "weight", None)
        if isinstance(weight, torch.Tensor) and weight.ndim == 1:
            # Gemma's RMSNorm scales by (1 + weight); its class says so by name
            return weight + 1 if "Gemma" in type(norm).__name__ else weight
    return None


def fits(model) -> bool:
    """A causal LM whose MLP output layers and LM head Lumen can read (``requires`` of lm-neurons)."""
    module = getattr(model, "module", None)
    if module is None or getattr(model, "modality", None) != "generation":
        return False
    head = _unembedding(module)
    layers = down_projections(module)
    return head is not None and bool(layers) and all(_output_weight(l).shape[0] == head.shape[1] for _, l in layers)


def _check(model) -> list[tuple[str, nn.Module]]:
    if not fits(model):
        raise ExplainerError(f"{getattr(model, 'name', 'This model')} has no MLP output layers and LM head Lumen "
                             "can read (Llama-, GPT-2-, NeoX-, OPT-style causal LMs), so its neurons cannot be decoded.")
    return down_projections(model.module)


def direction_logits(model, directions: torch.Tensor, through_norm: bool = True) -> torch.Tensor:
    """Vocabulary logits (V, n) of residual-stream directions (d_model, n): W_U · (γ ⊙ directions)."""
    return _unembedding(model.module).detach() @ _scaled(model, directions.detach(), through_norm)


def decode_neuron(model, layer: int, index: int, n_tokens: int = 10, through_norm: bool = True) -> dict:
    """The tokens neuron ``index`` of block ``layer`` promotes and suppresses: {"promoted": [(token, logit), ...],
    "suppressed": [...]}, strongest first."""
    layers = _check(model)
    if not 0 <= int(layer) < len(layers):
        raise InputError(f"The model has blocks 0..{len(layers) - 1}; there is no block {layer}.")
    weight = _output_weight(layers[int(layer)][1])
    if not 0 <= int(index) < weight.shape[1]:
        raise InputError(f"Block {layer} has neurons 0..{weight.shape[1] - 1}; there is no neuron {index}.")
    logits = direction_logits(model, weight[:, int(index) : int(index) + 1], through_norm)[:, 0]
    return _tokens_of(model, logits, n_tokens)


def _tokens_of(model, logits: torch.Tensor, n_tokens: int) -> dict:
    k = max(1, min(int(n_tokens), logits.shape[0]))
    top = torch.topk(logits.float(), k)
    bottom = torch.topk(-logits.float(), k)
    words = model.token_strings
    return {
        "promoted": list(zip(words(top.indices.tolist()), [float(v) for v in top.values])),
        "suppressed": list(zip(words(bottom.indices.tolist()), [float(-v) for v in bottom.values])),
    }


def _cost(params, model=None, **sizes) -> tuple[int, int]:
    """One forward of the prompt and continuation; one backward per continuation token (the first also reaches the
    neurons)."""
    return 1, int(target_tokens(sizes))


def _memory(params, model, n_prompt=COST_PROMPT_TOKENS, n_target=COST_TARGET_TOKENS, **_) -> int:
    saved, _largest = sequence_activation_bytes(model, int(n_prompt) + int(n_target))
    return saved + lm_logits_bytes(model, int(n_target))


@register(
    "lm-neurons",
    modality="generation",
    family="neurons",
    cost=_cost,
    defaults={"top_k": 20, "n_tokens": 10, "through_norm": True, "max_new_tokens": 1},
    signed=True,
    limits={"top_k": (1, MAX_TOP_K), "n_tokens": (1, MAX_TOKENS), "max_new_tokens": MAX_NEW_TOKENS},
    memory=_memory,
    requires=fits,
    one_graph=True,  # one forward, then a backward per continuation token on its graph
)
def lm_neurons(model, encoded, target, top_k=20, n_tokens=10, through_norm=True, max_new_tokens=1):
    """MLP neurons that drive the next token (gradient × activation at the last prompt position), decoded through the LM head.

    Every block's down-projection input a (the neurons) is kept during one forward of the prompt and its
    continuation (given, else ``max_new_tokens`` generated greedily: by default the predicted next token); the
    backward of the first continuation token's logit gives ∂logit/∂a at the last prompt position, and a neuron's
    score is a · ∂logit/∂a there. The top ``top_k`` by |score| are decoded through the LM head (``n_tokens``
    promoted and suppressed tokens each). ``scores``: each continuation token's logit's gradient × input over the
    prompt tokens (one backward each), each row divided by its largest |value| (``extras["row_scale"]``).
    """
    layers = _check(model)
    if isinstance(target, (int, np.integer)):
        target = [int(target)]
    task = make_task(model, encoded, target, max_new_tokens)
    n_p, n_t = task.n_prompt, task.n_target
    ids = task.ids[:, :-1]  # the prompt and the continuation but its last token: position n_p - 1 + k predicts t_k
    kept: list[torch.Tensor] = []

    def keep(_module, args):
        kept.append(args[0])

    check_cancel()
    handles = [layer.register_forward_pre_hook(keep) for _, layer in layers]
    try:
        with torch.enable_grad():
            embeds = model.embeddings(ids).detach().requires_grad_(True)
            logits = model.forward(embeds, logits_to_keep=n_t)[0]  # (n_t, V)
            if len(kept) != len(layers):
                raise ExplainerError(f"Only {len(kept)} of the model's {len(layers)} MLP layers ran in its forward pass.")
            passes_made(1)
            chosen = logits[torch.arange(n_t, device=logits.device), task.target]
            grads = torch.autograd.grad(chosen[0], [embeds, *kept], retain_graph=n_t > 1)
            rows = [grads[0]]
            for k in range(1, n_t):
                check_cancel()
                rows.append(torch.autograd.grad(chosen[k], embeds, retain_graph=k < n_t - 1)[0])
    finally:
        for handle in handles:
            handle.remove()
    model.count_backward(n_t)
    at = n_p - 1  # the last prompt position: where the next token is predicted
    raw = torch.stack([(a[0, at] * g[0, at]).detach().float() for a, g in zip(kept, grads[1:])])  # (layers, neurons)
    k = max(1, min(int(top_k), raw.numel()))
    order = torch.topk(raw.abs().flatten(), k).indices
    n_neurons = raw.shape[1]
    neurons = []
    for flat in order.tolist():
        layer, index = divmod(int(flat), n_neurons)
        weight = _output_weight(layers[layer][1])
        decoded = _tokens_of(model, direction_logits(model, weight[:, index : index + 1], through_norm)[:, 0],
                             n_tokens)
        neurons.append({
            "layer": layer, "index": index, "score": float(raw[layer, index]),
            "activation": float(kept[layer][0, at, index].detach()),
            "promoted_tokens": decoded["promoted"], "suppressed_tokens": decoded["suppressed"],
            "module": layers[layer][0],
        })
    inputs = embeds.detach()[0, :n_p]
    scores, scale = scale_rows(torch.stack([(g[0, :n_p] * inputs).sum(-1).float() for g in rows]))
    norm = through_norm and final_norm_scale(model.module) is not None
    return scores, None, task.fields({
        "neurons": neurons,
        "neuron_scores": raw.cpu().numpy().astype(np.float32),  # (layers, neurons), raw gradient × activation
        "next_token": model.token_strings(task.encoded.target_ids[:1])[0],
        "decoding": "W_U · (γ ⊙ W_down[:, j]), γ the final norm's scale" if norm else "W_U · W_down[:, j]",
        "row_scale": scale,
        "target_logit": float(chosen[0].detach()),
    })


# ---------------------------------------------------------------- the search


class SearchBounds:
    """Per block, each neuron's k-th largest and k-th smallest logit over a sample of the vocabulary: a lower bound
    on its k-th largest logit over the whole vocabulary (and an upper bound on its k-th smallest)."""

    def __init__(self, high: list[torch.Tensor], low: list[torch.Tensor]):
        self.high, self.low = high, low


def search_bounds(model, through_norm: bool = True, sample: int = SEARCH_SAMPLE, progress=None) -> SearchBounds:
    """``SearchBounds`` of every block, kept per model: one matmul per block (the sampled unembedding rows with all
    its neurons, in chunks under ``CHUNK_BYTES``). ``progress(done, total)`` per block; Cancel is checked between."""
    return _BOUNDS.get(model, (bool(through_norm), int(sample)),
                       lambda: _bounds(model, bool(through_norm), int(sample), progress))


def _sample_ids(vocab: int, sample: int) -> torch.Tensor:
    return torch.arange(0, vocab, max(1, -(-vocab // max(1, sample))))


def _bounds(model, through_norm: bool, sample: int, progress) -> SearchBounds:
    layers = _check(model)
    head = _unembedding(model.module).detach()
    rows = head[_sample_ids(head.shape[0], sample).to(head.device)]
    k = min(SEARCH_TOKENS, head.shape[0])
    if rows.shape[0] < k:  # fewer sampled tokens than the k-th: no bound (every neuron is decoded in full)
        inf = torch.tensor(float("inf"))
        return SearchBounds([-inf.expand(_output_weight(l).shape[1]) for _, l in layers],
                            [inf.expand(_output_weight(l).shape[1]) for _, l in layers])
    chunk = max(1, CHUNK_BYTES // (4 * rows.shape[0]))
    high, low = [], []
    with torch.inference_mode():
        for i, (_, layer) in enumerate(layers):
            report_progress(i, len(layers))
            weight = _scaled(model, _output_weight(layer).detach(), through_norm)
            tops, bottoms = [], []
            for start in range(0, weight.shape[1], chunk):
                logits = (rows @ weight[:, start : start + chunk]).float()
                tops.append(torch.topk(logits, k, dim=0).values[-1])
                bottoms.append(-torch.topk(-logits, k, dim=0).values[-1])
            high.append(torch.cat(tops))
            low.append(torch.cat(bottoms))
            if progress is not None:
                progress(i + 1, len(layers))
    return SearchBounds(high, low)


def _scaled(model, weight: torch.Tensor, through_norm: bool) -> torch.Tensor:
    head = _unembedding(model.module)
    weight = weight.to(head.device, head.dtype)
    scale = final_norm_scale(model.module) if through_norm else None
    return weight if scale is None else weight * scale.detach().to(weight.dtype)[:, None]


def _token_texts(model) -> list[str]:
    vocab = _unembedding(model.module).shape[0]
    return _TOKEN_TEXTS.get(model, "texts", lambda: [t.strip().lower() for t in model.token_strings(range(vocab))])


def word_tokens(model, word: str) -> list[int]:
    """Ids of the vocabulary tokens that spell ``word`` (case and surrounding spaces ignored)."""
    wanted = word.strip().lower()
    if not wanted:
        raise InputError("Type a word to search the neurons' decoded tokens for.")
    return [i for i, text in enumerate(_token_texts(model)) if text == wanted]


def search_neurons(model, word: str, limit: int = 20, suppressed: bool = False, through_norm: bool = True,
                   n_tokens: int = 10, sample: int = SEARCH_SAMPLE, progress=None) -> list[dict]:
    """Neurons whose decoded top (``suppressed``: bottom) ``SEARCH_TOKENS`` tokens include a token spelling
    ``word`` (case and spaces ignored), over all blocks, best first: by the matching token's rank among the
    neuron's tokens, then by its logit. Each: {"layer", "index", "rank", "token", "logit", "promoted_tokens",
    "suppressed_tokens"}. Exact: a neuron is decoded over the whole vocabulary when the word's logit passes the
    bound of ``search_bounds`` (which a neuron whose k-th logit is higher than the word's cannot fail)."""
    matches = word_tokens(model, word)
    if not matches:
        return []
    bounds = search_bounds(model, through_norm, sample, progress)
    layers = _check(model)
    head = _unembedding(model.module).detach()
    wanted = head[torch.tensor(matches, device=head.device)]
    matched = torch.tensor(matches)
    k = min(SEARCH_TOKENS, head.shape[0])
    found = []
    with torch.inference_mode():
        for i, (_, layer) in enumerate(layers):
            check_cancel()
            weight = _scaled(model, _output_weight(layer).detach(), through_norm)
            values = (wanted @ weight).float()  # (words, neurons)
            # a margin for the rounding of two matmuls of different shapes: it only adds candidates
            if suppressed:
                bound = bounds.low[i].to(values.device)
                candidates = torch.nonzero(values.min(dim=0).values <= bound + 1e-4 * bound.abs() + 1e-6)[:, 0]
            else:
                bound = bounds.high[i].to(values.device)
                candidates = torch.nonzero(values.max(dim=0).values >= bound - 1e-4 * bound.abs() - 1e-6)[:, 0]
            for start in range(0, candidates.numel(), 256):
                chosen = candidates[start : start + 256]
                logits = (head @ weight[:, chosen]).float()
                ranked = torch.topk(-logits if suppressed else logits, k, dim=0)
                hit = torch.isin(ranked.indices.cpu(), matched)  # (k, chosen)
                for column in torch.nonzero(hit.any(dim=0))[:, 0].tolist():
                    rank = int(torch.nonzero(hit[:, column])[0, 0])
                    token = int(ranked.indices[rank, column])
                    found.append((rank, -float(ranked.values[rank, column]), i, int(chosen[column]), token))
    found.sort()
    out = []
    for rank, strength, layer, index, token in found[: int(limit)]:
        tokens = decode_neuron(model, layer, index, n_tokens=n_tokens, through_norm=through_norm)
        out.append({"layer": layer, "index": index, "rank": rank, "token": model.token_strings([token])[0],
                    "logit": strength if suppressed else -strength,
                    "promoted_tokens": tokens["promoted"], "suppressed_tokens": tokens["suppressed"]})
    return out
