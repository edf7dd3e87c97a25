"""ReAGent (Zhao & Shan, 2024, "ReAGent: A Model-agnostic Feature Attribution Method for Generative
Language Models"), as Inseq implements it, with pluggable replacement samplers."""

from __future__ import annotations

import statistics
import threading
import weakref
from collections import deque

import numpy as np
import torch

from explainers.core.engine import batched_logits, begin_part, check_cancel, expect
from explainers.generation.methods import (
    COST_PROMPT_TOKENS, COST_TARGET_TOKENS, MAX_NEW_TOKENS, lm_rows_bytes, make_task, prompt_tokens, target_logprobs,
    target_tokens,
)
from explainers.image.gradients import positive_int
from explainers.core.registry import SEED, register
from models.errors import ExplainerError, ModelLoadError

SAMPLERS = ("uniform", "causal-lm", "fill-in", "masked-lm")
# A probe's steps per target token, on average over probes: what the cost shown before a run assumes until this
# model has runs of its own (``typical_probe_steps``). Every probe makes at least one step (two passes) and stops
# when its check passes, which depends on the prompt and the token: most probes stop at their first or second
# check, a few run tens of steps. Measured on SmolLM2-135M at the defaults (2026-12-06), mean steps per probe and
# token: 1.81, 1.28 and 1.78 for 6 generated tokens after prompts of 5, 6 and 19 tokens, 2.19 for 4 after 5; the
# slowest probe of a token took 1 to 46 steps. (The cost assumed 10 before: 5x the passes a run made.)
PRIOR_PROBE_STEPS = 1.8
RECENT_RUNS = 5  # runs whose mean probe steps the median is taken over
MASKED_LM_CANDIDATES = 50
_EPS = 1e-6
_RECENT: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()  # model -> {parameters: deque of mean steps}
_RECENT_LOCK = threading.Lock()


def _steps_key(params) -> tuple:
    """The parameters a probe's stopping depends on (a model's runs are remembered per such set)."""
    return tuple(params.get(k) for k in ("keep_top_n", "stopping_top_k", "replacing_ratio", "sampler", "masked_lm"))


def typical_probe_steps(model, params) -> float:
    """The mean steps a probe makes per target token: the median over this model's last ``RECENT_RUNS`` runs with
    the same stopping parameters, else ``PRIOR_PROBE_STEPS`` (at most ``max_probe_steps``)."""
    with _RECENT_LOCK:
        recent = _RECENT.get(model, {}).get(_steps_key(params)) if model is not None else None
        typical = statistics.median(recent) if recent else PRIOR_PROBE_STEPS
    return min(typical, float(positive_int("max_probe_steps", params["max_probe_steps"])))


def record_probe_steps(model, params, mean_steps: float) -> None:
    """Remember a finished run's mean steps per probe and target token (``typical_probe_steps`` reads them)."""
    with _RECENT_LOCK:
        per_model = _RECENT.setdefault(model, {})
        per_model.setdefault(_steps_key(params), deque(maxlen=RECENT_RUNS)).append(float(mean_steps))


def setup_passes(sampler: str, n_prompt: int, model=None) -> int:
    """Passes a sampler makes before the probes: the causal LM's one; fill-in's one and a row per candidate
    (``FILL_IN_CANDIDATES``, fewer in a smaller vocabulary) for every position but the last (its candidates
    need no right-hand context)."""
    candidates = FILL_IN_CANDIDATES
    if model is not None and hasattr(model, "vocab_size"):
        special = {i for i in getattr(model, "special_ids", ()) if 0 <= i < model.vocab_size}
        candidates = max(1, min(candidates, model.vocab_size - len(special) - 1))  # not the token itself
    return {"causal-lm": 1, "fill-in": 1 + (n_prompt - 1) * candidates}.get(sampler, 0)


def _reagent_cost(params, model=None, **sizes):
    """Typical passes: the original prediction, the sampler's set-up, and two passes (a step's replacement and its
    stopping check) per active probe and step, ``typical_probe_steps`` steps per probe and target token. At
    least ``2 × num_probes`` per target token (every probe steps once); a run stops when its probes do."""
    n_prompt, n_target = prompt_tokens(sizes), target_tokens(sizes)
    probes = positive_int("num_probes", params["num_probes"])
    steps = typical_probe_steps(model, params)
    return 1 + setup_passes(params["sampler"], n_prompt, model) + round(n_target * 2 * probes * steps), 0


def _reagent_rows(params, model=None, **sizes) -> list[tuple[int, int | None, float]]:
    """How ReAGent's passes go: the original prediction (one row); the sampler's set-up (rows of the prompt, in the
    engine's batches); each target token's first step (every probe active: two batches of ``num_probes`` rows of the
    prompt and the earlier target tokens); its later steps (the few probes still active: taken one row at a time)."""
    n_prompt, n_target = prompt_tokens(sizes), target_tokens(sizes)
    probes = positive_int("num_probes", params["num_probes"])
    n_forward = _reagent_cost(params, model, **sizes)[0]
    setup = setup_passes(params["sampler"], n_prompt, model)
    first = 2 * probes * n_target
    row = n_prompt + (n_target - 1) / 2
    return [(1, 1, n_prompt + n_target), (setup, None, n_prompt), (first, probes, row),
            (max(n_forward - 1 - setup - first, 0), 1, row)]


def _reagent_memory(params, model, n_prompt=COST_PROMPT_TOKENS, n_target=COST_TARGET_TOKENS) -> int:
    """The probes of one step go through the model as one batch; the fill-in sampler's candidates in the engine's."""
    rows = int(params["num_probes"])
    if params["sampler"] == "fill-in":
        rows = max(rows, n_prompt * FILL_IN_CANDIDATES)
    return lm_rows_bytes(model, n_prompt, n_target, rows, grad=False)


@register(
    "reagent",
    estimate_note=("ReAGent: typical, its probes stop when their check passes (steps per probe as in this model's "
                   "recent runs, else as on SmolLM2's test prompts; at least one each)"),
    modality="generation",
    family="perturbation",
    cost=_reagent_cost,
    defaults={
        "max_new_tokens": 20,
        "keep_top_n": 5,
        "stopping_top_k": 3,
        "replacing_ratio": 0.3,
        "max_probe_steps": 3000,
        "num_probes": 16,
        "sampler": "fill-in",
        "masked_lm": None,
        "seed": 0,
    },
    choices={"sampler": SAMPLERS},
    # max_probe_steps bounds time only (a probe usually stops within tens of steps); probes run as one batch
    limits={"max_new_tokens": MAX_NEW_TOKENS, "keep_top_n": (0, 1024), "stopping_top_k": (1, 1000),
            "replacing_ratio": (0.0, 1.0), "max_probe_steps": (1, 10000), "num_probes": (1, 256), "seed": SEED},
    memory=_reagent_memory,
    row_groups=_reagent_rows,
)
def reagent(
    model, text, target, max_new_tokens=20, keep_top_n=5, stopping_top_k=3, replacing_ratio=0.3,
    max_probe_steps=3000, num_probes=16, sampler="fill-in", masked_lm=None, seed=0,
):  # fmt: skip
    """ReAGent (Zhao & Shan 2024): probes replace random prompt tokens and credit those whose replacement lowers p(t_k).

    For target token t (with the earlier target tokens as fixed context), each of
    ``num_probes`` probes (run as one batch) starts from random scores s ~ U(0, 1)
    over the prompt tokens. A step replaces each prompt token with probability
    ``replacing_ratio`` (tokens from the ``sampler``), measures Δ = p(t|x) − p(t|x′),
    and adds logit(0.5 + Δ/2) to the replaced tokens' scores and subtracts it from the
    kept ones'. Importance = softmax(s). A probe stops once t is among the model's
    ``stopping_top_k`` predictions when every prompt token but the ``keep_top_n`` most
    important is replaced, or after ``max_probe_steps``; on a prompt of no more than
    ``keep_top_n`` tokens the check keeps all but one (keeping them all would replace
    nothing and stop every probe after its first step). The row is the mean importance
    over the probes that stopped (all of them if none did), as in Inseq; it sums to 1.

    Samplers: ``fill-in`` (default): token i drawn from p(c | the prompt on both sides of i),
    the causal LM turned into a masked LM by Bayes' rule (``fill_in_proposals``), which is
    what the paper's RoBERTa replacements give: plausible tokens in context; ``uniform``
    over the vocabulary without special tokens (Inseq's simplest sampler: on a short prompt
    any random token wrecks the prediction, so Δ barely tells tokens apart); ``causal-lm``:
    token i drawn from the model's own p(· | prompt before i) (uniform for the first token);
    ``masked-lm``: candidates a Hugging Face masked LM (directory in ``masked_lm``) proposes
    for token i in its context, kept where they are a single token of this model.
    Stochastic: same ``seed``, same scores.
    A given target token that is not among the model's ``stopping_top_k`` predictions even
    for the whole prompt may never satisfy the stopping check: its probes run ``max_probe_steps``.
    ``extras["steps"]``: steps each target token took (its slowest probe's); ``extras["stopped"]``: the share of
    probes that stopped; ``extras["mean_probe_steps"]``: steps per probe and target token, on average (the cost
    before the next run on this model with these stopping parameters is the median of the last few).
    """
    keep_n = int(keep_top_n)
    top_k, probes = positive_int("stopping_top_k", stopping_top_k), positive_int("num_probes", num_probes)
    max_steps = positive_int("max_probe_steps", max_probe_steps)
    if keep_n < 0:
        raise ExplainerError(f"keep_top_n must be 0 or more (got {keep_top_n!r}).")
    if not 0 < float(replacing_ratio) < 1:
        raise ExplainerError(f"replacing_ratio must lie strictly between 0 and 1 (got {replacing_ratio!r}).")
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
        raise ExplainerError(f"seed must be a whole number (got {seed!r}).")
    task = make_task(model, text, target, max_new_tokens)
    n_p, dev = task.n_prompt, model.device
    gen = torch.Generator().manual_seed(int(seed))
    draw = _sampler(model, task, sampler, masked_lm, gen)
    params = {"keep_top_n": keep_top_n, "stopping_top_k": stopping_top_k, "replacing_ratio": replacing_ratio,
              "sampler": sampler, "masked_lm": masked_lm, "max_probe_steps": max_steps, "num_probes": probes}
    expect(_reagent_cost(params, model, n_prompt=n_p, n_target=task.n_target)[0])

    ids = task.ids
    keep_n = min(keep_n, n_p - 1) if n_p > 1 else keep_n  # the check must replace at least one token
    p_orig = batched_logits(model, 1, lambda i, j: ids, batch_size=1, forward=lambda x: target_logprobs(model, x, task.target))[0].exp()
    rows, steps_taken, stopped_share, probe_steps = [], [], [], 0
    for k, t in enumerate(task.encoded.target_ids):
        begin_part(k, task.n_target)  # a token's probes stop when they do: progress moves token by token
        context = ids[0, : n_p + k]
        scores = torch.rand((probes, n_p), generator=gen)  # random initial scores (logit space)
        stopped = torch.zeros(probes, dtype=torch.bool)
        step = 0
        while step < max_steps and not bool(stopped.all()):
            check_cancel()
            step += 1
            active = ~stopped
            probe_steps += int(active.sum())
            replace = torch.rand((probes, n_p), generator=gen) < replacing_ratio
            proposal = draw(probes)
            x = context.expand(probes, -1).clone()
            x[:, :n_p] = torch.where(replace.to(dev), proposal.to(dev), x[:, :n_p])
            p_new = _next_token_probs(model, x[active.to(dev)])[:, t].cpu()
            delta = (p_orig[k].cpu() - p_new).clamp(-1.0, 1.0)
            gain = torch.logit((0.5 + delta / 2).clamp(_EPS, 1 - _EPS))[:, None]
            scores[active] += torch.where(replace[active], gain, -gain)
            importance = torch.softmax(scores, dim=-1)
            # stopping check: keep the keep_top_n most important prompt tokens, replace all the others
            order = torch.argsort(importance, dim=-1, descending=True, stable=True)
            kept = torch.zeros((probes, n_p), dtype=torch.bool)
            kept.scatter_(1, order[:, :keep_n], True)
            proposal = draw(probes)
            x = context.expand(probes, -1).clone()
            x[:, :n_p] = torch.where(kept.to(dev), x[:, :n_p], proposal.to(dev))
            top = _next_token_probs(model, x[active.to(dev)]).topk(min(top_k, model.vocab_size), dim=-1).indices.cpu()
            hit = (top == t).any(dim=-1)
            newly = torch.zeros(probes, dtype=torch.bool)
            newly[active] = hit
            stopped |= newly
        final = torch.softmax(scores, dim=-1)
        rows.append((final[stopped] if bool(stopped.any()) else final).mean(dim=0))
        steps_taken.append(step)
        stopped_share.append(float(stopped.float().mean()))
    scores = torch.stack(rows).numpy().astype(np.float32)
    mean_steps = probe_steps / (probes * task.n_target)
    record_probe_steps(model, params, mean_steps)
    return scores, None, task.fields({"steps": steps_taken, "stopped": stopped_share, "sampler": sampler,
                                      "mean_probe_steps": mean_steps})


def _next_token_probs(model, x: torch.Tensor) -> torch.Tensor:
    """p(· | x) at the last position for each row of token ids, through the engine (batched, counted, cancellable)."""
    return batched_logits(
        model, x.shape[0], lambda i, j: x[i:j], batch_size=model.batch_size(x.shape[1]),
        forward=lambda b: torch.softmax(model.forward(b, logits_to_keep=1)[:, -1].float(), dim=-1),
    )


# ---------------------------------------------------------------- replacement samplers


def _sampler(model, task, kind: str, masked_lm, gen: torch.Generator):
    """``draw(n) -> (n, n_prompt)`` replacement token ids for every prompt position, from ``gen``."""
    n_p = task.n_prompt
    allowed = torch.ones(model.vocab_size, dtype=torch.bool)
    allowed[[i for i in model.special_ids if 0 <= i < model.vocab_size]] = False
    vocabulary = allowed.nonzero()[:, 0]
    if kind == "uniform":
        return lambda n: vocabulary[torch.randint(len(vocabulary), (n, n_p), generator=gen)]
    if kind == "causal-lm":
        ids = task.ids[:, :n_p]
        probs = batched_logits(
            model, 1, lambda i, j: ids, batch_size=1,
            forward=lambda b: torch.softmax(model.forward(b).float(), dim=-1),
        )[0].cpu()  # row i: p(· | prompt[: i + 1]), the proposal for position i + 1
        probs = torch.cat([allowed.float()[None], probs[:-1]]) * allowed  # position 0: uniform
        probs = probs / probs.sum(dim=-1, keepdim=True)
        return lambda n: torch.multinomial(probs, n, replacement=True, generator=gen).T
    if kind == "fill-in":
        table = fill_in_proposals(model, task.ids[0, :n_p], allowed)
        return lambda n: torch.stack([cand[torch.multinomial(w, n, replacement=True, generator=gen)] for cand, w in table], dim=1)
    if kind == "masked-lm":
        candidates = masked_lm_candidates(model, task.encoded.prompt_ids, masked_lm)

        def draw(n):
            out = vocabulary[torch.randint(len(vocabulary), (n, n_p), generator=gen)]
            for i, found in enumerate(candidates):
                if found is not None:
                    cand_ids, cand_probs = found
                    out[:, i] = cand_ids[torch.multinomial(cand_probs, n, replacement=True, generator=gen)]
            return out

        return draw
    raise ExplainerError(f"Unknown sampler '{kind}'. Choose one of: {', '.join(SAMPLERS)}.")


FILL_IN_CANDIDATES = 32


def fill_in_proposals(model, prompt: torch.Tensor, allowed: torch.Tensor, k: int = FILL_IN_CANDIDATES):
    """Per prompt position i: (candidate ids, probabilities) of the token that fits there given both sides.

    The causal LM used as a masked LM by Bayes' rule: p(c | x_-i) ∝ p(c | x_<i) · p(x_>i | x_<i, c),
    over the ``k`` likeliest c ≠ x_i under p(· | x_<i). Position 0 has no left context: its
    candidates are the ``k`` tokens the model finds likeliest at the prompt's other positions, prior uniform.
    """
    n = prompt.shape[0]
    logp = batched_logits(  # row i: log p(· | x_<=i)
        model, 1, lambda a, b: prompt[None], batch_size=1,
        forward=lambda x: torch.log_softmax(model.forward(x).float(), dim=-1),
    )[0].cpu()
    masked = torch.where(allowed, 0.0, float("-inf"))
    out = []
    for i in range(n):
        # position 0: the tokens the model expects inside the prompt (not after it: that would propose the target)
        prior = (logp[i - 1] if i > 0 else torch.logsumexp(logp[:-1], dim=0)) + masked
        prior[int(prompt[i])] = float("-inf")
        cand = prior.topk(min(k, int(torch.isfinite(prior).sum()))).indices
        if len(cand) == 0:  # a vocabulary of one token: nothing else can stand there
            cand, prior = prompt[i : i + 1].cpu(), torch.zeros(prior.shape)
        log_prior = prior[cand] if i > 0 else torch.zeros(len(cand))
        if i < n - 1:
            x = prompt.expand(len(cand), -1).clone()
            x[:, i] = cand.to(x.device)
            rest = prompt[i + 1 :]

            def rest_log_likelihood(batch, i=i, rest=rest):  # log p(x_>i | x_<i, c) for each row's c
                lp = torch.log_softmax(model.forward(batch, logits_to_keep=n - i)[:, :-1].float(), dim=-1)
                return lp.gather(-1, rest.view(1, -1, 1).expand(batch.shape[0], -1, 1))[..., 0].sum(dim=1)

            log_like = batched_logits(
                model, len(cand), lambda a, b, x=x: x[a:b], batch_size=model.batch_size(n), forward=rest_log_likelihood
            ).cpu()
        else:
            log_like = torch.zeros(len(cand))
        out.append((cand, torch.softmax(log_prior + log_like, dim=0)))
    return out


_MASKED_LMS: dict[str, tuple] = {}


def _load_masked_lm(path):
    if not path or not str(path).strip():
        raise ExplainerError(
            "The masked-lm sampler needs a masked language model: set masked_lm to the directory of a "
            "Hugging Face *ForMaskedLM model (none ships with Lumen), or choose the uniform or causal-lm sampler."
        )
    key = str(path)
    if key not in _MASKED_LMS:
        from pathlib import Path

        from transformers import AutoModelForMaskedLM, AutoTokenizer

        if not (Path(key).expanduser() / "config.json").is_file():
            raise ModelLoadError(f"{key} is not a Hugging Face model directory (no config.json).")
        try:
            mlm = AutoModelForMaskedLM.from_pretrained(key, local_files_only=True, trust_remote_code=False, use_safetensors=True)
            tok = AutoTokenizer.from_pretrained(key, local_files_only=True, trust_remote_code=False)
        except (OSError, ValueError) as e:
            raise ModelLoadError(f"{key} could not be loaded as a masked language model: {str(e).splitlines()[0][:200]}") from None
        if tok.mask_token is None:
            raise ModelLoadError(f"{key}'s tokenizer has no mask token, so it cannot propose replacements.")
        _MASKED_LMS[key] = (mlm.eval(), tok)
    return _MASKED_LMS[key]


def masked_lm_candidates(model, prompt_ids: list[int], path) -> list[tuple[torch.Tensor, torch.Tensor] | None]:
    """Per prompt position: (token ids of this model, probabilities) the masked LM proposes there, or None.

    The prompt is written out with position i's token replaced by the mask token; the
    masked LM's ``MASKED_LM_CANDIDATES`` likeliest words are re-tokenised for this model (with the
    original token's leading space) and kept where they are one token, not special, and
    not the original token; their probabilities are renormalised.
    """
    mlm, tok = _load_masked_lm(path)
    out = []
    with torch.inference_mode():
        for i, original in enumerate(prompt_ids):
            piece = model.decode([original])
            space = " " if piece[:1].isspace() else ""
            text = model.decode(prompt_ids[:i]) + space + tok.mask_token + model.decode(prompt_ids[i + 1 :])
            enc = tok(text, return_tensors="pt", truncation=True)
            where = (enc["input_ids"][0] == tok.mask_token_id).nonzero()
            if len(where) == 0:
                out.append(None)
                continue
            logits = mlm(**enc).logits[0, int(where[0])]
            probs, words = torch.softmax(logits.float(), -1).topk(min(MASKED_LM_CANDIDATES, logits.shape[-1]))
            found: dict[int, float] = {}
            for p, w in zip(probs.tolist(), words.tolist()):
                word = tok.convert_tokens_to_string([tok.convert_ids_to_tokens(w)]).strip()
                if not word or w in tok.all_special_ids:
                    continue
                ids = model.tokenizer(space + word, add_special_tokens=False)["input_ids"]
                if len(ids) == 1 and ids[0] != original and ids[0] not in model.special_ids:
                    found[int(ids[0])] = found.get(int(ids[0]), 0.0) + p
            if found:
                weights = torch.tensor(list(found.values()))
                out.append((torch.tensor(list(found)), weights / weights.sum()))
            else:
                out.append(None)
    return out

