"""Strategic cluster graph: each concept at (prevalence, reliability), sized by its importance."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import plotly.graph_objects as go

from reports.describe import concept_name
from reports.figures.base import Renderer, css
from reports.figures.colour_scales import concept_colour


@dataclass
class Points:
    concepts: list[int]
    x: list[float]  # prevalence
    y: list[float]  # reliability
    size: list[float]


def prepare(prevalence, reliability, importance) -> Points:
    shown = [i for i, rel in enumerate(reliability) if rel is not None]
    importance = np.asarray(importance, dtype=np.float64)
    top = importance.max() if importance.size and importance.max() > 0 else 1.0
    return Points(shown, [prevalence[i] for i in shown], [reliability[i] for i in shown],
                  [14 + 36 * max(importance[i], 0) / top for i in shown])


def plotly(d: Points) -> go.Figure:
    fig = go.Figure(go.Scatter(
        x=d.x, y=d.y, mode="markers+text", text=[concept_name(i) for i in d.concepts], textposition="top center",
        marker=dict(size=d.size, color=[css(concept_colour(i)) for i in d.concepts], line=dict(width=1, color="#333")),
        hovertemplate="%{text}<br>prevalence %{x:.0%}<br>reliability %{y:.0%}<extra></extra>",
    ))
    fig.update_layout(margin=dict(l=0, r=10, t=10, b=0), height=360,
                      xaxis=dict(title="prevalence (share of images where it dominates)", tickformat=".0%",
                                 range=[-0.05, 1.05]),
                      yaxis=dict(title="reliability (model accuracy on those images)", tickformat=".0%",
                                 range=[-0.05, 1.1]))
    return fig


RENDERER = Renderer("cluster_graph", prepare, plotly=plotly)
