"""A text longer than the model reads, explained whole by windows (explainers/text/windows.py), and the unread
tail of a truncated text shown greyed (reports/figures/token_highlight.py)."""

import numpy as np
import pytest
import torch

from explainers import explain
from explainers.text.windows import explain_windows, window_prediction
from models.adapters.text import TextClassifier
from models.errors import InputError
from reports.figures.token_highlight import prepare, token_html
from tests.tiny_text import BagOfEmbeddings, tokenizer

LONG = " ".join(f"word{i % 7} and the verdict" for i in range(12)) + " finally brilliant"


def short_bag(max_length=12) -> TextClassifier:
    module = BagOfEmbeddings()
    return TextClassifier("bag", module, tokenizer(), ["neg", "pos"], module.embed, max_length=max_length,
                          device="cpu")


def content_spans(model, text):
    whole = tokenizer()(model.encode(text).text, add_special_tokens=False, return_offsets_mapping=True)
    return [tuple(o) for o in whole["offset_mapping"]]


@pytest.mark.parametrize("stride", [None, 3, 10])
def test_windows_read_every_token_within_the_limit_and_end_with_the_text(stride):
    model = short_bag()
    windows = model.windows(LONG, stride)
    spans = content_spans(model, LONG)
    read = [tuple(s) for w in windows for s, special in zip(w.offsets, w.special) if not special]
    assert set(read) == set(spans)  # every token of the whole text is read by some window
    assert all(w.input_ids.shape[1] <= model.max_length for w in windows)
    assert all(w.tokens[0] == "[CLS]" and w.tokens[-1] == "[SEP]" for w in windows)
    length = model.max_length - 2
    starts = [spans.index(tuple(w.offsets[1])) for w in windows]
    step = length // 2 if stride is None else stride
    assert starts[:-1] == list(range(0, step * (len(windows) - 1), step))
    assert tuple(windows[-1].offsets[-2]) == spans[-1]  # the last window ends with the text


def test_a_text_the_model_reads_whole_is_one_window_and_a_bad_stride_is_refused():
    model = short_bag(max_length=64)
    (only,) = model.windows("a short text")
    assert only.warning is None and torch.equal(only.input_ids, model.encode("a short text").input_ids)
    with pytest.raises(InputError, match="stride"):
        short_bag().windows(LONG, stride=0)


def test_merged_gradient_x_input_is_closed_form_and_complete_on_a_bag_of_words():
    # logits = W · Σ E[id] + b: in a window, a token's gradient × input is E[id]·W[c]; a token read by k of the n
    # windows scores k/n of it, and the scores sum to the mean over windows of (logit − b)
    model = short_bag()
    windows = model.windows(LONG, 4)
    e = explain_windows(model, LONG, "gradient-x-input", target=1, windows=windows)
    E, W, b = model.module.embed.weight.detach(), model.module.linear.weight.detach(), model.module.linear.bias
    whole = tokenizer()(model.encode(LONG).text, add_special_tokens=False, return_offsets_mapping=True)
    spans = [tuple(o) for o in whole["offset_mapping"]]
    counts = {s: sum(tuple(s) in {tuple(o) for o in w.offsets} for w in windows) for s in spans}
    expected = np.array([counts[s] / len(windows) * float(E[i] @ W[1]) for s, i in zip(spans, whole["input_ids"])])
    assert e.tokens[0] == "[CLS]" and e.tokens[-1] == "[SEP]" and len(e.tokens) == len(spans) + 2
    np.testing.assert_allclose(e.scores[1:-1], expected, rtol=1e-5, atol=1e-6)
    assert e.scores[0] == 0 and e.scores[-1] == 0
    with torch.inference_mode():
        specials = float(sum(E[i] @ W[1] for i in windows[0].input_ids[0][windows[0].special]))  # [CLS], [SEP]
        mean_logit = np.mean([float(model.forward(w.input_ids)[0, 1] - b[1]) for w in windows]) - specials
    assert e.scores.sum() == pytest.approx(mean_logit, rel=1e-4)
    assert e.extras["windows"]["count"] == len(windows) and e.extras["truncation"] is None
    assert e.n_forward == sum(explain(model, w, method="gradient-x-input", target=1).n_forward for w in windows)


def test_the_last_words_are_explained_by_windows_and_not_when_cut():
    model = short_bag()
    cut = explain(model, LONG, method="gradient-x-input", target=1)
    whole = explain_windows(model, LONG, "gradient-x-input", target=1)
    assert "brilliant" not in cut.tokens and "brilliant" in whole.tokens
    assert whole.scores[whole.tokens.index("brilliant")] != 0
    probs = window_prediction(model, model.windows(LONG)).probs
    assert probs.sum() == pytest.approx(1.0) and whole.target == 1


def test_progress_of_windows_never_goes_back_and_ends_at_its_total():
    model = short_bag()
    seen = []
    explain_windows(model, LONG, "occlusion", target=0, progress=lambda d, t: seen.append((d, t)))
    assert seen and len({t for _, t in seen}) == 1  # one total, known from the start
    assert [d for d, _ in seen] == sorted(d for d, _ in seen) and seen[-1][0] == seen[-1][1]


def test_the_unread_tail_of_a_cut_text_is_greyed_with_its_length():
    model = short_bag()
    text = model.encode(LONG).text
    cut = explain(model, LONG, method="gradient-x-input", target=1)
    d = prepare(cut, text)
    tail = [p for p in d.pieces if p.kind == "unread"]
    assert len(tail) == 1 and tail[0].shown.strip().endswith("finally brilliant")
    assert d.unread.startswith(f"the last {len(tail[0].shown.strip()):,} characters")
    assert all(p.kind in ("token", "special") for p in d.cells)
    html = token_html(text, cut)
    assert "lumen-unread" in html and "not read by the model" in html
    whole = explain_windows(model, LONG, "gradient-x-input", target=1)
    assert "lumen-unread" not in token_html(text, whole)
