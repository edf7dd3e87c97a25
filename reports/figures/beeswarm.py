"""Beeswarm: one dot per explained row and feature; x its SHAP value, colour the feature's value (low blue, high red)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import plotly.graph_objects as go

from reports.figures.base import Renderer, labels
from reports.figures.shap_scatter import marker, rank_scale


@dataclass
class Swarm:
    names: list[str]  # features shown, bottom to top (largest mean |SHAP| on top)
    values: list[np.ndarray]  # SHAP values per shown feature
    jitter: list[np.ndarray]
    colour: list[np.ndarray]  # each row's rank of the feature's value, in [0, 1]


def prepare(explanation, max_features: int = 15, seed: int = 0) -> Swarm:
    """From a global explanation: ``extras["shap_values"]`` (rows × features) and ``extras["rows"]``."""
    values, rows = np.asarray(explanation.extras["shap_values"]), np.asarray(explanation.extras["rows"], dtype=float)
    names = list(explanation.feature_names)
    order = np.argsort(-np.abs(values).mean(axis=0), kind="stable")[:max_features][::-1]
    rng = np.random.default_rng(seed)
    return Swarm([names[j] for j in order], [values[:, j] for j in order],
                 [rng.uniform(-0.3, 0.3, len(values)) for _ in order], [rank_scale(rows[:, j]) for j in order])


def plotly(d: Swarm) -> go.Figure:
    names = labels(d.names)
    fig = go.Figure()
    for y, name in enumerate(names):
        fig.add_trace(go.Scatter(
            x=d.values[y], y=y + d.jitter[y], mode="markers", name=name, showlegend=False,
            marker=dict(size=5, **marker(d.colour[y], "feature value", show=y == len(names) - 1)),
            hovertemplate=f"{name}<br>SHAP %{{x:.4g}}<extra></extra>",
        ))
    fig.update_layout(
        title="Beeswarm: SHAP value of every sampled row", xaxis_title="SHAP value (effect on the model output)",
        yaxis=dict(tickvals=list(range(len(names))), ticktext=names),
        height=120 + 24 * len(names), margin=dict(l=10, r=10, t=40, b=40),
    )
    fig.add_vline(x=0, line_color="grey", line_width=1)
    return fig


RENDERER = Renderer("beeswarm", prepare, plotly=plotly)
