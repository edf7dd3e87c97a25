"""Waterfall: from the base value to a row's output, one step per feature (largest |score| first, the rest summed).

A step of a table row reads "feature = value" (the row's value: a number, a category or "missing"); the labels and
the numbers at the bars' ends are never clipped: the axis grows its margin to its longest label, and the x range
leaves room for the numbers."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import plotly.graph_objects as go

from reports.figures.base import Renderer, css, label
from reports.figures.colour_scales import NEUTRAL, sign_colour


@dataclass
class Step:
    label: str
    start: float
    end: float
    measure: str  # "absolute" (the base value), "relative" (a contribution) or "total" (the output)
    colour: tuple[int, int, int]

    @property
    def delta(self) -> float:
        return self.end - self.start


@dataclass
class Waterfall:
    steps: list[Step]
    base_value: float
    output: float
    output_name: str


def prepare(explanation, output: float | None = None, output_name: str = "model output",
            max_features: int = 12) -> Waterfall:
    """``output`` defaults to the explanation's own (``extras["output"]``), else base value + Σ scores."""
    e = explanation
    scores = np.asarray(e.scores, dtype=float)
    base = float(e.base_value or 0.0)
    if output is None:
        output = float(e.extras.get("output", base + scores.sum()))
    names = e.feature_names or [str(i) for i in range(scores.size)]
    row = e.extras.get("row")
    if row is not None and len(row) == len(names):  # a table row: "bill_length_mm = 49.5", "island = Dream"
        categories = e.extras.get("categories") or {}
        names = [f"{n} = {_value(v, categories.get(n))}" for n, v in zip(names, row)]
    order = np.argsort(-np.abs(scores), kind="stable")
    shown, rest = order[:max_features], order[max_features:]
    entries = [(str(names[i]), float(scores[i])) for i in shown]
    if len(rest):
        entries.append((f"{len(rest)} other features", float(scores[rest].sum())))
    steps, level = [Step("base value", 0.0, base, "absolute", NEUTRAL)], base
    for name, delta in entries:
        steps.append(Step(name, level, level + delta, "relative", sign_colour(delta)))
        level += delta
    steps.append(Step(output_name, 0.0, float(output), "total", NEUTRAL))
    return Waterfall(steps, base, float(output), output_name)


MAX_LABEL = 60  # characters of a step's label on the figure (the hover shows it whole)


def _value(v, categories) -> str:
    try:
        v = float(v)
    except (TypeError, ValueError):
        return str(v)
    if np.isnan(v):
        return "missing"
    if categories:
        k = int(round(v))
        return str(categories[k]) if 0 <= k < len(categories) else "unknown"
    return f"{v:.4g}"


def short_label(text: str, fits=lambda t: len(t) <= MAX_LABEL) -> str:
    """``text`` shortened with "…" until ``fits(text)``; a "feature = value" label keeps its value whole and
    shortens the feature's name (the value is what the row says)."""
    if fits(text):
        return text
    name, sep, value = text.rpartition(" = ") if " = " in text else (text, "", "")
    while len(name) > 1 and not fits(name + "…" + sep + value):
        name = name[:-1]
    return name + "…" + sep + value


_short = short_label


def plotly(d: Waterfall) -> go.Figure:
    s = d.steps
    ends = [0.0, *(step.start for step in s), *(step.end for step in s)]
    lo, hi = min(ends), max(ends)
    pad = 0.18 * ((hi - lo) or 1.0)  # room for the numbers printed outside the bars' ends
    fig = go.Figure(go.Waterfall(
        x=[s[0].end] + [step.delta for step in s[1:-1]] + [s[-1].end], y=[label(_short(step.label)) for step in s],
        hovertext=[label(step.label) for step in s], cliponaxis=False,
        measure=[step.measure for step in s], orientation="h",
        increasing=dict(marker_color=css(sign_colour(1))), decreasing=dict(marker_color=css(sign_colour(-1))),
        totals=dict(marker_color=css(NEUTRAL)), textposition="outside",
        text=[f"{d.base_value:.4g}"] + [f"{step.delta:+.3g}" for step in s[1:-1]] + [f"{d.output:.4g}"],
    ))
    # the title and the axis title in two short lines, and a right margin for the numbers past the bars' ends,
    # so that nothing is cut in a narrow column (Compare's tiles) either
    fig.update_layout(title=f"Waterfall: {d.base_value:.4g} → {d.output:.4g}<br><sup>base value → "
                            f"{label(d.output_name)}</sup>",
                      yaxis=dict(autorange="reversed", title="feature", automargin=True),
                      xaxis=dict(title=f"{label(d.output_name)}<br>(base value + contributions)",
                                 range=[lo - pad, hi + pad], automargin=True),
                      height=140 + 24 * len(s), showlegend=False,
                      margin=dict(l=10, r=50, t=60, b=40))
    return fig


RENDERER = Renderer("waterfall", prepare, plotly=plotly)
