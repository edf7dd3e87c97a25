"""Generation methods against their definitions on a hand-built causal LM (tests/tiny_lm.py)."""

import numpy as np
import pytest
import torch

from explainers import ExplainerError, InputError, explain, get_method, list_explainers
from tests.tiny_lm import KeyTokenLM, tiny_lm

PROMPT = "w3 w9 w7 w4 w11 w12 w13 w14 w15 w16"  # the key w7 sits at position 2
KEY_AT, TARGET = 2, " w5"


@pytest.fixture
def lm():
    return tiny_lm()


def test_methods_registered():
    assert {"reagent", "integrated-gradients", "gradient-x-input", "occlusion", "attention"} <= set(
        list_explainers("generation")
    )


def test_reagent_ranks_the_key_token_first(lm):
    for seed in (0, 1, 2):
        e = explain(lm, PROMPT, method="reagent", target=TARGET, seed=seed)
        assert e.scores.shape == (1, 10)
        assert int(np.argmax(e.scores[0])) == KEY_AT
        assert e.scores.sum() == pytest.approx(1.0, abs=1e-5)
        assert e.target_label == "w5" and e.tokens[KEY_AT] == "w7"


@pytest.mark.parametrize("sampler", ["uniform", "causal-lm"])
def test_reagent_deterministic_under_seed(lm, sampler):
    a = explain(lm, PROMPT, method="reagent", target=TARGET, seed=3, sampler=sampler)
    b = explain(lm, PROMPT, method="reagent", target=TARGET, seed=3, sampler=sampler)
    c = explain(lm, PROMPT, method="reagent", target=TARGET, seed=4, sampler=sampler)
    np.testing.assert_array_equal(a.scores, b.scores)
    assert not np.array_equal(a.scores, c.scores)


def test_reagent_masked_lm_sampler_needs_a_model(lm):
    with pytest.raises(ExplainerError, match="masked language model"):
        explain(lm, PROMPT, method="reagent", target=TARGET, sampler="masked-lm")


def _p(module, ids, target):
    with torch.no_grad():
        return float(torch.softmax(module(input_ids=torch.tensor([ids])).logits[0, -1], -1)[target])


def test_leave_one_out_equals_its_definition(lm):
    e = explain(lm, PROMPT, method="occlusion", target=TARGET + " w6")
    prompt = [int(w[1:]) for w in PROMPT.split()]
    target = [5, 6]
    expected = np.zeros((2, len(prompt)))
    for k in range(2):
        full = _p(lm.module, prompt + target[:k], target[k])
        for i in range(len(prompt)):
            expected[k, i] = full - _p(lm.module, prompt[:i] + prompt[i + 1 :] + target[:k], target[k])
    np.testing.assert_allclose(e.scores, expected, atol=1e-6)
    assert e.n_forward == len(prompt) + 1


@pytest.mark.parametrize(
    "method, params",
    [("occlusion", {}), ("attention", {}), ("gradient-x-input", {}),
     ("integrated-gradients", {"n_steps": 8, "tolerance": 1e-9}),  # no row converges this tightly: the whole budget
     ("integrated-gradients", {"n_steps": 9, "tolerance": 1e-9})],  # an odd number to spend: the last one left
)
def test_cost_model_counts_the_passes_for_this_prompt(lm, method, params):
    e = explain(lm, PROMPT, method=method, target=" w5 w6", **params)
    n_target, n_prompt = e.scores.shape
    estimate = get_method(method, "generation").estimate(params, lm, n_prompt=n_prompt, n_target=n_target)
    assert estimate == (e.n_forward, e.n_backward)


def test_integrated_gradients_stops_early_only_when_every_row_is_complete(lm):
    """The cost is the budget; a run makes fewer passes only when every row's completeness is within tolerance."""
    e = explain(lm, PROMPT, method="integrated-gradients", target=" w5 w6", n_steps=64)
    n_target, n_prompt = e.scores.shape
    budget = get_method("integrated-gradients", "generation").estimate({"n_steps": 64}, lm, n_prompt=n_prompt,
                                                                        n_target=n_target)
    assert e.n_forward < budget[0] and e.n_backward < budget[1]
    assert (e.extras["relative_completeness"] <= 0.005).all()
    assert sum(e.extras["steps"]) == e.n_backward  # one gradient per interval: the middle third keeps its own


def test_gradient_x_input_and_attention_find_the_key(lm):
    gxi = explain(lm, PROMPT, method="gradient-x-input", target=TARGET)
    att = explain(lm, PROMPT, method="attention", target=TARGET)
    # ∂ log p(w5) / ∂e at the key's one-hot coordinate is 10·(1 − p); every other token has zero gradient
    assert int(np.argmax(gxi.scores[0])) == KEY_AT and np.count_nonzero(gxi.scores) == 1
    p = _p(lm.module, [3, 9, 7, 4, 11, 12, 13, 14, 15, 16], 5)
    assert gxi.scores[0, KEY_AT] * gxi.extras["row_scale"][0] == pytest.approx(10 * (1 - p), rel=1e-4)
    assert att.scores[0, KEY_AT] == 1.0 and att.scores.sum() == 1.0


def test_integrated_gradients_complete_on_the_tiny_model(lm):
    e = explain(lm, PROMPT, method="integrated-gradients", target=TARGET, baseline="zeros")
    raw = e.scores[0] * e.extras["row_scale"][0]
    prompt = [3, 9, 7, 4, 11, 12, 13, 14, 15, 16]
    # baseline: all-zero embeddings give all-zero logits, so log p(w5) = -log 20
    expected = np.log(_p(lm.module, prompt, 5)) + np.log(20)
    assert raw.sum() == pytest.approx(expected, rel=0.01)
    assert int(np.argmax(raw)) == KEY_AT


def test_generating_nothing_is_a_clear_error():
    lm = tiny_lm()  # without the key every logit is 0 and the first (end-of-text) token wins the tie
    with pytest.raises(ExplainerError, match="generated nothing"):
        explain(lm, "w3 w9 w4", method="occlusion")


def test_generation_without_target(lm):
    e = explain(lm, PROMPT, method="attention", max_new_tokens=3)
    assert e.target_tokens == ["w5", "w5", "w5"] and e.scores.shape == (3, 10)


@pytest.mark.parametrize("text", ["", "   \n\t", "\x00\x01"])
def test_empty_prompt_is_refused(lm, text):
    with pytest.raises(InputError, match="empty"):
        explain(lm, text, method="occlusion", target=TARGET)


def test_enormous_prompt_truncated_with_warning():
    lm = tiny_lm(key_position=1)
    text = " ".join(["w3"] * 5000) + " w7 w4"
    with pytest.warns(UserWarning, match="only its last 128 tokens"):
        lm.max_prompt_tokens = 128
        e = explain(lm, text, method="attention", target=TARGET)
    assert len(e.tokens) == 128 and e.tokens[-2:] == ["w7", "w4"]
    assert "5,002 tokens" in e.extras["warning"]


def test_bad_parameters(lm):
    with pytest.raises(ExplainerError, match="replacing_ratio"):
        explain(lm, PROMPT, method="reagent", target=TARGET, replacing_ratio=1.5)
    with pytest.raises(ExplainerError, match="target continuation is empty"):
        explain(lm, PROMPT, method="occlusion", target="")
    with pytest.raises(ExplainerError, match="two tokens"):
        explain(lm, "w7", method="occlusion", target=TARGET)


class BigramLM(KeyTokenLM):
    """p(x_t+1 | x_<=t) = softmax(W[x_t]) with a random W: the fill-in posterior is not uniform."""

    def __init__(self, seed: int = 0):
        super().__init__()
        self.table = torch.randn((20, 20), generator=torch.Generator().manual_seed(seed)) * 2

    def forward(self, input_ids=None, inputs_embeds=None, logits_to_keep=0, **kwargs):
        ids = input_ids if input_ids is not None else inputs_embeds.argmax(-1)
        logits = self.table[ids]
        from types import SimpleNamespace

        return SimpleNamespace(logits=logits[:, -logits_to_keep:] if logits_to_keep else logits, attentions=None)


def test_fill_in_proposals_are_the_posterior_given_both_sides():
    """p(c | x_-i) ∝ p(c | x_<i) · p(x_>i | x_<i, c), recomputed here one candidate at a time by the chain rule."""
    from explainers.generation.reagent import fill_in_proposals
    from models.adapters.causal_lm import CausalLM
    from tests.tiny_lm import WordTokenizer

    lm = CausalLM("bigram", BigramLM(), WordTokenizer(), device="cpu")
    prompt = torch.tensor([3, 9, 7, 4, 11])
    allowed = torch.ones(20, dtype=torch.bool)
    allowed[0] = False  # end-of-text
    table = fill_in_proposals(lm, prompt, allowed)  # 18 candidates everywhere (< its 32): all of them
    logp = torch.log_softmax(lm.module.table, dim=-1)
    for i, (cand, probs) in enumerate(table):
        others = [c for c in range(1, 20) if c != int(prompt[i])]
        assert sorted(cand.tolist()) == others
        scores = {}
        for c in others:
            x = prompt.clone()
            x[i] = c
            prior = 0.0 if i == 0 else float(logp[x[i - 1], c])  # position 0: uniform prior
            scores[c] = prior + sum(float(logp[x[j - 1], x[j]]) for j in range(i + 1, len(x)))
        expected = torch.softmax(torch.tensor([scores[c] for c in cand.tolist()]), dim=0)
        torch.testing.assert_close(probs, expected, atol=1e-5, rtol=1e-4)


def test_reagent_on_a_prompt_no_longer_than_keep_top_n_still_probes():
    """With keep_top_n ≥ prompt length the stopping check would replace nothing: one step per probe.
    Lumen keeps all but one token there, so probes run until the check can fail and pass."""
    lm = tiny_lm(key_position=1)
    e = explain(lm, "w3 w7 w4", method="reagent", target=" w5", seed=0, keep_top_n=5)
    assert e.extras["steps"][0] > 1
    assert int(np.argmax(e.scores[0])) == 1


def test_reagent_estimate_is_a_typical_run_then_this_models_own():
    """ReAGent's probes stop when their check passes: its cost is the typical steps per probe (a prior until the
    model has runs of its own, then the median of its recent runs' steps), at least one step per probe."""
    from explainers.generation.reagent import PRIOR_PROBE_STEPS, setup_passes

    model = tiny_lm()
    spec = get_method("reagent", "generation")
    n_prompt, n_target = 10, 1
    assert spec.estimate({}, model, n_prompt=n_prompt, n_target=n_target) == (
        1 + setup_passes("fill-in", n_prompt, model) + round(2 * 16 * n_target * PRIOR_PROBE_STEPS), 0)
    e = explain(model, PROMPT, method="reagent", target=TARGET, seed=0)
    assert e.scores.shape == (n_target, n_prompt)
    assert e.n_forward >= 1 + setup_passes("fill-in", n_prompt, model) + 2 * 16 * n_target  # every probe steps once
    # the same input again: the median of one run is that run, pass for pass
    assert spec.estimate({}, model, n_prompt=n_prompt, n_target=n_target) == (e.n_forward, e.n_backward)
    other = spec.estimate({"stopping_top_k": 1}, model, n_prompt=n_prompt, n_target=n_target)  # other stopping:
    assert other[0] == 1 + setup_passes("fill-in", n_prompt, model) + round(2 * 16 * n_target * PRIOR_PROBE_STEPS)  # prior
