"""Token highlight: a text with each token (or word) on a background coloured by its score.

One prepared list of pieces gives the escaped HTML (text page, Compare, HTML report) and the PDF's filled cells.
Signed scores: red toward the class, blue against; unsigned: red. The strength is |score| over the largest
|score| of the text's (non-special) tokens, drawn at most ``MAX_ALPHA`` opaque.
"""

from __future__ import annotations

import html as html_lib
from dataclasses import dataclass

import numpy as np

from reports.figures.base import Renderer
from reports.figures.colour_scales import NEGATIVE, POSITIVE, sign_colour, tint

MAX_ALPHA = 0.8


@dataclass
class Piece:
    shown: str  # what the reader sees: the text's characters, or the token when it has none
    label: str = ""  # the token (or word) as the tokenizer names it; "" for text between tokens
    score: float = 0.0
    colour: tuple[int, int, int] = POSITIVE
    alpha: float = 0.0
    kind: str = "gap"  # "token", "special", "gap" or "unread" (the tail of a text the model did not read)

    @property
    def fill(self) -> tuple[int, int, int]:
        """The background as it shows on white paper (the PDF's fill)."""
        return tint(self.colour, self.alpha)

    @property
    def css(self) -> str:
        return f"rgba({self.colour[0]},{self.colour[1]},{self.colour[2]},{self.alpha:.3f})"


@dataclass
class Key:
    """The legend: what the backgrounds mean, with a swatch of each colour at full strength."""

    title: str  # "relevance to positive"
    swatches: list[tuple[tuple[int, int, int], str]]  # (colour, what it means)
    strength: str  # how opaque a background is

    @property
    def text(self) -> str:
        return f"{self.title}: " + ", ".join(w for _, w in self.swatches) + f"; {self.strength}"


@dataclass
class Highlight:
    pieces: list[Piece]
    key: Key | None = None
    unread: str | None = None  # what the model did not read of a longer text, said in words

    @property
    def cells(self) -> list[Piece]:
        """The tokens (and special tokens) alone, in order: what the PDF draws as filled cells."""
        return [p for p in self.pieces if p.kind in ("token", "special")]


def units(explanation, per_word: bool = False) -> list[dict]:
    """What to colour: tokens, or words (pieces summed), as {label, span, score, special}. Without the
    tokenizer's offsets (a hand-made or imported explanation) each token stands alone and has no span."""
    ex, tokens = explanation.extras, list(explanation.tokens or [])
    scores = np.asarray(explanation.scores, dtype=np.float64).ravel()
    if not all(k in ex for k in ("offsets", "special", "word_ids")) or len(ex["offsets"]) != len(tokens):
        return [{"label": t, "span": None, "score": float(s), "special": False} for t, s in zip(tokens, scores)]
    out: list[dict] = []
    previous = object()
    for i, token in enumerate(tokens):
        span = tuple(ex["offsets"][i])
        special = bool(ex["special"][i])
        word = ex["word_ids"][i]
        if per_word and not special and out and word is not None and word == previous and not out[-1]["special"]:
            out[-1]["span"] = (out[-1]["span"][0], span[1])
            out[-1]["score"] += float(scores[i])
            out[-1]["label"] += token[2:] if token.startswith("##") else token
        else:
            out.append({"label": token, "span": span, "score": float(scores[i]), "special": special})
        previous = word
    return out


def prepare(explanation, text: str | None = None, per_word: bool = False) -> Highlight:
    """The pieces of ``text`` (or of the tokens, space-separated, when the text or offsets are missing)."""
    parts = units(explanation, per_word)
    if text is not None and any(u["span"] is not None and u["span"][1] > len(text) for u in parts):
        text = None  # the offsets belong to another text (not the one cleaned for the model): tokens alone
    signed = explanation.signed
    top = max((abs(u["score"]) for u in parts if not u["special"]), default=0.0)
    pieces, cursor = [], 0
    for u in parts:
        if u["special"]:
            pieces.append(Piece(u["label"], u["label"], u["score"], kind="special"))
            continue
        colour = sign_colour(u["score"]) if signed else POSITIVE
        alpha = MAX_ALPHA * min(1.0, abs(u["score"]) / top) if top > 0 else 0.0
        if u["span"] is None or text is None:
            if pieces:
                pieces.append(Piece(" "))
            shown = u["label"]
        else:
            a, b = u["span"]
            if a > cursor:
                pieces.append(Piece(text[cursor:a]))
            shown = text[a:b] if b > a else u["label"]
            cursor = max(cursor, b)
        pieces.append(Piece(shown, u["label"], u["score"], colour, alpha, "token"))
    unread = None
    if text is not None and explanation.extras.get("truncation") and cursor < len(text.rstrip()):
        tail = text[cursor:]  # the model read the text up to its last token: the rest is shown, greyed
        unread = f"the last {len(tail.strip()):,} characters (greyed) were not read by the model"
        pieces.append(Piece(tail, kind="unread"))
    return Highlight(pieces, key(explanation, top), unread)


def key(explanation, top: float) -> Key:
    e = explanation
    target = e.target_label if e.target_label is not None else (None if e.target is None else f"class {e.target}")
    title = f"relevance to {target}" if target is not None else "relevance"
    if e.signed:
        swatches = [(POSITIVE, "red raises the class score"), (NEGATIVE, "blue lowers it")]
        strength = f"the stronger the colour, the larger |score| (full at {top:.3g}, the text's largest)"
    else:
        swatches = [(POSITIVE, "red: a higher score")]
        strength = f"the stronger the colour, the higher the score (full at {top:.3g}, the text's largest)"
    return Key(title, swatches, strength)


def legend_html(k: Key) -> str:
    """The legend line below the highlighted text, escaped: a swatch per colour and the words."""
    e = html_lib.escape
    swatches = " ".join(
        f'<span style="background:rgba({c[0]},{c[1]},{c[2]},{MAX_ALPHA});border-radius:3px;padding:0 6px">&nbsp;'
        f'</span> {e(words)}' for c, words in k.swatches)
    return (f'<div class="lumen-legend" style="font-size:0.8em;color:#555;margin-top:2px">'
            f'{e(k.title)}: {swatches}; {e(k.strength)}</div>')


def html(d: Highlight) -> str:
    """Every piece escaped with ``html.escape``; the token and its score show on hover; the legend below."""
    out = []
    for p in d.pieces:
        if p.kind == "gap":
            out.append(html_lib.escape(p.shown))
        elif p.kind == "unread":
            out.append(f'<span class="lumen-unread" title="not read by the model" style="color:#999;'
                       f'background:repeating-linear-gradient(135deg,#f3f3f3 0 6px,#fff 6px 12px)">'
                       f'{html_lib.escape(p.shown)}</span>')
        elif p.kind == "special":
            out.append(f'<span style="color:#888;font-size:0.75em;margin:0 2px">{html_lib.escape(p.shown)}</span>')
        else:
            out.append(f'<span class="lumen-token" title="{html_lib.escape(p.label)}: {p.score:+.4g}" '
                       f'style="background:{p.css};border-radius:3px;padding:1px 1px">{html_lib.escape(p.shown)}</span>')
    legend = legend_html(d.key) if d.key is not None else ""
    if d.unread:
        legend += f'<div class="lumen-legend" style="font-size:0.8em;color:#555">{html_lib.escape(d.unread)}</div>'
    return '<div style="line-height:2;white-space:pre-wrap">' + "".join(out) + "</div>" + legend


def token_html(text: str | None, explanation, per_word: bool = False) -> str:
    """The escaped HTML highlight of ``explanation`` over ``text``: the one builder pages may render raw."""
    return html(prepare(explanation, text, per_word))


RENDERER = Renderer("token_highlight", prepare, html=html)
