"""Generation methods against their definitions on a hand-built causal LM (tests/tiny_lm.py)."""

import numpy as np
import pytest
import torch

from explainers import ExplainerError, InputError, explain, list_explainers
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
