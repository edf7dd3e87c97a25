"""Text methods against their definitions on tiny hand-built models (no embedded model needed)."""

import numpy as np
import pytest
import torch

from explainers import explain, get_method, list_explainers
from explainers.metrics.text import DECILES, text_faithfulness
from explainers.text.methods import rollout, word_scores
from tests.tiny_text import bag_model, tiny_bert

TEXT = "the cat sat on the unbelievable mat"


def softmax(logits):
    return torch.softmax(logits, dim=-1)


def test_gradient_x_input_is_closed_form_on_linear_bag_of_words():
    model = bag_model()
    enc = model.encode(TEXT)
    e = explain(model, TEXT, method="gradient-x-input", target=1)
    E, W = model.module.embed.weight.detach(), model.module.linear.weight.detach()
    expected = (E[enc.input_ids[0]] @ W[1]).numpy()
    expected[enc.special] = 0
    np.testing.assert_allclose(e.scores, expected, rtol=1e-5, atol=1e-6)
    assert e.tokens[0] == "[CLS]" and e.tokens[-1] == "[SEP]" and e.scores[0] == 0 and e.scores[-1] == 0
    assert (e.n_forward, e.n_backward) == (1, 1)


def test_integrated_gradients_is_closed_form_on_linear_bag_of_words():
    model = bag_model()
    enc = model.encode(TEXT)
    e = explain(model, TEXT, method="integrated-gradients", target=0, n_steps=4)
    E, W = model.module.embed.weight.detach(), model.module.linear.weight.detach()
    expected = ((E[enc.input_ids[0]] - E[model.pad_token_id]) @ W[0]).numpy()
    expected[enc.special] = 0
    np.testing.assert_allclose(e.scores, expected, rtol=1e-5, atol=1e-5)
    assert e.extras["completeness"]["relative_error"] < 1e-5


def test_leave_one_out_equals_deleting_the_token_on_bag_of_words():
    model = bag_model()
    enc = model.encode(TEXT)
    e = explain(model, TEXT, method="occlusion", target=1)
    ids = enc.input_ids[0]
    with torch.no_grad():
        p = float(softmax(model.module(ids[None], torch.ones_like(ids)[None]))[0, 1])
        for i in range(len(ids)):
            if enc.special[i]:
                assert e.scores[i] == 0
                continue
            shorter = torch.cat([ids[:i], ids[i + 1 :]])[None]
            q = float(softmax(model.module(shorter, torch.ones_like(shorter)))[0, 1])
            assert e.scores[i] == pytest.approx(p - q, abs=1e-6)
    assert e.n_forward == len(enc.content) + 1


@pytest.mark.parametrize("text", ["kind", TEXT])
@pytest.mark.parametrize(
    "method, params",
    [("occlusion", {}), ("saliency", {}), ("gradient-x-input", {}), ("integrated-gradients", {"n_steps": 4})],
)
def test_cost_model_counts_the_passes_for_this_texts_length(text, method, params):
    model = bag_model()
    n_tokens = len(model.encode(text).content)
    e = explain(model, text, method=method, target=1, **params)
    assert get_method(method, "text").estimate(params, model, n_tokens=n_tokens) == (e.n_forward, e.n_backward)


def test_every_text_and_generation_cost_takes_the_pages_sizes():
    sizes = {"text": {"n_tokens": 7}, "generation": {"n_prompt": 7, "n_target": 3}}
    for modality, given in sizes.items():
        for method in list_explainers(modality):
            n_forward, n_backward = get_method(method, modality).estimate({}, None, **given)
            assert n_forward >= 0 and n_backward >= 0, method


def test_leave_one_out_equals_its_definition_on_tiny_bert():
    model, hf = tiny_bert()
    enc = model.encode(TEXT)
    e = explain(model, TEXT, method="occlusion", target="c")
    ids = enc.input_ids
    with torch.no_grad():
        p = float(softmax(hf(input_ids=ids, attention_mask=torch.ones_like(ids)).logits)[0, 2])
        for i in enc.content:
            mask = torch.ones_like(ids)
            mask[0, i] = 0
            q = float(softmax(hf(input_ids=ids, attention_mask=mask).logits)[0, 2])
            assert e.scores[i] == pytest.approx(p - q, abs=1e-6)
    assert np.all(e.scores[enc.special] == 0)


def test_ig_completeness_on_tiny_bert():
    model, _ = tiny_bert()
    e = explain(model, TEXT, method="integrated-gradients", target=1, n_steps=64)
    c = e.extras["completeness"]
    assert abs(float(e.scores.sum()) - c["logit_difference"]) <= 0.01 * abs(c["logit_difference"])


def test_attention_methods_on_tiny_bert_match_hand_computation():
    model, hf = tiny_bert()
    enc = model.encode(TEXT)
    with torch.no_grad():
        att = hf(input_ids=enc.input_ids, attention_mask=torch.ones_like(enc.input_ids), output_attentions=True).attentions
    last = att[-1][0].mean(0)[0].numpy()
    last[enc.special] = 0
    np.testing.assert_allclose(explain(model, TEXT, method="attention").scores, last, rtol=1e-5, atol=1e-7)
    # rollout by hand: (0.5 A + 0.5 I) row-normalised, multiplied last layer first
    r = np.eye(len(enc.tokens))
    for a in att:
        m = 0.5 * a[0].mean(0).numpy() + 0.5 * np.eye(len(enc.tokens))
        r = (m / m.sum(-1, keepdims=True)) @ r
    expected = r[0].copy()
    expected[enc.special] = 0
    np.testing.assert_allclose(explain(model, TEXT, method="attention-rollout").scores, expected, rtol=1e-5, atol=1e-7)


def test_rollout_of_identity_attention_is_identity():
    layers = [torch.eye(4).expand(3, 4, 4) for _ in range(5)]
    np.testing.assert_allclose(rollout(layers).numpy(), np.eye(4), atol=1e-7)


def test_word_scores_sum_word_pieces():
    tokens = ["[CLS]", "un", "##believ", "##able", "mat", "[SEP]"]
    words, scores = word_scores(tokens, [0, 1, 2, 3, 4, 0])
    assert words == ["[CLS]", "unbelievable", "mat", "[SEP]"]
    np.testing.assert_array_equal(scores, [0, 6, 4, 0])
    words, scores = word_scores(tokens, [0, 1, 2, 3, 4, 0], word_ids=[None, 0, 0, 0, 1, None])
    assert words == ["[CLS]", "unbelievable", "mat", "[SEP]"] and scores.tolist() == [0, 6, 4, 0]


@pytest.mark.parametrize("removal", ["delete", "attention-mask"])
def test_comprehensiveness_and_sufficiency_by_hand(removal):
    """On a bag of embeddings (no positions) deleting a token and hiding it are the same; 10 … 100 % bins."""
    model = bag_model()
    enc = model.encode(TEXT)
    e = explain(model, TEXT, method="occlusion", target=1)
    f = text_faithfulness(model, TEXT, e, fractions=DECILES, removal=removal)
    ids = enc.input_ids[0]
    n = len(enc.content)
    order = enc.content[np.argsort(-e.scores[enc.content], kind="stable")]
    with torch.no_grad():
        def p(keep_positions):
            kept = ids[sorted(keep_positions)][None]
            return float(softmax(model.module(kept, torch.ones_like(kept)))[0, 1])

        specials = list(np.flatnonzero(enc.special))
        full = p(range(len(ids)))
        for r, q in enumerate(f["fractions"]):
            top = set(order[: max(1, int(np.ceil(q * n)))].tolist())
            rest = [i for i in range(len(ids)) if i not in top]
            assert f["comprehensiveness"][r] == pytest.approx(full - p(rest), abs=1e-6)
            assert f["sufficiency"][r] == pytest.approx(full - p(specials + sorted(top)), abs=1e-6)
    assert f["aopc_comprehensiveness"] == pytest.approx(np.mean(f["comprehensiveness"]))
    assert f["sufficiency"][-1] == pytest.approx(0, abs=1e-6)
