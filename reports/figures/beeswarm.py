"""Beeswarm: one dot per explained row and feature; x its SHAP value. A numeric feature's dots are coloured by
its value (low blue, high red, one colour bar); a categorical feature's by its category (a legend per feature)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import plotly.graph_objects as go

from reports.figures.base import Renderer, label, labels
from reports.figures.shap_scatter import category_groups, marker, rank_scale


@dataclass
class Swarm:
    names: list[str]  # features shown, bottom to top (largest mean |SHAP| on top)
    values: list[np.ndarray]  # SHAP values per shown feature
    jitter: list[np.ndarray]
    colour: list[np.ndarray]  # numeric: each row's rank of the feature's value, in [0, 1]; categorical: its code
    categories: list[list[str] | None] | None = None  # per shown feature: its category names, None when numeric
    title: str = "Beeswarm: SHAP value of every sampled row"

    def is_categorical(self, y: int) -> bool:
        return bool(self.categories) and self.categories[y] is not None


def prepare(explanation, max_features: int = 15, seed: int = 0, title: str | None = None) -> Swarm:
    """From a global explanation: ``extras["shap_values"]`` (rows × features), ``extras["rows"]`` (encoded:
    categories as codes) and ``extras["categories"]`` (category names per categorical column)."""
    values, rows = np.asarray(explanation.extras["shap_values"]), np.asarray(explanation.extras["rows"], dtype=float)
    names = list(explanation.feature_names)
    cats = explanation.extras.get("categories") or {}
    order = np.argsort(-np.abs(values).mean(axis=0), kind="stable")[:max_features][::-1]
    rng = np.random.default_rng(seed)
    categories = [list(cats[names[j]]) if names[j] in cats else None for j in order]
    colour = [rows[:, j] if categories[y] is not None else rank_scale(rows[:, j]) for y, j in enumerate(order)]
    return Swarm([names[j] for j in order], [values[:, j] for j in order],
                 [rng.uniform(-0.3, 0.3, len(values)) for _ in order], colour, categories,
                 title or "Beeswarm: SHAP value of every sampled row")


def plotly(d: Swarm) -> go.Figure:
    names = labels(d.names)
    fig = go.Figure()
    numeric = [y for y in range(len(names)) if not d.is_categorical(y)]
    for y, name in enumerate(names):
        if d.is_categorical(y):
            for category, colour, rows in category_groups(d.colour[y], d.categories[y]):
                fig.add_trace(go.Scatter(
                    x=d.values[y][rows], y=y + d.jitter[y][rows], mode="markers", name=label(category),
                    legendgroup=name, legendgrouptitle_text=name, showlegend=True,
                    marker=dict(size=5, color=colour, line=dict(width=0.3, color="#555555")),
                    hovertemplate=f"{name} = {label(category)}<br>SHAP %{{x:.4g}}<extra></extra>",
                ))
        else:
            fig.add_trace(go.Scatter(
                x=d.values[y], y=y + d.jitter[y], mode="markers", name=name, showlegend=False,
                marker=dict(size=5, **marker(d.colour[y], "numeric feature value", show=y == numeric[-1])),
                hovertemplate=f"{name}<br>SHAP %{{x:.4g}}<extra></extra>",
            ))
    categorical = len(numeric) < len(names)
    if categorical and numeric:  # the colour bar on the right, the categories' legend below the plot
        fig.update_traces(selector=dict(showlegend=False), marker_colorbar=dict(x=1.02, len=0.8))
    fig.update_layout(
        title=label(d.title), xaxis_title="SHAP value (effect on the model output)",
        yaxis=dict(tickvals=list(range(len(names))), ticktext=names, automargin=True),
        height=140 + 24 * len(names) + (60 if categorical else 0), margin=dict(l=10, r=10, t=40, b=40),
        legend=dict(orientation="h", yanchor="top", y=-0.18, x=0, xanchor="left", groupclick="toggleitem",
                    title=dict(text="category (categorical features)", side="top")),
    )
    fig.add_vline(x=0, line_color="grey", line_width=1)
    return fig


RENDERER = Renderer("beeswarm", prepare, plotly=plotly)
