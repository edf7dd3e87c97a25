"""Waterfall: from the base value to a row's output, one step per feature (largest |score| first, the rest summed)."""

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


def plotly(d: Waterfall) -> go.Figure:
    s = d.steps
    fig = go.Figure(go.Waterfall(
        x=[s[0].end] + [step.delta for step in s[1:-1]] + [s[-1].end], y=[label(step.label) for step in s],
        measure=[step.measure for step in s], orientation="h",
        increasing=dict(marker_color=css(sign_colour(1))), decreasing=dict(marker_color=css(sign_colour(-1))),
        totals=dict(marker_color=css(NEUTRAL)), textposition="outside",
        text=[f"{d.base_value:.4g}"] + [f"{step.delta:+.3g}" for step in s[1:-1]] + [f"{d.output:.4g}"],
    ))
    fig.update_layout(title=f"Waterfall: base value {d.base_value:.4g} → {label(d.output_name)} {d.output:.4g}",
                      yaxis=dict(autorange="reversed", title="feature"),
                      xaxis=dict(title=f"{label(d.output_name)} (base value plus contributions)"),
                      height=120 + 24 * len(s), showlegend=False,
                      margin=dict(l=10, r=10, t=40, b=40))
    return fig


RENDERER = Renderer("waterfall", prepare, plotly=plotly)
