"""Responsiveness: per feature, the chance of reaching the target by changing that feature alone (a bar in
[0, 1], its interval as an error bar when it was sampled), immutable features marked, the fixed flag in the title.

One prepared list of rows gives the Plotly figure (the Tables page, the HTML report) and the PNG (PDF, bundle).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import plotly.graph_objects as go
from PIL import Image, ImageDraw

from models.inputs.images import encode_png
from reports.figures.base import Renderer, _fit, _font, css, label
from reports.figures.colour_scales import NEGATIVE, NEUTRAL, POSITIVE

RESPONSIVE = NEGATIVE  # blue: the person can act on it
UNRESPONSIVE = POSITIVE  # red (drawn as a thin stub at 0): actionable, yet no allowed change reaches the target
IMMUTABLE = NEUTRAL
TOP = 20  # features shown: the most responsive first, then the actionable, then the immutable


@dataclass
class Entry:
    feature: str
    score: float
    low: float
    high: float
    n: int
    exact: bool
    status: str  # "responsive", "unresponsive" (actionable, never reaches the target) or "immutable"

    @property
    def colour(self) -> tuple[int, int, int]:
        return {"responsive": RESPONSIVE, "unresponsive": UNRESPONSIVE, "immutable": IMMUTABLE}[self.status]

    @property
    def text(self) -> str:
        if self.status == "immutable":
            return "immutable"
        if self.n == 0:
            return "no allowed change"
        if self.exact:
            return f"{self.score:.2f} (all {self.n} values)"
        return f"{self.score:.2f} [{self.low:.2f}, {self.high:.2f}] ({self.n} samples)"


@dataclass
class Responsiveness:
    entries: list[Entry]  # first shown on top
    title: str  # "Responsiveness: " + the fixed flag's sentence
    subtitle: str  # the current prediction and the target
    fixed: bool
    flag: str = ""  # the fixed flag's sentence (``headline``)


def headline(e) -> str:
    """The fixed flag said plainly (the page's sentence and the figure's title)."""
    x = e.extras
    goal = x.get("goal", "the target")
    if x.get("fixed"):
        pairs = " nor any pair of them" if x.get("pairs_checked") else ""
        if not x.get("actionable"):
            return f"Fixed prediction: no feature is actionable, so nothing can change the decision (to reach {goal})."
        return f"Fixed prediction: no single allowed change{pairs} reaches {goal}."
    n = int(np.sum(np.asarray(e.scores) > 0))
    paired = " (only by changing two features together)" if not n and x.get("pair_examples") else ""
    return f"Not fixed: {n} feature{'s' if n != 1 else ''} alone can reach {goal}{paired}."


def prepare(explanation, top: int = TOP) -> Responsiveness:
    e = explanation
    x = e.extras
    names = list(e.feature_names)
    scores = np.asarray(e.scores, dtype=float)
    ci = np.asarray(x.get("ci", np.stack([scores, scores], axis=1)), dtype=float)
    n = np.asarray(x.get("n", np.zeros(len(names))), dtype=int)
    exact = list(x.get("exact", [True] * len(names)))
    actionable = set(x.get("actionable", names))
    entries = []
    for j, f in enumerate(names):
        status = "immutable" if f not in actionable else ("responsive" if scores[j] > 0 else "unresponsive")
        entries.append(Entry(f, float(scores[j]), float(ci[j, 0]), float(ci[j, 1]), int(n[j]), bool(exact[j]), status))
    rank = {"responsive": 0, "unresponsive": 1, "immutable": 2}
    entries.sort(key=lambda en: (rank[en.status], -en.score))
    current = x.get("current", "?")
    current = f"{current:.4g}" if isinstance(current, float) else current
    subtitle = f"current prediction: {current} · target: {x.get('goal', '?')}"
    flag = headline(e)
    return Responsiveness(entries[:top], "Responsiveness: " + flag, subtitle, bool(x.get("fixed")), flag)


def plotly(d: Responsiveness) -> go.Figure:
    entries = d.entries
    shown = [max(en.score, 0.004) if en.status != "immutable" else 0.0 for en in entries]  # a stub shows a 0
    fig = go.Figure(go.Bar(
        x=shown, y=[label(en.feature) for en in entries], orientation="h",
        marker_color=[css(en.colour) for en in entries],
        hovertext=[f"{label(en.feature)}: {label(en.text)} ({en.status})" for en in entries], hoverinfo="text",
    ))
    sampled = [en for en in entries if en.high > en.low]  # an interval only where the score was sampled
    if sampled:
        fig.add_trace(go.Scatter(
            x=[en.score for en in sampled], y=[label(en.feature) for en in sampled], mode="markers",
            marker=dict(size=1, color="#444"), hoverinfo="skip",
            error_x=dict(type="data", symmetric=False, array=[en.high - en.score for en in sampled],
                         arrayminus=[en.score - en.low for en in sampled], color="#444", thickness=1.2)))
    fig.add_trace(go.Scatter(  # the numbers after the bar and its interval, never over them
        x=[max(en.score, en.high) + 0.02 for en in entries], y=[label(en.feature) for en in entries], mode="text",
        text=[label(en.text) for en in entries], textposition="middle right", hoverinfo="skip", cliponaxis=False,
        textfont=dict(color=["#7f7f7f" if en.status == "immutable" else "#222" for en in entries])))
    # three short lines, so that nothing is cut in a half-width column
    fig.update_layout(title=f"Responsiveness<br><sup>{label(d.flag)}</sup><br><sup>{label(d.subtitle)}</sup>",
                      xaxis=dict(title="P(reaching the target by changing this feature alone)", range=[0, 1.45],
                                 tickvals=[0, 0.25, 0.5, 0.75, 1]),
                      yaxis=dict(autorange="reversed", title="feature", automargin=True),
                      height=170 + 24 * len(entries), showlegend=False, margin=dict(l=10, r=20, t=90, b=40))
    return fig


def png(d: Responsiveness, width: int = 900) -> bytes:
    """The same bars drawn on white: the feature on the left, the bar and its interval, the text after it."""
    font, small = _font(14), _font(12)
    pad, row, left = 12, 24, min(260, width // 3)
    top = pad + 44
    height = top + row * max(1, len(d.entries)) + 40
    image = Image.new("RGB", (width, height), "white")
    draw = ImageDraw.Draw(image)
    draw.text((pad, pad), _fit(draw, d.title, font, width - 2 * pad), font=font, fill=(34, 34, 34))
    draw.text((pad, pad + 20), _fit(draw, d.subtitle, small, width - 2 * pad), font=small, fill=(90, 90, 90))
    x0, x1 = left, left + int((width - left - pad) * 0.6)
    x = lambda v: x0 + v * (x1 - x0)  # noqa: E731
    for i, en in enumerate(d.entries):
        cy = top + i * row + row / 2
        draw.text((pad, cy - 8), _fit(draw, en.feature, small, left - 2 * pad), font=small, fill=(34, 34, 34))
        end = x(en.score) if en.status != "immutable" else x0
        draw.rectangle((x0, cy - 8, max(end, x0 + 2), cy + 8), fill=en.colour)
        if en.high > en.low:
            draw.line((x(en.low), cy, x(en.high), cy), fill=(68, 68, 68), width=2)
            for v in (en.low, en.high):
                draw.line((x(v), cy - 5, x(v), cy + 5), fill=(68, 68, 68), width=2)
        draw.text((max(end, x(en.high)) + 6, cy - 8), en.text, font=small, fill=(34, 34, 34))
    axis_y = top + row * max(1, len(d.entries)) + 4
    draw.line((x0, axis_y, x1, axis_y), fill=(120, 120, 120))
    for v in (0, 0.25, 0.5, 0.75, 1):
        draw.line((x(v), axis_y, x(v), axis_y + 4), fill=(120, 120, 120))
        draw.text((x(v) - 10, axis_y + 6), f"{v:g}", font=small, fill=(34, 34, 34))
    return encode_png(np.asarray(image))


RENDERER = Renderer("responsiveness", prepare, plotly=plotly, png=png)
