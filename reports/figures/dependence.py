"""Dependence plot: a feature's value against its SHAP value, coloured by another feature's value."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import plotly.graph_objects as go

from reports.figures.base import Renderer, label, labels
from reports.figures.shap_scatter import category_groups, marker, rank_scale


@dataclass
class Dependence:
    feature: str
    x: np.ndarray  # the feature's values
    y: np.ndarray  # its SHAP values
    colour_by: str | None
    colour: np.ndarray | None  # the colouring feature's rank scale (numeric) or its codes (categorical)
    categories: list | None  # the feature's category names, when categorical (x are their codes)
    colour_categories: list | None = None  # the colouring feature's category names, when categorical


def prepare(explanation, feature: str, colour_by: str | None = None) -> Dependence:
    """From a global explanation: ``extras["shap_values"]``, ``extras["rows"]`` and ``extras["categories"]``."""
    values, rows = np.asarray(explanation.extras["shap_values"]), np.asarray(explanation.extras["rows"], dtype=float)
    names = list(explanation.feature_names)
    categories = explanation.extras.get("categories") or {}
    j = names.index(feature)
    by = categories.get(colour_by) if colour_by is not None else None
    colour = None if colour_by is None else rows[:, names.index(colour_by)] if by is not None else \
        rank_scale(rows[:, names.index(colour_by)])
    return Dependence(feature, rows[:, j], values[:, j], colour_by, colour, categories.get(feature),
                      list(by) if by is not None else None)


def plotly(d: Dependence) -> go.Figure:
    shown, colour = label(d.feature), d.colour_by and label(d.colour_by)
    style = dict(size=6)
    hover = f"{shown} %{{x}}<br>SHAP %{{y:.4g}}<extra></extra>"
    if d.colour_categories is not None:  # one colour per category of the colouring feature, with a legend
        fig = go.Figure([go.Scatter(x=d.x[rows], y=d.y[rows], mode="markers", name=label(category),
                                    marker=dict(color=c, **style), hovertemplate=hover)
                         for category, c, rows in category_groups(d.colour, d.colour_categories)])
        fig.update_layout(legend=dict(title=dict(text=colour)))
    else:
        if d.colour is not None:
            style.update(marker(d.colour, colour))
        fig = go.Figure(go.Scatter(x=d.x, y=d.y, mode="markers", marker=style, hovertemplate=hover))
    if d.categories is not None:
        fig.update_xaxes(tickvals=list(range(len(d.categories))), ticktext=labels(d.categories))
    fig.update_layout(title=f"Dependence: {shown}" + (f" (colour: {colour})" if d.colour_by else ""),
                      xaxis_title=shown, yaxis_title=f"SHAP value of {shown}", height=420,
                      margin=dict(l=10, r=10, t=40, b=40))
    return fig


RENDERER = Renderer("dependence", prepare, plotly=plotly)
