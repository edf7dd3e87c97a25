"""Generation methods on the embedded SmolLM2-135M-Instruct."""

import numpy as np
import pytest
import torch

from explainers import explain
from explainers.generation.methods import ig_reference, make_task, target_logprobs

PROMPT = "The capital of France is"


def test_embedded_lm_continues_with_paris(smollm):
    assert smollm.modality == "generation" and smollm.name == "smollm2-135m"
    assert smollm.decode(smollm.generate(PROMPT, 1)) == " Paris"


def test_reagent_one_row_per_target_token_and_deterministic(smollm):
    a = explain(smollm, PROMPT, method="reagent", max_new_tokens=3, seed=0)  # greedy: " Paris", ".", "\n\n"
    assert a.tokens == ["The", " capital", " of", " France", " is"]
    assert a.target_tokens[:2] == [" Paris", "."] and a.scores.shape == (3, 5)
    np.testing.assert_allclose(a.scores.sum(axis=1), 1.0, atol=1e-5)
    b = explain(smollm, PROMPT, method="reagent", max_new_tokens=3, seed=0)
    np.testing.assert_array_equal(a.scores, b.scores)
    assert a.n_forward == b.n_forward > 0  # the same probes, pass for pass (its time goes to bench/)


def test_reagent_scores_france_above_the_and_of(smollm):
    """The issue's acceptance point, with the default fill-in sampler (over seeds 0-19, France beats both in
    17 runs; with the uniform sampler in 4 of 10, chance level: a random token wrecks this short prompt)."""
    e = explain(smollm, PROMPT, method="reagent", target=" Paris", seed=0)
    france, the, of = e.scores[0, 3], e.scores[0, 0], e.scores[0, 2]
    assert france > the and france > of
    assert e.extras["sampler"] == "fill-in" and e.extras["stopped"][0] == 1.0


def test_integrated_gradients_complete_within_one_percent(smollm):
    e = explain(smollm, PROMPT, method="integrated-gradients", target=" Paris")
    task = make_task(smollm, PROMPT, " Paris")
    with torch.no_grad():  # the output change computed here, independently of the method
        x = smollm.embeddings(task.ids)
        base = x.clone()
        base[0, : task.n_prompt] = ig_reference(smollm, task.n_prompt, "pad")
        change = (target_logprobs(smollm, x, task.target) - target_logprobs(smollm, base, task.target))[0].numpy()
    raw_sums = (e.scores * e.extras["row_scale"][:, None]).sum(axis=1)
    np.testing.assert_allclose(raw_sums, change, rtol=0.01)
    assert len(e.extras["ranked_first"]) == 1 and e.extras["ranked_first"][0] in e.tokens


def test_other_methods_shapes(smollm):
    for method in ("occlusion", "attention", "gradient-x-input"):
        e = explain(smollm, PROMPT, method=method, target=" Paris")
        assert e.scores.shape == (1, 5) and np.isfinite(e.scores).all(), method
    e = explain(smollm, PROMPT, method="occlusion", target=" Paris")
    assert e.scores[0, 3] > 0.5  # without " France", " Paris" is far less likely


@pytest.mark.parametrize("text", ["東京は日本の首都です。", "שלום עולם", "Hello 🙂 world", "a\x00b\x1b\tc"])
def test_unusual_scripts(smollm, text):
    e = explain(smollm, text, method="attention", max_new_tokens=2)
    assert e.scores.shape[1] == len(e.tokens) and e.scores.shape[0] >= 1
    assert "\x00" not in "".join(e.tokens)


def test_enormous_prompt_truncated_with_warning(smollm):
    with pytest.warns(UserWarning, match="were kept"):
        e = explain(smollm, "word " * 100_000, method="attention", target=" word")
    assert len(e.tokens) == smollm.max_prompt_tokens and "500,000 characters" in e.extras["warning"]
