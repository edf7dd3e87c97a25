"""Text comprehensiveness and sufficiency (DeYoung et al. 2020, ERASER) against their definitions, on tiny models.

The default takes tokens away by deleting them (the shorter sequence, [CLS]/[SEP] kept); the
attention-mask variant keeps every position and hides the tokens. The tiny BERT has position
embeddings, so the two differ there and each is checked by hand.
"""

import numpy as np
import pytest
import torch
from torch import nn

from explainers import explain
from explainers.metrics.text import DECILES, ERASER_BINS, FRACTIONS, text_faithfulness, text_faithfulness_passes
from models.adapters.text import SequenceLogits, TextClassifier
from models.errors import ExplainerError
from tests.tiny_text import bag_model, tokenizer

TEXT = "the cat sat on the unbelievable mat"
TARGET = 2


@pytest.fixture(scope="module")
def bert():
    """A 2-layer BERT with position embeddings whose answer moves with its input (weights drawn wide enough:
    at BERT's usual 0.02 a random tiny BERT gives nearly the same probabilities for every text)."""
    from transformers import BertConfig, BertForSequenceClassification

    config = BertConfig(vocab_size=30522, hidden_size=16, num_hidden_layers=2, num_attention_heads=2,
                        intermediate_size=32, max_position_embeddings=64, num_labels=3, initializer_range=0.5,
                        hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(3)
        hf = BertForSequenceClassification(config).eval()
    model = TextClassifier("wide-bert", SequenceLogits(hf), tokenizer(), ["a", "b", "c"], hf.get_input_embeddings(),
                           max_length=64, device="cpu")
    return model, hf


def probability(hf, ids, mask=None) -> float:
    """The target's probability for one sequence run alone through the transformers model."""
    with torch.no_grad():
        mask = torch.ones_like(ids) if mask is None else mask
        return float(torch.softmax(hf(input_ids=ids[None], attention_mask=mask[None]).logits, -1)[0, TARGET])


def top_tokens(enc, scores, q) -> list[int]:
    order = enc.content[np.argsort(-np.asarray(scores)[enc.content], kind="stable")]
    return sorted(order[: max(1, int(np.ceil(q * len(enc.content))))].tolist())


@pytest.mark.parametrize("method", ["random", "occlusion"])
@pytest.mark.parametrize("fractions", [ERASER_BINS, DECILES])
def test_delete_is_a_by_hand_removal_of_the_top_tokens(bert, method, fractions):
    model, hf = bert
    enc = model.encode(TEXT)
    e = explain(model, TEXT, method=method, target=TARGET)
    f = text_faithfulness(model, TEXT, e, fractions=fractions)
    assert f["removal"] == "delete" and f["fractions"] == list(fractions)
    ids = enc.input_ids[0]
    full = probability(hf, ids)
    assert f["probability"] == pytest.approx(full, abs=1e-6)
    special = np.flatnonzero(enc.special).tolist()
    for r, q in enumerate(fractions):
        top = top_tokens(enc, e.scores, q)
        rest = [i for i in range(len(ids)) if i not in top]  # the shorter text: the top tokens deleted
        assert f["comprehensiveness"][r] == pytest.approx(full - probability(hf, ids[rest]), abs=1e-5)
        only = sorted(special + top)  # [CLS], the top tokens in their order, [SEP]
        assert f["sufficiency"][r] == pytest.approx(full - probability(hf, ids[only]), abs=1e-5)
    assert f["aopc_comprehensiveness"] == pytest.approx(np.mean(f["comprehensiveness"]))
    assert f["aopc_sufficiency"] == pytest.approx(np.mean(f["sufficiency"]))
    assert np.ptp(f["comprehensiveness"]) > 1e-3 and np.ptp(f["sufficiency"]) > 1e-3  # the model does react


def test_attention_mask_keeps_positions_and_hides_the_tokens(bert):
    """The option is the definition Lumen used before (HIDDEN ids: pad id under a zero attention mask)."""
    model, hf = bert
    enc = model.encode(TEXT)
    e = explain(model, TEXT, method="random", target=TARGET, seed=4)
    f = text_faithfulness(model, TEXT, e, fractions=DECILES, removal="attention-mask")
    deleted = text_faithfulness(model, TEXT, e, fractions=DECILES)
    assert f["removal"] == "attention-mask"
    ids = enc.input_ids[0]
    full = probability(hf, ids)

    def hidden(keep):
        mask = torch.zeros_like(ids)
        mask[keep] = 1
        return probability(hf, torch.where(mask.bool(), ids, torch.full_like(ids, model.pad_token_id)), mask)

    special = np.flatnonzero(enc.special).tolist()
    for r, q in enumerate(DECILES):
        top = top_tokens(enc, e.scores, q)
        rest = [i for i in range(len(ids)) if i not in top]
        assert f["comprehensiveness"][r] == pytest.approx(full - hidden(rest), abs=1e-5)
        assert f["sufficiency"][r] == pytest.approx(full - hidden(special + top), abs=1e-5)
    # with position embeddings the two removals are different operations: the test above can tell them apart
    assert np.abs(np.subtract(f["sufficiency"][:-1], deleted["sufficiency"][:-1])).max() > 1e-2
    assert np.abs(np.subtract(f["comprehensiveness"][:-1], deleted["comprehensiveness"][:-1])).max() > 1e-2
    # keeping every token is the text itself, either way
    assert f["sufficiency"][-1] == pytest.approx(0, abs=1e-6) and deleted["sufficiency"][-1] == pytest.approx(0, abs=1e-6)


def test_every_variant_is_a_counted_pass_and_batches_pad_per_batch(bert):
    model, _ = bert
    e = explain(model, TEXT, method="occlusion", target=TARGET)
    before = model.n_forward
    f = text_faithfulness(model, TEXT, e)
    assert model.n_forward - before == text_faithfulness_passes(FRACTIONS) == 1 + 2 * len(ERASER_BINS)
    small = model.fresh_copy()
    small.batch_size = 3  # rows of unequal length padded per batch of 3
    g = text_faithfulness(small, TEXT, e)
    assert small.n_forward == text_faithfulness_passes(FRACTIONS)
    np.testing.assert_allclose(g["comprehensiveness"], f["comprehensiveness"], atol=1e-6)
    np.testing.assert_allclose(g["sufficiency"], f["sufficiency"], atol=1e-6)


def test_unknown_removal_or_bins_are_refused():
    model = bag_model()
    e = explain(model, TEXT, method="random", target=1)
    with pytest.raises(ExplainerError, match="removal"):
        text_faithfulness(model, TEXT, e, removal="zero")
    with pytest.raises(ExplainerError, match="bins"):
        text_faithfulness(model, TEXT, e, fractions=(0.0, 0.5))


class OneToken(nn.Module):
    """p(class 1) = σ(4·[the key token is read] − 2): the answer depends on one known token and nothing else."""

    def __init__(self, key: int, vocab: int = 30522):
        super().__init__()
        self.embed = nn.Embedding(vocab, 1)
        with torch.no_grad():
            self.embed.weight.zero_()
            self.embed.weight[key] = 4.0

    def forward(self, input_ids, attention_mask):
        s = (self.embed(input_ids)[..., 0] * attention_mask).sum(1) - 2.0
        return torch.stack([torch.zeros_like(s), s], dim=1)

    def attentions(self, input_ids, attention_mask):
        return None


@pytest.mark.parametrize("removal", ["delete", "attention-mask"])
def test_a_random_explanation_scores_worse_than_the_true_one(removal):
    text = "the service was slow but the food was awful tonight"
    key = tokenizer().convert_tokens_to_ids("awful")
    module = OneToken(key)
    model = TextClassifier("one-token", module, tokenizer(), ["other", "awful"], module.embed, max_length=64,
                           device="cpu")
    enc = model.encode(text)
    truth = explain(model, text, method="occlusion", target=1)
    assert enc.tokens[int(np.argmax(truth.scores))] == "awful"
    t = text_faithfulness(model, text, truth, removal=removal)
    drop = 1 / (1 + np.exp(-2.0)) - 1 / (1 + np.exp(2.0))  # p with the key token − p without it
    assert t["aopc_comprehensiveness"] == pytest.approx(drop, abs=1e-6)
    assert t["aopc_sufficiency"] == pytest.approx(0, abs=1e-6)
    randoms = [text_faithfulness(model, text, explain(model, text, method="random", target=1, seed=s),
                                 removal=removal) for s in range(20)]
    comp = np.array([r["aopc_comprehensiveness"] for r in randoms])
    suff = np.array([r["aopc_sufficiency"] for r in randoms])
    assert (comp <= t["aopc_comprehensiveness"] + 1e-9).all() and (suff >= t["aopc_sufficiency"] - 1e-9).all()
    assert comp.mean() < t["aopc_comprehensiveness"] - 0.2 and suff.mean() > t["aopc_sufficiency"] + 0.2
