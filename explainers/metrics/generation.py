"""Faithfulness of a generation explanation: normalised soft sufficiency and comprehensiveness.

Soft-NS and Soft-NC (Zhao & Aletras 2023, "Incorporating Attribution Importance for
Improving Faithfulness Metrics"; used to evaluate ReAGent, Zhao & Shan 2024). For target
token t_k with importance row q (min–max normalised to [0, 1] over the prompt tokens):

- soft sufficiency: every coordinate of prompt token i's input embedding is kept with
  probability q_i (Bernoulli mask, the rest zeroed): S = 1 − max(0, p(t_k|x) − p(t_k|x')).
- soft comprehensiveness: kept with probability 1 − q_i instead: C = max(0, p(t_k|x) − p(t_k|x'')).
- normalised by the same with the whole prompt zeroed, S₀ = 1 − max(0, p(t_k|x) − p(t_k|0)):
  Soft-NS = (S − S₀) / (1 − S₀), Soft-NC = C / (1 − S₀). Higher is better for both.

Earlier target tokens stay unmasked (fixed context), as in the methods. S and C are averaged
over ``n_samples`` masks drawn from ``seed``; NaN where zeroing the prompt does not lower
p(t_k) (the normaliser is zero).
"""

from __future__ import annotations

import numpy as np
import torch

from explainers.core.engine import batched_logits
from explainers.generation.methods import target_logprobs
from models.errors import ExplainerError


def keep_probabilities(scores: np.ndarray) -> np.ndarray:
    """Each row min–max normalised to [0, 1]; a constant row gives 0.5 everywhere."""
    scores = np.asarray(scores, dtype=np.float64)
    low, high = scores.min(axis=1, keepdims=True), scores.max(axis=1, keepdims=True)
    span = high - low
    return np.where(span > 0, (scores - low) / np.where(span > 0, span, 1.0), 0.5)


def soft_ns_nc_passes(n_target: int, n_samples: int = 8) -> int:
    """Forward passes ``soft_ns_nc`` makes for a continuation of ``n_target`` tokens: the input, the zeroed prompt,
    then a sufficiency and a comprehensiveness sample per sample and target token."""
    return 2 + 2 * int(n_samples) * int(n_target)


def soft_ns_nc(model, explanation, n_samples: int = 8, seed: int = 0) -> dict:
    """{"soft_ns", "soft_nc"}: one value per target token (lists), and their means, for a generation explanation."""
    extras = explanation.extras
    if explanation.modality != "generation" or "prompt_ids" not in extras:
        raise ExplainerError("Soft-NS and Soft-NC apply to explanations of generative language models.")
    if isinstance(n_samples, bool) or int(n_samples) < 1:
        raise ExplainerError(f"n_samples must be at least 1 (got {n_samples!r}).")
    n_samples = int(n_samples)
    prompt_ids, target_ids = list(extras["prompt_ids"]), list(extras["target_ids"])
    n_p, n_t = len(prompt_ids), len(target_ids)
    q = torch.tensor(keep_probabilities(explanation.scores), dtype=torch.float32)  # (n_t, n_p)
    dev = model.device
    ids = torch.tensor([prompt_ids + target_ids], device=dev)
    target = torch.tensor(target_ids, device=dev)
    with torch.no_grad():
        embeds = model.embeddings(ids).detach()
    dim = embeds.shape[-1]
    gen = torch.Generator().manual_seed(int(seed))
    # rows: [x, zeroed prompt] then, for each sample and target token, a sufficiency and a comprehensiveness mask
    u = torch.rand((n_samples, n_t, 2, n_p, dim), generator=gen)
    keep = torch.stack([u[:, :, 0] < q[None, :, :, None], u[:, :, 1] < (1 - q)[None, :, :, None]], dim=2)
    keep = keep.reshape(-1, n_p, dim)

    def make_batch(i: int, j: int) -> torch.Tensor:
        x = embeds.expand(j - i, -1, -1).clone()
        for r in range(i, j):
            if r == 1:
                x[r - i, :n_p] = 0
            elif r >= 2:
                x[r - i, :n_p] *= keep[r - 2].to(dev)
        return x

    n_rows = soft_ns_nc_passes(n_t, n_samples)
    probs = batched_logits(
        model, n_rows, make_batch, batch_size=model.batch_size(ids.shape[1]),
        forward=lambda x: target_logprobs(model, x, target).exp(),
    ).cpu()
    p, p0 = probs[0], probs[1]
    masked = probs[2:].view(n_samples, n_t, 2, n_t)
    k = torch.arange(n_t)
    p_suff = masked[:, k, 0, k]  # (n_samples, n_t): row for token k, its own probability
    p_comp = masked[:, k, 1, k]
    suff = (1 - (p - p_suff).clamp_min(0)).mean(0)
    comp = (p - p_comp).clamp_min(0).mean(0)
    s0 = 1 - (p - p0).clamp_min(0)
    norm = 1 - s0
    ok = norm > 1e-6
    soft_ns = torch.where(ok, (suff - s0) / norm.clamp_min(1e-6), torch.nan)
    soft_nc = torch.where(ok, comp / norm.clamp_min(1e-6), torch.nan)
    return {
        "soft_ns": soft_ns.tolist(),
        "soft_nc": soft_nc.tolist(),
        "soft_ns_mean": float(np.nanmean(soft_ns.numpy())) if ok.any() else float("nan"),
        "soft_nc_mean": float(np.nanmean(soft_nc.numpy())) if ok.any() else float("nan"),
    }
