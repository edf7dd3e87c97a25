"""A text longer than the model reads, explained whole by windows.

The model reads at most ``max_length`` tokens. ``TextClassifier.windows`` cuts the whole text into windows it can
read, overlapping by ``max_length − stride`` tokens. The text's prediction is the **mean of the windows' outputs**
(probabilities for the prediction shown; each method explains the same output it explains on one window, logits
or probabilities) — the usual way to classify a document longer than the model's limit. Each window is explained
for the same class, and a token's score is the **sum of its scores over the windows that read it, divided by the
number of windows**: for an additive method (integrated gradients, gradient × input, SHAP) this is exactly the
attribution of the mean output, so completeness carries over (the scores sum to the mean of the windows' own
sums). A token read by two windows can count twice: it moves both windows' outputs.
"""

from __future__ import annotations

import numpy as np
import torch

from explainers.core.explain import explain
from explainers.core.explanation import Explanation
from models.adapters.image import Prediction
from models.adapters.text import Encoding


def window_prediction(model, windows: list[Encoding]) -> Prediction:
    """The text's prediction: the mean of its windows' class probabilities."""
    with torch.inference_mode():
        probs = [torch.softmax(model.forward(w.input_ids).float(), dim=1)[0].cpu().numpy() for w in windows]
    return Prediction(probs=np.mean(probs, axis=0), labels=model.labels)


def explain_windows(model, text, method: str, target=None, *, stride: int | None = None, windows=None,
                    progress=None, cancel=None, **params) -> Explanation:
    """``method`` on every window of ``text`` (``model.windows(text, stride)``, or the ``windows`` given) for one
    class — ``target``, or the top class of the windows' mean probabilities — merged into one explanation of the
    whole text (see the module's docstring). ``progress(done, total)`` counts the windows' passes together."""
    windows = windows if windows is not None else model.windows(text, stride)
    if target is None:
        target = int(window_prediction(model, windows).probs.argmax())
    elif isinstance(target, str) and target in model.labels:
        target = model.labels.index(target)
    done_before, window_total = [0], [0]

    def each_progress(done, total):  # one bar over the windows: each run's total is fixed before it starts
        window_total[0] = total
        if progress is not None:
            progress(done_before[0] + done, total * len(windows))  # windows of equal length cost the same

    parts = []
    for w in windows:
        e = explain(model, w, method=method, target=target, progress=each_progress, cancel=cancel, **params)
        done_before[0] += window_total[0]
        parts.append(e)
    return merge(parts, windows, model)


def merge(parts: list[Explanation], windows: list[Encoding], model) -> Explanation:
    """One explanation of the whole text from its windows' explanations (same method, class and parameters)."""
    first = parts[0]
    if len(parts) == 1:
        return first
    text = windows[0].text
    spans: dict[tuple[int, int], int] = {}  # a content token's character span → its position in the whole text
    tokens, offsets, word_ids = [], [], []
    for w in windows:
        for token, span, word, special in zip(w.tokens, w.offsets, w.word_ids, w.special):
            if not special and tuple(span) not in spans:
                spans[tuple(span)] = len(tokens)
                tokens.append(token), offsets.append(tuple(span)), word_ids.append(word)
    order = np.argsort([a for a, _ in offsets], kind="stable")
    position = {old: new for new, old in enumerate(order)}
    scores = np.zeros(len(tokens), dtype=np.float64)
    for e, w in zip(parts, windows):
        s = np.asarray(e.scores, dtype=np.float64).ravel()
        for i, (span, special) in enumerate(zip(w.offsets, w.special)):
            if not special:
                scores[position[spans[tuple(span)]]] += s[i]
    scores /= len(parts)
    head, tail = windows[0].special.argmin(), len(windows[0].special) - windows[0].special[::-1].argmin()
    before, after = list(windows[0].tokens[:head]), list(windows[0].tokens[tail:])  # [CLS] … [SEP] as one window has
    n_before, n_after = len(before), len(after)
    extras = {k: v for k, v in first.extras.items() if k not in ("offsets", "special", "word_ids", "truncation")}
    extras.update(
        offsets=[[0, 0]] * n_before + [list(offsets[i]) for i in order] + [[0, 0]] * n_after,
        special=[True] * n_before + [False] * len(tokens) + [True] * n_after,
        word_ids=[None] * n_before + [word_ids[i] for i in order] + [None] * n_after,
        truncation=None,
        windows={"count": len(windows), "length": int((~windows[0].special).sum()),
                 "starts": [int(position[spans[tuple(w.offsets[int(np.argmin(w.special))])]]) for w in windows]},
    )
    for key in ("completeness",):  # a figure of one window: not the whole text's
        extras.pop(key, None)
    return Explanation(
        scores=np.concatenate([np.zeros(n_before), scores, np.zeros(n_after)]).astype(np.float32),
        method=first.method,
        modality=first.modality,
        model=first.model,
        target=first.target,
        target_label=first.target_label,
        params={**first.params, "windows": len(windows)},
        device=first.device,
        runtime_s=float(sum(e.runtime_s for e in parts)),
        n_forward=int(sum(e.n_forward for e in parts)),
        n_backward=int(sum(e.n_backward for e in parts)),
        tokens=before + [tokens[i] for i in order] + after,
        extras=extras,
        signed=first.signed,
    )
