"""Ranked bars: entries (tokens, features, concepts, classes) as horizontal bars, the first on top.

One list of (label, value, colour) rows gives the Plotly bars (pages, HTML report) and the PDF's vector bars.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import plotly.graph_objects as go

from reports.describe import concept_name, feature_names, is_craft
from reports.figures.base import Renderer, css, label
from reports.figures.colour_scales import NEGATIVE, concept_colour, sign_colour
from reports.figures.token_highlight import units

TOP_BARS = 20  # entries shown in a ranked bar chart
MAGNITUDE = NEGATIVE  # the one colour of bars that carry no sign (mean |SHAP|, importances)


@dataclass
class Row:
    label: str  # as given (escaped for Plotly when drawn)
    value: float
    colour: tuple[int, int, int]


@dataclass
class Bars:
    rows: list[Row]  # first shown on top
    title: str = ""
    x_title: str = ""
    percent: bool = False  # values are probabilities: axis 0–100 %, each bar labelled
    y_title: str = ""  # what the entries are: "token", "feature", "concept", "class"


def prepare_values(names, values, *, colours=None, order: str = "magnitude", top: int | None = TOP_BARS,
                   title: str = "", x_title: str = "attribution", percent: bool = False, y_title: str = "") -> Bars:
    """``order``: "magnitude" (largest |value| first), "value" (largest first) or "given". ``colours``: one RGB per
    entry, one RGB for all, or None: red for positive values, blue for negative ones."""
    values = np.asarray(values, dtype=np.float64).ravel()
    if order == "magnitude":
        idx = np.argsort(-np.abs(np.nan_to_num(values)), kind="stable")
    elif order == "value":
        idx = np.argsort(-np.nan_to_num(values, nan=-np.inf), kind="stable")
    else:
        idx = np.arange(len(values))
    idx = idx[:top] if top is not None else idx

    def colour(i):
        if colours is None:
            return sign_colour(values[i])
        return tuple(colours) if isinstance(colours[0], (int, np.integer)) else tuple(colours[i])

    rows = [Row(str(names[i]), float(values[i]), colour(i)) for i in idx]
    return Bars(rows, title, x_title, percent, y_title)


def prepare(explanation, per_word: bool = False, top: int | None = TOP_BARS, title: str = "",
            x_title: str | None = None, magnitude: bool = False) -> Bars:
    """The bars of a 1-D explanation: tokens (or words; special tokens left out), features, or CRAFT's concepts.
    ``magnitude``: |scores| in one colour, largest on top (Compare's shared scale)."""
    e = explanation
    if is_craft(e):
        return concept_bars(e.scores, title, x_title or "importance")
    if e.tokens and "offsets" in e.extras:
        parts = [u for u in units(e, per_word) if not u["special"]]
        names, values = [u["label"] for u in parts], [u["score"] for u in parts]
        entry = "word" if per_word else "token"
    else:
        names, values = feature_names(e), e.scores
        entry = "token" if e.tokens else "feature"
    if magnitude:
        return magnitude_bars(names, np.abs(np.asarray(values, dtype=np.float64)), title, top=top, y_title=entry)
    return prepare_values(names, values, top=top, title=title, x_title=x_title or "attribution", y_title=entry)


def magnitude_bars(names, values, title: str = "", x_title: str = "|score|", top: int | None = TOP_BARS,
                   y_title: str = "feature") -> Bars:
    """Values without a sign (mean |SHAP|, importances), largest on top, in one colour."""
    return prepare_values(names, values, order="value", colours=MAGNITUDE, top=top, title=title, x_title=x_title,
                          y_title=y_title)


def concept_bars(importance, title: str = "Concept importance", x_title: str = "importance") -> Bars:
    """Concepts by importance, most important on top, each in its concept's colour."""
    n = len(importance)
    return prepare_values([concept_name(i) for i in range(n)], importance, order="value", top=None,
                          colours=[concept_colour(i) for i in range(n)], title=title, x_title=x_title,
                          y_title="concept")


def plotly(d: Bars) -> go.Figure:
    rows = d.rows[::-1]  # Plotly draws the first category at the bottom
    names = [label(r.label) for r in rows]
    values = [r.value for r in rows]
    bar = dict(x=values, y=list(range(len(rows))), orientation="h", marker_color=[css(r.colour) for r in rows],
               customdata=names)
    if d.percent:
        bar.update(text=[f"{v:.1%}" for v in values], textposition="auto",
                   hovertemplate="%{customdata}: %{x:.2%}<extra></extra>")
    else:
        bar.update(hovertemplate="%{customdata}: %{x:.4g}<extra></extra>")
    fig = go.Figure(go.Bar(**bar))
    fig.update_yaxes(tickvals=list(range(len(rows))), ticktext=names, range=[-0.5, len(rows) - 0.5],
                     title=label(d.y_title) if d.y_title else None)
    fig.update_xaxes(title=label(d.x_title) if d.x_title else None)
    if d.percent:
        fig.update_xaxes(range=[0, 1], tickformat=".0%")
    fig.update_layout(title=label(d.title) if d.title else None, height=60 + 24 * len(rows) + (30 if d.title else 0),
                      margin=dict(l=10, r=10, t=40 if d.title else 10, b=10))
    return fig


RENDERER = Renderer("ranked_bars", prepare, plotly=plotly)


def top_classes(top: list[tuple[int, str, float]]) -> Bars:
    """A prediction's (index, label, probability), best on top, on a probability axis."""
    return prepare_values([name for _, name, _ in top], [p for _, _, p in top], order="given", top=None,
                          colours=MAGNITUDE, x_title="probability", percent=True, y_title="class")


TOP_CLASSES = Renderer("top_classes", top_classes, plotly=plotly)
