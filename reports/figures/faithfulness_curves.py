"""Faithfulness curves: the explained output against the share of the input removed (or inserted).

From a faithfulness mapping (``Explanation.faithfulness``), every curve it holds, each named for what it is:
the image region curves (MoRF and LeRF: patches removed most / least relevant first, explainers/metrics/image.py),
the RISE-paper pixel curves when they were measured, a table's feature deletion curve.
"""

from __future__ import annotations

from dataclasses import dataclass

import plotly.graph_objects as go

from reports.figures.base import Renderer, label

# (x key, y key, the curve's name in the legend); the first group found names the x axis
CURVES = (
    ("region_fractions", "morf_curve", "MoRF: most relevant patches removed first (lower is better)"),
    ("region_fractions", "lerf_curve", "LeRF: least relevant patches removed first (higher is better)"),
    ("fractions", "deletion_curve", "deletion (RISE paper: pixels; lower is better)"),
    ("fractions", "insertion_curve", "insertion (RISE paper: pixels into a blurred copy; higher is better)"),
)
X_TITLES = {"region_fractions": "share of the image's patches removed", "fractions": "share of the input changed"}


@dataclass
class Curves:
    lines: list[tuple[str, list[float], list[float]]]  # (name, x, y)
    title: str
    x_title: str
    y_title: str


def has_curves(faithfulness: dict) -> bool:
    return any(faithfulness.get(y) is not None and x in faithfulness for x, y, _ in CURVES)


def prepare(faithfulness: dict, title: str = "", x_title: str | None = None) -> Curves:
    """Every curve of ``faithfulness`` (see ``CURVES``); a table's deletion curve is named for features."""
    f = faithfulness
    lines = [(name, list(f[x]), list(f[y])) for x, y, name in CURVES if f.get(y) is not None and x in f]
    if not lines:
        raise ValueError("no faithfulness curve to draw")
    tabular = "region_fractions" not in f and f.get("insertion_curve") is None
    if tabular:  # a table: features removed, the output (a probability or a value) averaged over background rows
        lines = [("deletion: most important features removed first (lower is better)", *lines[0][1:])]
    first = next(x for x, y, _ in CURVES if f.get(y) is not None and x in f)
    default_x = "share of the features removed" if tabular else X_TITLES[first]
    if "region_fractions" in f and f.get("deletion_curve") is not None:
        default_x = "share of the input removed (patches; pixels for the RISE curves)"
    return Curves(lines, title, x_title or default_x, "model output" if tabular else "probability of the class")


def plotly(d: Curves) -> go.Figure:
    fig = go.Figure()
    for name, xs, ys in d.lines:
        fig.add_trace(go.Scatter(x=xs, y=ys, name=label(name), mode="lines"))
    fig.update_layout(title=label(d.title), margin=dict(l=50, r=10, t=30 if d.title else 10, b=40), height=300,
                      xaxis=dict(title=d.x_title, tickformat=".0%"), yaxis=dict(title=d.y_title),
                      legend=dict(orientation="h", yanchor="top", y=-0.25, x=0))
    return fig


RENDERER = Renderer("faithfulness_curves", prepare, plotly=plotly)
