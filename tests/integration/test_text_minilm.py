"""The embedded sentiment classifier and the text methods on it: acceptance, completeness, bad input, determinism."""

import numpy as np
import pytest

from explainers import explain, list_explainers
from explainers.metrics.text import ERASER_BINS, text_faithfulness
from models import InputError, list_models

ACCEPTANCE = "The food was awful and the service was slow"


def test_registered(minilm):
    assert "minilm-sentiment" in list_models("text")
    assert minilm.modality == "text" and minilm.labels == ["negative", "positive"]
    assert set(list_explainers("text")) >= {"integrated-gradients", "gradient-x-input", "saliency", "attention",
                                            "attention-rollout", "occlusion", "shap", "lime"}


def test_held_out_accuracy(minilm):
    assert minilm.training_report["held_out_accuracy"] > 0.8
    assert minilm.predict("I love it, what a wonderful day").top(1)[0][1] == "positive"
    assert minilm.predict(ACCEPTANCE).top(1)[0][1] == "negative"


def test_acceptance_awful_among_two_most_negative_for_positive(minilm):
    e = explain(minilm, ACCEPTANCE, method="integrated-gradients", target="positive")
    content = [i for i, s in enumerate(e.extras["special"]) if not s]
    two_lowest = sorted(content, key=lambda i: e.scores[i])[:2]
    assert "awful" in [e.tokens[i] for i in two_lowest]
    c = e.extras["completeness"]
    assert abs(float(e.scores.sum()) - c["logit_difference"]) <= 0.01 * abs(c["logit_difference"])
    assert c["relative_error"] < 0.01


@pytest.mark.parametrize("text", ["An absolutely wonderful, heart-warming film 😀", "Terrible. Never again!!"])
def test_ig_completeness_within_one_percent(minilm, text):
    e = explain(minilm, text, method="integrated-gradients")
    c = e.extras["completeness"]
    assert abs(float(e.scores.sum()) - c["logit_difference"]) <= 0.01 * abs(c["logit_difference"])


def test_classes_are_mirror_images(minilm):
    """The head's logits are ±(w·h + b)/2: explaining 'negative' gives the negated scores of 'positive'."""
    pos = explain(minilm, ACCEPTANCE, method="gradient-x-input", target="positive")
    neg = explain(minilm, ACCEPTANCE, method="gradient-x-input", target="negative")
    np.testing.assert_allclose(neg.scores, -pos.scores, atol=1e-5)


@pytest.mark.parametrize("method", ["shap", "lime"])
def test_seeded_methods_are_deterministic(minilm, method):
    params = {"max_evals": 60} if method == "shap" else {"n_samples": 60}
    a = explain(minilm, ACCEPTANCE, method=method, target="positive", seed=3, **params)
    b = explain(minilm, ACCEPTANCE, method=method, target="positive", seed=3, **params)
    np.testing.assert_array_equal(a.scores, b.scores)
    assert a.scores[0] == 0 and a.scores[-1] == 0 and np.any(a.scores != 0)


def test_lime_seed_changes_the_sample(minilm):
    a = explain(minilm, ACCEPTANCE, method="lime", seed=1, n_samples=40)
    b = explain(minilm, ACCEPTANCE, method="lime", seed=2, n_samples=40)
    assert not np.array_equal(a.scores, b.scores)


def test_every_method_scores_tokens_with_specials_zero(minilm):
    for method in list_explainers("text"):
        params = {"max_evals": 40} if method == "shap" else {"n_samples": 40} if method == "lime" else {}
        e = explain(minilm, "not bad at all", method=method, **params)
        assert e.scores.shape == (len(e.tokens),) and e.tokens[0] == "[CLS]"
        assert e.scores[0] == 0 and e.scores[-1] == 0 and np.all(np.isfinite(e.scores))
        assert e.modality == "text" and e.target_label in minilm.labels


@pytest.mark.parametrize("text", ["", "   \n\t  ", "\x00\x01\x02"])
def test_empty_text_is_refused_with_a_sentence(minilm, text):
    with pytest.raises(InputError, match="empty"):
        explain(minilm, text, method="saliency")


def test_long_text_is_truncated_with_a_warning(minilm):
    text = "good " * 20_000  # 100 000 characters
    e = explain(minilm, text, method="gradient-x-input")
    assert len(e.tokens) == 256
    warning = e.extras["truncation"]
    assert "20,000 tokens" in warning and "254 tokens" in warning and "of 100,000 characters" in warning
    assert minilm.encode(text).kept_text == text[: len("good " * 254) - 1]
    assert explain(minilm, "short", method="saliency").extras["truncation"] is None


@pytest.mark.parametrize(
    "text",
    ["I love this 😍🔥", "这家餐厅的菜很好吃", "الطعام كان رائعا", "שירות נהדר", "bad\x07 service\x1b here", "naïve café"],
)
def test_unusual_scripts_and_symbols(minilm, text):
    e = explain(minilm, text, method="occlusion")
    assert len(e.tokens) == len(e.scores) == len(e.extras["offsets"])
    cleaned = minilm.encode(text).text
    assert "\x07" not in cleaned and "\x1b" not in cleaned
    for (a, b), special in zip(e.extras["offsets"], e.extras["special"]):
        assert special or 0 <= a < b <= len(cleaned)


def test_faithfulness_figures(minilm):
    e = explain(minilm, ACCEPTANCE, method="occlusion", target="negative")
    f = text_faithfulness(minilm, ACCEPTANCE, e)
    assert len(f["comprehensiveness"]) == len(f["sufficiency"]) == len(ERASER_BINS) and f["removal"] == "delete"
    assert f["comprehensiveness"][0] > 0  # removing the most negative token lowers p(negative)
    assert f["aopc_comprehensiveness"] == pytest.approx(np.mean(f["comprehensiveness"]))


def test_default_faithfulness_ranks_integrated_gradients_above_random(minilm):
    """Tokens deleted, ERASER's bins: IG's top tokens matter more, and suffice better, than random ones (10 seeds)."""
    ig = text_faithfulness(minilm, ACCEPTANCE, explain(minilm, ACCEPTANCE, method="integrated-gradients",
                                                       target="negative"))
    randoms = [text_faithfulness(minilm, ACCEPTANCE, explain(minilm, ACCEPTANCE, method="random", target="negative",
                                                             seed=s)) for s in range(10)]
    assert ig["aopc_comprehensiveness"] > np.mean([r["aopc_comprehensiveness"] for r in randoms]) + 0.1
    assert ig["aopc_sufficiency"] < np.mean([r["aopc_sufficiency"] for r in randoms]) - 0.05
