"""Attribution for generative language models: which prompt tokens each generated token rests on.

Every method explains, for each target token t_k, the model's prediction of t_k
given the prompt and the earlier target tokens t_<k. The attributed set is the
PROMPT tokens only: earlier target tokens stay in the input, unchanged, as fixed
context (they are never perturbed, interpolated or scored). ``scores`` has shape
(n_target_tokens, n_prompt_tokens).

The target is the continuation text (tokenised on its own, after the prompt) or
a list of token ids; None generates ``max_new_tokens`` greedily first. Every pass
goes through ``model.forward`` inside the one engine (explainers/core/engine.py), so
it is counted, batched, reported as progress and can be cancelled.

Signed methods (gradient × input, integrated gradients) divide each row by its
largest |value| into [-1, 1] and keep the divisors in ``extras["row_scale"]``
(raw = scores × row_scale[:, None]); occlusion's probability drops are already
in [-1, 1] and stay raw; attention and ReAGent lie in [0, 1].
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from explainers.core.engine import batched_logits, check_cancel, expect
from explainers.image.gradients import positive_int
from explainers.core.budget import (
    FLOAT, attention_bytes, configured_budget, counted_batch, forward_bytes, lm_logits_bytes, sequence_activation_bytes,
)
from explainers.core.registry import SEED, register
from models.errors import ExplainerError
from models.adapters.causal_lm import MAX_TARGET_TOKENS, CausalLM, Encoded

COST_PROMPT_TOKENS = 20  # sizes the cost models assume when the page gives none
COST_TARGET_TOKENS = 10
BATCH_SHARE = 0.5  # of the run budget, for one batch of rows (rows_per_batch)
MAX_NEW_TOKENS = (1, MAX_TARGET_TOKENS)  # every generation method's max_new_tokens: the longest continuation explained

@dataclass
class Task:
    """One prompt and its target continuation on the model's device."""

    model: CausalLM
    encoded: Encoded

    @property
    def n_prompt(self) -> int:
        return len(self.encoded.prompt_ids)

    @property
    def n_target(self) -> int:
        return len(self.encoded.target_ids)

    @property
    def ids(self) -> torch.Tensor:
        """(1, T) prompt + target ids."""
        return torch.tensor([self.encoded.ids], device=self.model.device)

    @property
    def target(self) -> torch.Tensor:
        return torch.tensor(self.encoded.target_ids, device=self.model.device)

    def fields(self, extras: dict | None = None) -> dict:
        """The Explanation fields every generation method returns."""
        model, enc = self.model, self.encoded
        extras = dict(extras or {})
        extras.update(prompt_ids=list(enc.prompt_ids), target_ids=list(enc.target_ids))
        if enc.warning:
            extras["warning"] = enc.warning
        return {
            "tokens": model.token_strings(enc.prompt_ids),
            "target_tokens": model.token_strings(enc.target_ids),
            "target_label": model.decode(enc.target_ids),
            "extras": extras,
        }


def make_task(model, text: str, target, max_new_tokens: int = 20) -> Task:
    """Tokenise the prompt and the target; with no target, generate ``max_new_tokens`` greedily."""
    if getattr(model, "modality", None) != "generation":
        raise ExplainerError("This method explains generative language models only.")
    encoded = model.encode(text, target)
    if target is None:
        encoded.target_ids = model.generate(encoded, positive_int("max_new_tokens", max_new_tokens))
        if not encoded.target_ids:
            raise ExplainerError(
                "The model generated nothing for this prompt: its most likely next token is end-of-text. "
                "Change the prompt, or give the continuation to explain as the target."
            )
    return Task(model, encoded)


def _row_bytes(model, n_prompt: int, n_target: int, grad: bool) -> int:
    """One prompt + target row through the language model (with autograd when ``grad``), the kept logits and
    their log-softmax included."""
    n = n_prompt + n_target
    saved, largest = sequence_activation_bytes(model, n)
    return (saved if grad else forward_bytes(largest, n * 8)) + lm_logits_bytes(model, n_target) * (2 if grad else 1)


def rows_per_batch(model, n_prompt: int, n_target: int, grad: bool) -> int:
    """The model's batch size, lowered for long rows so that one batch takes at most ``BATCH_SHARE`` of the
    configured run budget (SmolLM2 with autograd: about 1.3 MB a token, so 8 rows of 1,280 tokens would take 13 GB)."""
    fit = int(BATCH_SHARE * configured_budget()) // max(1, _row_bytes(model, n_prompt, n_target, grad))
    return max(1, min(model.batch_size(n_prompt + n_target), fit))


def lm_rows_bytes(model, n_prompt: int, n_target: int, rows: int, grad: bool) -> int:
    """Peak bytes of ``rows`` rows through the language model in ``rows_per_batch`` batches."""
    batch = counted_batch(model, rows_per_batch(model, n_prompt, n_target, grad))
    return max(1, min(rows, batch)) * _row_bytes(model, n_prompt, n_target, grad)


def prompt_tokens(sizes: dict) -> int:
    """The prompt's length in tokens among a cost's ``sizes``; the assumed one when the caller gives none."""
    return sizes.get("n_prompt", COST_PROMPT_TOKENS)


def target_tokens(sizes: dict) -> int:
    """The continuation's length in tokens among a cost's ``sizes``; the assumed one when the caller gives none."""
    return sizes.get("n_target", COST_TARGET_TOKENS)


def one_pass_memory(params, model, n_prompt=COST_PROMPT_TOKENS, n_target=COST_TARGET_TOKENS) -> int:
    return lm_rows_bytes(model, n_prompt, n_target, 1, grad=False)


def _occlusion_memory(params, model, n_prompt=COST_PROMPT_TOKENS, n_target=COST_TARGET_TOKENS) -> int:
    return lm_rows_bytes(model, n_prompt, n_target, n_prompt, grad=False)


def _attention_memory(params, model, n_prompt=COST_PROMPT_TOKENS, n_target=COST_TARGET_TOKENS) -> int:
    """Every layer's attention weights are returned at once (layers × heads × L² floats)."""
    return attention_bytes(model, n_prompt + n_target) + lm_rows_bytes(model, n_prompt, n_target, 1, grad=False)


def _gradient_memory(params, model, n_prompt=COST_PROMPT_TOKENS, n_target=COST_TARGET_TOKENS) -> int:
    return lm_rows_bytes(model, n_prompt, n_target, n_target, grad=True)


def _ig_memory(params, model, n_prompt=COST_PROMPT_TOKENS, n_target=COST_TARGET_TOKENS) -> int:
    """The gradient rows in batches, and each target token's intervals (contributions and bounds, and the
    copies ``torch.cat`` makes while refining)."""
    steps = int(params["n_steps"])  # intervals in all at most: a float64 gradient per prompt token and 4 bounds each
    return (lm_rows_bytes(model, n_prompt, n_target, n_target * steps, grad=True)
            + 2 * n_target * steps * (n_prompt + 4) * 2 * FLOAT)


def target_logprobs(model, x: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """log p(t_k | x_<position of t_k) for every row of x (B, T[, D]) whose last len(target) tokens are the target."""
    n = target.shape[0]
    logits = model.forward(x, logits_to_keep=n + 1)[:, :-1]  # positions T-n-1 .. T-2 predict t_0 .. t_{n-1}
    logp = torch.log_softmax(logits.float(), dim=-1)
    return logp.gather(-1, target.view(1, n, 1).expand(x.shape[0], n, 1))[..., 0]


def scale_rows(raw: torch.Tensor) -> tuple[np.ndarray, np.ndarray]:
    """Each row divided by its largest |value| (rows of zeros stay zero) and the divisors."""
    scale = raw.abs().amax(dim=1).clamp_min(1e-30)
    return (raw / scale[:, None]).cpu().numpy().astype(np.float32), scale.cpu().numpy().astype(np.float32)


# ---------------------------------------------------------------- occlusion


@register(
    "occlusion",
    modality="generation",
    family="perturbation",
    cost=lambda params, model=None, **sizes: (prompt_tokens(sizes) + 1, 0),
    defaults={"max_new_tokens": 20},
    signed=True,
    exclusive=False,  # forward passes only, no hook: runs beside other runs
    limits={"max_new_tokens": MAX_NEW_TOKENS},
    memory=_occlusion_memory,
)
def occlusion(model, text, target, max_new_tokens=20):
    """Leave-one-out (occlusion of single tokens, Zeiler & Fergus 2014; Li et al. 2016): p(t_k | x) − p(t_k | x without token i).

    Token i is deleted from the prompt (not replaced), the target continuation kept;
    one pass per prompt token, batched, plus one on the whole input. Probabilities,
    so the scores lie in [-1, 1]: negative where removing the token makes t_k likelier.
    """
    task = make_task(model, text, target, max_new_tokens)
    if task.n_prompt < 2:
        raise ExplainerError("Occlusion needs a prompt of at least two tokens: without its only token nothing predicts the target.")
    ids, n_p, tgt = task.ids[0], task.n_prompt, task.target
    expect(n_p + 1)

    def left_out(i: int, j: int) -> torch.Tensor:
        keep = torch.ones((j - i, ids.shape[0]), dtype=torch.bool, device=ids.device)
        keep[torch.arange(j - i), torch.arange(i, j)] = False
        return ids.expand(j - i, -1)[keep].view(j - i, -1)

    def run(x):
        return target_logprobs(model, x, tgt).exp()

    batch = rows_per_batch(model, n_p, task.n_target, grad=False)
    full = batched_logits(model, 1, lambda i, j: ids[None], batch_size=1, forward=run)
    dropped = batched_logits(model, n_p, left_out, batch_size=batch, forward=run)
    scores = (full - dropped).T  # (n_target, n_prompt)
    return scores.cpu().numpy().astype(np.float32), None, task.fields({"probability": full[0].cpu().numpy()})


# ---------------------------------------------------------------- attention


@register(
    "attention",
    modality="generation",
    family="attention",
    cost=lambda params, model=None, **sizes: (1, 0),
    defaults={"max_new_tokens": 20},
    limits={"max_new_tokens": MAX_NEW_TOKENS},
    memory=_attention_memory,
)
def attention(model, text, target, max_new_tokens=20):
    """Attention weights (as in Jain & Wallace 2019's analysis): last layer, mean over heads, from the position predicting t_k.

    Row k holds the attention that the position whose output predicts t_k pays to each
    prompt token (weights on earlier target tokens are left out, so a row sums to at most 1).
    One pass with the eager attention kernel, whose weights are observable.
    """
    task = make_task(model, text, target, max_new_tokens)
    n_p, n_t = task.n_prompt, task.n_target
    expect(1)

    def run(x):
        last = model.attentions(x)[-1]  # (B, heads, T, T)
        return last.float().mean(dim=1)[:, n_p - 1 : n_p - 1 + n_t, :n_p]

    weights = batched_logits(model, 1, lambda i, j: task.ids, batch_size=1, forward=run)[0]
    return weights.cpu().numpy().astype(np.float32), None, task.fields()


# ---------------------------------------------------------------- gradients on the input embeddings


def gradient_contributions(task: Task, ks: torch.Tensor, alphas: torch.Tensor, reference: torch.Tensor) -> torch.Tensor:
    """(e − e') · ∂ log p(t_{k_r}) / ∂e at e' + α_r (e − e'), summed over dimensions: (rows, n_prompt).

    Row r moves the prompt's embeddings e to the point α_r of the straight path from the
    reference e' (earlier target tokens stay as they are) and back-propagates target token
    k_r's log-probability. One forward and one backward pass per row, batched by the engine.
    """
    model, n_p, tgt = task.model, task.n_prompt, task.target
    with torch.no_grad():
        embeds = model.embeddings(task.ids).detach()  # (1, T, D)
    delta = embeds[0, :n_p] - reference
    current: dict = {}

    def make_batch(i: int, j: int) -> torch.Tensor:
        current["ks"] = ks[i:j]  # the engine runs this batch next (again after an out-of-memory halving)
        x = embeds.expand(j - i, -1, -1).clone()
        x[:, :n_p] = reference + alphas[i:j, None, None] * delta
        return x

    def run(x: torch.Tensor) -> torch.Tensor:
        x = x.detach().requires_grad_(True)
        logp = target_logprobs(model, x, tgt)
        chosen = logp[torch.arange(x.shape[0], device=x.device), current["ks"]]
        model.count_backward(int(x.shape[0]))
        (grad,) = torch.autograd.grad(chosen.sum(), x)
        return (grad[:, :n_p] * delta).sum(-1)

    size = rows_per_batch(model, n_p, task.n_target, grad=True)
    return batched_logits(model, len(ks), make_batch, batch_size=size, forward=run, grad=True)


def path_logprobs(task: Task, alphas: torch.Tensor, reference: torch.Tensor) -> torch.Tensor:
    """log p(t_k) for every target token at points α of the path from the reference: (len(alphas), n_target), forward only."""
    model, n_p = task.model, task.n_prompt
    with torch.no_grad():
        embeds = model.embeddings(task.ids).detach()
    delta = embeds[0, :n_p] - reference

    def make_batch(i: int, j: int) -> torch.Tensor:
        x = embeds.expand(j - i, -1, -1).clone()
        x[:, :n_p] = reference + alphas[i:j, None, None] * delta
        return x

    size = rows_per_batch(model, n_p, task.n_target, grad=False)
    return batched_logits(model, len(alphas), make_batch, batch_size=size, forward=lambda x: target_logprobs(model, x, task.target))


@register(
    "gradient-x-input",
    modality="generation",
    family="gradient",
    cost=lambda params, model=None, **sizes: (target_tokens(sizes), target_tokens(sizes)),
    defaults={"max_new_tokens": 20},
    signed=True,
    limits={"max_new_tokens": MAX_NEW_TOKENS},
    memory=_gradient_memory,
)
def gradient_x_input(model, text, target, max_new_tokens=20):
    """Gradient × input (Shrikumar et al. 2016) on the input embeddings: e_i · ∂ log p(t_k) / ∂e_i, summed over dimensions.

    One forward and one backward pass per target token (batched). Rows scaled into [-1, 1].
    """
    task = make_task(model, text, target, max_new_tokens)
    expect(task.n_target)
    dev = model.device
    zero = torch.zeros((task.n_prompt, model.embeddings(task.ids[:, :1]).shape[-1]), device=dev)
    ks = torch.arange(task.n_target, device=dev)
    raw = gradient_contributions(task, ks, torch.ones(task.n_target, device=dev), zero)
    scores, scale = scale_rows(raw)
    return scores, None, task.fields({"row_scale": scale})


IG_BASELINES = ("pad", "zeros")


def ig_reference(model, n_prompt: int, baseline: str) -> torch.Tensor:
    """(n_prompt, D) reference embeddings: every prompt token replaced by the pad token (``"pad"``), or zeros."""
    if baseline == "zeros":
        return torch.zeros((n_prompt, model.module.get_input_embeddings().weight.shape[1]), device=model.device)
    pad = model.tokenizer.pad_token_id
    pad = pad if pad is not None else min(model.eos_ids) if model.eos_ids else 0
    with torch.no_grad():
        return model.embeddings(torch.full((1, n_prompt), int(pad), device=model.device))[0].detach()


def ig_grid(steps: int) -> int:
    """Intervals per target token in integrated gradients' first grid, for ``steps`` gradient evaluations per token."""
    return max(1, steps // 4)


def _ig_cost(params, model=None, **sizes):
    """The passes of a run that spends its budget (a run whose every row converges first makes fewer): ``n_steps``
    gradient evaluations per target token (the last trisection may leave one), each a forward and a backward; the
    first grid's edges (forward only, every target token at once) and two edges more per trisection."""
    steps, n_target = positive_int("n_steps", params["n_steps"]), target_tokens(sizes)
    start = ig_grid(steps)
    splits = n_target * (steps - start) // 2
    gradients = n_target * start + 2 * splits
    return gradients + start + 1 + 2 * splits, gradients


IG_SPLITS_PER_ROUND = 16  # intervals trisected per target token and round (one batch of passes for all of them)
IG_SMALLEST = 1e-6  # an interval this short is not divided further (float32 path points would coincide)
IG_SMALLEST_CHANGE = 0.05  # nats: a row whose log-probability changes less is weighed as if it changed this much


@register(
    "integrated-gradients",
    estimate_note=("integrated gradients: at most, its budget of n_steps gradients per token (it stops earlier only "
                   "when every token's attributions are complete)"),
    modality="generation",
    family="gradient",
    cost=_ig_cost,
    defaults={"max_new_tokens": 20, "n_steps": 256, "baseline": "pad", "tolerance": 0.005},
    signed=True,
    choices={"baseline": IG_BASELINES},
    limits={"max_new_tokens": MAX_NEW_TOKENS, "n_steps": (1, 4096), "tolerance": (0.0, 1.0)},
    memory=_ig_memory,
)
def integrated_gradients(model, text, target, max_new_tokens=20, n_steps=256, baseline="pad", tolerance=0.005):
    """Integrated gradients (Sundararajan, Taly & Yan 2017) on the prompt's input embeddings, target log p(t_k).

    (e_i − e'_i) · ∫₀¹ ∂ log p(t_k)/∂e_i (e' + α(e − e')) dα, summed over embedding
    dimensions; only prompt embeddings move along the path (earlier target tokens stay).
    Quadrature: an adaptive midpoint rule with a fixed budget. The path through a language model
    is far from smooth (on SmolLM2 the derivative along it spikes to thousands over a few
    thousandths of the path), so a fixed grid of 32–400 points misses completeness by 40% or more.
    The budget is ``n_steps`` gradient evaluations per target token, ``n_target × n_steps`` in all:
    the rule starts from ``n_steps / 4`` equal intervals per token; the log-probability is also
    evaluated at their ends (forward passes, all target tokens at once), so each interval's error
    is known: its gradient sum against the change of log p across it. The worst intervals of the
    rows not yet complete (Σ attributions off log p(t_k|e) − log p(t_k|e') by more than
    ``tolerance``, relative; a row's errors are weighed against its change, taken as at least
    ``IG_SMALLEST_CHANGE``) are divided in three — the middle third keeps the interval's midpoint
    and its gradient, so a division costs two gradients and two log-probabilities — until the
    budget is spent, wherever along the path and in whichever row the error is; it stops earlier
    only when every row is complete. So a run makes at most the passes its cost says, and exactly
    those unless every row converges first. Same integral, finer nodes where needed.
    Baseline ``"pad"`` (default): every prompt token replaced by the pad token's embedding —
    a real input that carries no content. ``"zeros"`` (all-zero embeddings) sits where RMS
    normalisation is singular: the path is chaotic near it and the quadrature rarely converges.
    ``extras``: ``output_delta`` (log p(t_k|e) − log p(t_k|e')), ``completeness_delta``
    (Σ attributions − output_delta), ``relative_completeness``, ``steps`` (gradient
    evaluations per token) and ``ranked_first`` (each row's top prompt token).
    """
    steps = positive_int("n_steps", n_steps)
    tol = float(tolerance)
    if not 0 < tol < 1:
        raise ExplainerError(f"tolerance must lie strictly between 0 and 1 (got {tolerance!r}).")
    task = make_task(model, text, target, max_new_tokens)
    n_t, n_p, dev = task.n_target, task.n_prompt, model.device
    reference = ig_reference(model, n_p, baseline)
    n_forward, n_backward = _ig_cost({"n_steps": steps}, n_target=n_t)
    expect(n_forward)  # the budget: a run that converges first makes fewer
    start = ig_grid(steps)
    splits_left = (n_forward - n_backward - start - 1) // 2

    edges = torch.linspace(0, 1, start + 1, device=dev, dtype=torch.float64)
    f_edges = path_logprobs(task, edges, reference).double()  # (start + 1, n_t)
    # per target token: interval bounds (a, b), f at both ends, the gradient at the midpoint (summed over dimensions
    # after × (e − e'), per prompt token); an interval contributes gradient × its length
    lo = [edges[:-1].clone() for _ in range(n_t)]
    hi = [edges[1:].clone() for _ in range(n_t)]
    f_lo = [f_edges[:-1, k].clone() for k in range(n_t)]
    f_hi = [f_edges[1:, k].clone() for k in range(n_t)]
    ks = torch.arange(n_t, device=dev).repeat_interleave(start)
    mids = ((edges[:-1] + edges[1:]) / 2).repeat(n_t)
    grads = gradient_contributions(task, ks, mids, reference).double().view(n_t, start, n_p)
    grad = [grads[k] for k in range(n_t)]
    output_delta = f_edges[-1] - f_edges[0]
    scale = output_delta.abs().clamp_min(IG_SMALLEST_CHANGE)  # a row's errors are weighed relative to its change

    while splits_left > 0:
        check_cancel()
        # each open row's intervals, ranked by their error relative to the row's output change
        candidates = []  # (relative error, k, interval index)
        for k in range(n_t):
            width = hi[k] - lo[k]
            contrib = grad[k] * width[:, None]
            if abs(float(contrib.sum() - output_delta[k])) <= tol * float(scale[k]):
                continue
            err = (contrib.sum(1) - (f_hi[k] - f_lo[k])).abs() / scale[k]
            err[width < 3 * IG_SMALLEST] = -1.0
            top = torch.argsort(err, descending=True)[:IG_SPLITS_PER_ROUND]
            candidates += [(float(err[i]), k, int(i)) for i in top if float(err[i]) >= 0]
        if not candidates:
            break
        candidates.sort(key=lambda c: -c[0])
        chosen: dict[int, list[int]] = {}
        for _, k, i in candidates[:splits_left]:
            chosen.setdefault(k, []).append(i)
        todo = [(k, torch.tensor(idx, device=dev)) for k, idx in chosen.items()]
        splits_left -= sum(len(idx) for _, idx in todo)
        # divide each chosen [a, b] in three: f at a + h/3 and a + 2h/3 (new edges), gradients at the outer thirds'
        # midpoints a + h/6 and b − h/6; the middle third's midpoint is the old one, its gradient kept
        thirds = [(lo[k][idx], hi[k][idx]) for k, idx in todo]
        new_edges = torch.cat([torch.cat([a + (b - a) / 3, a + 2 * (b - a) / 3]) for a, b in thirds])
        f_new = path_logprobs(task, new_edges, reference).double()
        row_k = torch.cat([torch.full((2 * len(idx),), k, device=dev) for k, idx in todo])
        row_a = torch.cat([torch.cat([a + (b - a) / 6, b - (b - a) / 6]) for a, b in thirds])
        g = gradient_contributions(task, row_k, row_a, reference).double()
        at = 0
        for (k, idx), (a, b) in zip(todo, thirds):
            n = len(idx)
            f1, f2 = f_new[2 * at : 2 * at + n, k], f_new[2 * at + n : 2 * at + 2 * n, k]
            g_left, g_right = g[2 * at : 2 * at + n], g[2 * at + n : 2 * at + 2 * n]
            at += n
            h = (b - a) / 3
            keep = torch.ones(len(lo[k]), dtype=torch.bool, device=dev)
            keep[idx] = False
            grad[k] = torch.cat([grad[k][keep], g_left, grad[k][idx], g_right])
            f_lo[k] = torch.cat([f_lo[k][keep], f_lo[k][idx], f1, f2])
            f_hi[k] = torch.cat([f_hi[k][keep], f1, f2, f_hi[k][idx]])
            lo[k] = torch.cat([lo[k][keep], a, a + h, a + 2 * h])
            hi[k] = torch.cat([hi[k][keep], a + h, a + 2 * h, b])

    contrib = [grad[k] * (hi[k] - lo[k])[:, None] for k in range(n_t)]
    raw = torch.stack([c.sum(0) for c in contrib]).float()
    output = output_delta.cpu().numpy()
    completeness = raw.sum(dim=1).cpu().numpy() - output
    scores, scale = scale_rows(raw)
    tokens = model.token_strings(task.encoded.prompt_ids)
    extras = {
        "row_scale": scale,
        "output_delta": output.astype(np.float32),
        "completeness_delta": completeness.astype(np.float32),
        "relative_completeness": (np.abs(completeness) / np.maximum(np.abs(output), 1e-12)).astype(np.float32),
        "steps": [len(x) for x in lo],  # the midpoint of every interval: one gradient each
        "ranked_first": [tokens[int(i)] for i in raw.argmax(dim=1).cpu().numpy()],
        "baseline": baseline,
    }
    return scores, None, task.fields(extras)
