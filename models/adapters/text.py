"""The text-classifier adapter: tokenise (with a visible truncation warning), forward (counted), predict.

A module wrapped here is called as ``module(input_ids, attention_mask) -> logits``
and answers ``module.attentions(input_ids, attention_mask)`` with one
(batch, heads, T, T) tensor per layer. Explainers hide a token by giving it the
id ``HIDDEN`` (-1): ``forward`` turns it into the pad id with attention mask 0,
so the token is removed from every attention and from mean pooling while the
other tokens keep their positions. Batches of unequal texts are padded the same way.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn

from models.adapters.image import Prediction
from models.adapters.base import ModelAdapter
from models.errors import InputError
from models.inputs.texts import clean_text

HIDDEN = -1  # token id meaning "not there": pad id under a zero attention mask


@dataclass
class Encoding:
    """One text as the model reads it, with what was cut off."""

    text: str  # the cleaned text
    input_ids: torch.Tensor  # (1, T) on the model's device
    tokens: list[str]
    offsets: list[tuple[int, int]]  # character span of each token in ``text``; (0, 0) for special tokens
    special: np.ndarray  # (T,) bool: [CLS], [SEP] ... — shown, never scored
    word_ids: list[int | None]
    n_tokens_total: int  # tokens of the whole text, special ones included
    warning: str | None = None  # set when the text was truncated: how much was kept
    kept_text: str = field(default="")  # the part of ``text`` the model reads
    model: str = ""  # the name of the model whose tokenizer made it

    @property
    def attention_mask(self) -> torch.Tensor:
        return torch.ones_like(self.input_ids)

    @property
    def content(self) -> np.ndarray:
        """Indices of the scorable (non-special) tokens."""
        return np.flatnonzero(~self.special)


class TextClassifier(ModelAdapter):
    """A torch sequence classifier with its tokenizer and class names."""

    modality = "text"
    input_name = "text"
    language: str | None = None  # the language it was trained on, when known ("English"): the Text page's note

    def __init__(
        self,
        name: str,
        module: nn.Module,
        tokenizer,
        labels: list[str],
        embeddings: nn.Module,
        max_length: int,
        device: torch.device | str | None = None,
    ):
        super().__init__(name, labels, device)
        self.module = module.eval().to(self.device)
        self.tokenizer = tokenizer
        self.embeddings = embeddings  # the token-embedding layer (ids -> vectors), for gradient methods
        self.max_length = int(max_length)
        self.pad_token_id = int(tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0)
        self.mask_token_id = tokenizer.mask_token_id
        # texts are small: batch many on GPU, a few on CPU (explicit, since the engine sizes image batches)
        self.batch_size = 256 if self.device.type == "cuda" else 32

    def encode(self, text) -> Encoding:
        """``text`` cleaned and tokenised, truncated to ``max_length`` tokens with a warning saying how much was kept.

        An ``Encoding`` this model made is returned as it is: a text is cleaned and tokenised once per run."""
        if isinstance(text, Encoding):
            if text.model == self.name and text.input_ids.device.type == self.device.type:
                return text
            text = text.text
        text = clean_text(text)
        tok = self.tokenizer
        with self.lock:  # a fast tokenizer switches its truncation per call: two at once fail ("Already borrowed")
            full = tok(text, add_special_tokens=True, return_offsets_mapping=True, return_special_tokens_mask=True,
                       truncation=True, max_length=self.max_length, return_overflowing_tokens=False, verbose=False)
            n_total = len(tok(text, add_special_tokens=True, verbose=False)["input_ids"])
        ids = full["input_ids"]
        special = np.asarray(full["special_tokens_mask"], dtype=bool)
        if not (~special).any():
            raise InputError("The text has no tokens the model can read (it may be only spaces or unknown symbols).")
        offsets = [tuple(map(int, o)) for o in full["offset_mapping"]]
        content = np.flatnonzero(~special)
        kept_chars = offsets[content[-1]][1]
        warning = None
        if n_total > len(ids):
            warning = (
                f"The text is {n_total - int(special.sum()):,} tokens long but {self.name} reads at most "
                f"{self.max_length}: only the first {len(content):,} tokens ({kept_chars:,} of {len(text):,} "
                "characters) were kept."
            )
        word_ids = list(full.word_ids()) if hasattr(full, "word_ids") else [None] * len(ids)
        return self._encoding(text, ids, offsets, special, word_ids, n_total, text[:kept_chars], warning)

    def _encoding(self, text, ids, offsets, special, word_ids, n_total, kept_text, warning=None) -> Encoding:
        """An ``Encoding`` of ``ids`` (special tokens included) read from ``text`` by this model."""
        return Encoding(
            text=text,
            input_ids=torch.tensor([ids], dtype=torch.long, device=self.device),
            tokens=self.tokenizer.convert_ids_to_tokens(ids),
            offsets=offsets,
            special=special,
            word_ids=word_ids,
            n_tokens_total=n_total,
            warning=warning,
            kept_text=kept_text,
            model=self.name,
        )

    def windows(self, text, stride: int | None = None) -> list[Encoding]:
        """The whole of ``text`` as windows the model can read: each ``max_length`` tokens long with its special
        tokens, the next starting ``stride`` content tokens later (default: half a window, so every token but the
        first and last half-window's is read twice), the last one ending with the text. Each window's offsets point
        into the whole cleaned text; a text the model reads whole is one window (``encode``)."""
        whole = self.encode(text)
        if whole.warning is None:
            return [whole]
        tok, text = self.tokenizer, whole.text
        with self.lock:
            full = tok(text, add_special_tokens=False, return_offsets_mapping=True, verbose=False)
            probe = tok("a", add_special_tokens=True, return_special_tokens_mask=True, verbose=False)
        marks = np.asarray(probe["special_tokens_mask"], dtype=bool)  # the special tokens around any text: [CLS] … [SEP]
        first, last = int(np.argmin(marks)), len(marks) - int(np.argmin(marks[::-1]))
        around = (list(probe["input_ids"][:first]), list(probe["input_ids"][last:]))
        n_special = len(around[0]) + len(around[1])
        ids, offsets = list(full["input_ids"]), [tuple(map(int, o)) for o in full["offset_mapping"]]
        word_ids = list(full.word_ids()) if hasattr(full, "word_ids") else [None] * len(ids)
        length = self.max_length - n_special
        if length < 1:
            raise InputError(f"{self.name} reads at most {self.max_length} tokens: too few for a window.")
        stride = length // 2 if stride is None else int(stride)
        if not 1 <= stride <= length:
            raise InputError(f"The stride must be between 1 and the window's {length} tokens; it is {stride}.")
        starts = list(range(0, max(len(ids) - length, 0) + 1, stride))
        if starts[-1] + length < len(ids):
            starts.append(len(ids) - length)  # the last window ends with the text
        return [self._window(text, ids, offsets, word_ids, around, a, min(a + length, len(ids)), len(ids))
                for a in starts]

    def _window(self, text, ids, offsets, word_ids, around, a, b, n_total) -> Encoding:
        window = around[0] + ids[a:b] + around[1]
        special = np.asarray([True] * len(around[0]) + [False] * (b - a) + [True] * len(around[1]))
        content = iter(range(a, b))
        spans, words = [], []
        for is_special in special:
            i = None if is_special else next(content)
            spans.append((0, 0) if i is None else offsets[i])
            words.append(None if i is None else word_ids[i])
        return self._encoding(text, window, spans, special, words, n_total, text[offsets[a][0]:offsets[b - 1][1]])

    def _inputs(self, input_ids: torch.Tensor, attention_mask: torch.Tensor | None):
        hidden = input_ids == HIDDEN
        mask = (~hidden).long() if attention_mask is None else attention_mask * (~hidden).long()
        return torch.where(hidden, torch.full_like(input_ids, self.pad_token_id), input_ids), mask

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor | None = None) -> torch.Tensor:
        """Logits (N, n_classes); every text counts as one forward pass. Ids ``HIDDEN`` are masked out.

        Holds the model's lock, so another session's pass cannot fire an explanation's hooks.
        """
        with self.lock:
            self.count_forward(input_ids.shape[0])
            return self.module(*self._inputs(input_ids, attention_mask))

    def attentions(self, input_ids: torch.Tensor, attention_mask: torch.Tensor | None = None) -> list[torch.Tensor]:
        """Attention probabilities, one (N, heads, T, T) tensor per layer; counted as a forward pass."""
        with self.lock:
            self.count_forward(input_ids.shape[0])
            return list(self.module.attentions(*self._inputs(input_ids, attention_mask)))

    def probe_passes(self, n_tokens: int | None = None):
        """How the cost probe (explainers/core/cost.py) times this model on texts of ``n_tokens`` tokens (specials
        included; default 22, a 20-token text): (the batch long runs use, ``forward(b)``, ``forward_backward(b)``),
        each of the last two giving a function that runs ``b`` such texts once (a backward to the embeddings,
        as the gradient methods make it). Not counted."""
        n_tokens = int(n_tokens or 22)

        def ids(b):
            return torch.full((b, n_tokens), self.pad_token_id, dtype=torch.long, device=self.device)

        def forward(b):
            x = ids(b)
            mask = torch.ones_like(x)

            def run():
                with torch.inference_mode():
                    self.module(x, mask)
            return run

        def forward_backward(b):
            x = ids(b)
            mask = torch.ones_like(x)

            def run():
                seen = []
                handle = self.embeddings.register_forward_hook(lambda _m, _i, out: seen.append(out))
                try:
                    with torch.enable_grad():
                        out = self.module(x, mask)
                        torch.autograd.grad(out[:, 0].sum(), seen[-1])
                finally:
                    handle.remove()
            return run

        return self.batch_size, forward, forward_backward

    def predict(self, text) -> Prediction:
        enc = self.encode(text)
        with torch.inference_mode():
            logits = self.forward(enc.input_ids)
        probs = torch.softmax(logits.float(), dim=1)[0].cpu().numpy()
        if probs.shape[0] != len(self.labels):
            raise InputError(f"The model gives {probs.shape[0]} outputs but has {len(self.labels)} class names.")
        return Prediction(probs=probs, labels=self.labels)


class SequenceLogits(nn.Module):
    """A transformers ``*ForSequenceClassification`` called as ``(input_ids, attention_mask) -> logits``."""

    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model

    def forward(self, input_ids, attention_mask):
        return self.model(input_ids=input_ids, attention_mask=attention_mask).logits

    def attentions(self, input_ids, attention_mask):
        return self.model(input_ids=input_ids, attention_mask=attention_mask, output_attentions=True).attentions
