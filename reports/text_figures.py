"""Token highlighting (escaped HTML) and the ranked token chart for text explanations. No Streamlit here."""

from __future__ import annotations

import html

import numpy as np
import plotly.graph_objects as go

from reports.figures import label


def units(explanation, per_word: bool = False) -> list[dict]:
    """What to colour: tokens, or words (pieces summed), as {label, span, score, special}."""
    ex = explanation.extras
    tokens, scores = explanation.tokens, np.asarray(explanation.scores, dtype=np.float64)
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


def _colour(score: float, scale: float, signed: bool) -> str:
    strength = min(1.0, abs(score) / scale) if scale > 0 else 0.0
    rgb = (214, 39, 40) if score >= 0 or not signed else (31, 119, 180)  # red toward the class, blue against
    return f"rgba({rgb[0]},{rgb[1]},{rgb[2]},{0.85 * strength:.3f})"


def token_html(text: str, explanation, per_word: bool = False, signed: bool = True) -> str:
    """The text with each token (or word) on a background coloured by its score; the score shows on hover.

    Diverging scale centred at 0 for signed methods (red toward the class, blue
    against), one hue for unsigned ones; the scale is the largest |score|.
    Every piece of the text is escaped with ``html.escape``.
    """
    parts = units(explanation, per_word)
    scale = max((abs(u["score"]) for u in parts if not u["special"]), default=0.0)
    pieces, cursor = [], 0
    for u in parts:
        if u["special"]:
            pieces.append(f'<span style="color:#888;font-size:0.75em;margin:0 2px">{html.escape(u["label"])}</span>')
            continue
        a, b = u["span"]
        if a > cursor:
            pieces.append(html.escape(text[cursor:a]))
        shown = text[a:b] if b > a else u["label"]
        pieces.append(
            f'<span class="lumen-token" title="{html.escape(u["label"])}: {u["score"]:+.4g}" '
            f'style="background:{_colour(u["score"], scale, signed)};border-radius:3px;padding:1px 1px">'
            f"{html.escape(shown)}</span>"
        )
        cursor = max(cursor, b)
    return '<div style="line-height:2;white-space:pre-wrap">' + "".join(pieces) + "</div>"


def token_bar(explanation, per_word: bool = False, top: int = 20, title: str = "") -> go.Figure:
    """Horizontal bars of the ``top`` tokens (or words) by |score|, special tokens left out."""
    parts = [u for u in units(explanation, per_word) if not u["special"]]
    parts = sorted(parts, key=lambda u: -abs(u["score"]))[:top][::-1]
    labels = [label(u["label"]) for u in parts]
    fig = go.Figure(
        go.Bar(
            x=[u["score"] for u in parts],
            y=list(range(len(parts))),
            orientation="h",
            marker_color=["#d62728" if u["score"] >= 0 else "#1f77b4" for u in parts],
            hovertemplate="%{text}: %{x:.4g}<extra></extra>",
            text=labels,
            textposition="none",
        )
    )
    fig.update_yaxes(tickvals=list(range(len(parts))), ticktext=labels)
    fig.update_layout(title=label(title), height=max(220, 22 * len(parts) + 80), margin=dict(l=10, r=10, t=40, b=10))
    return fig
