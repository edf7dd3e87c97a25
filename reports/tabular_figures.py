"""Plotly figures of tabular explanations: ranked bars, beeswarm, dependence, waterfall."""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go

from reports.figures import label, labels

MAX_BARS = 20


def _height(n: int) -> int:
    return 120 + 24 * n


def importance_bar(names, values, title: str, xlabel: str = "mean |SHAP value|") -> go.Figure:
    """Features ranked by ``values`` (largest on top), at most ``MAX_BARS``."""
    values = np.asarray(values, dtype=float)
    order = np.argsort(-values, kind="stable")[:MAX_BARS][::-1]
    fig = go.Figure(go.Bar(x=values[order], y=[label(names[i]) for i in order], orientation="h", marker_color="#1f77b4"))
    fig.update_layout(title=label(title), xaxis_title=xlabel, height=_height(len(order)), margin=dict(l=10, r=10, t=40, b=40))
    return fig


def _colour_scale(column: np.ndarray) -> np.ndarray:
    """Each value's rank in its column, in [0, 1] (missing: NaN), so every feature spans the colour scale."""
    out = np.full(len(column), np.nan)
    ok = ~np.isnan(column)
    if ok.sum() > 1:
        ranks = column[ok].argsort().argsort()
        out[ok] = ranks / max(ok.sum() - 1, 1)
    elif ok.any():
        out[ok] = 0.5
    return out


def beeswarm(values: np.ndarray, rows: np.ndarray, names, max_features: int = 15, seed: int = 0) -> go.Figure:
    """One dot per row and feature: x its SHAP value, colour the feature's value (low blue, high red)."""
    order = np.argsort(-np.abs(values).mean(axis=0), kind="stable")[:max_features][::-1]
    rng = np.random.default_rng(seed)
    names = labels(names)
    fig = go.Figure()
    for y, j in enumerate(order):
        colour = _colour_scale(rows[:, j])
        jitter = rng.uniform(-0.3, 0.3, len(values))
        fig.add_trace(go.Scatter(
            x=values[:, j], y=y + jitter, mode="markers", name=names[j], showlegend=False,
            marker=dict(size=5, color=np.nan_to_num(colour, nan=0.5), colorscale="RdBu_r", cmin=0, cmax=1,
                        showscale=y == len(order) - 1,
                        colorbar=dict(title="feature value", tickvals=[0, 1], ticktext=["low", "high"])),
            hovertemplate=f"{names[j]}<br>SHAP %{{x:.4g}}<extra></extra>",
        ))
    fig.update_layout(
        title="Beeswarm: SHAP value of every sampled row", xaxis_title="SHAP value (effect on the model output)",
        yaxis=dict(tickvals=list(range(len(order))), ticktext=[names[j] for j in order]),
        height=_height(len(order)), margin=dict(l=10, r=10, t=40, b=40),
    )
    fig.add_vline(x=0, line_color="grey", line_width=1)
    return fig


def dependence(values: np.ndarray, rows: np.ndarray, names, feature: str, colour_by: str | None,
               categories: dict | None = None) -> go.Figure:
    """``feature``'s value against its SHAP value, coloured by ``colour_by``'s value."""
    categories = categories or {}
    j = list(names).index(feature)
    marker = dict(size=6)
    shown, colour = label(feature), colour_by and label(colour_by)
    if colour_by is not None:
        k = list(names).index(colour_by)
        marker.update(color=np.nan_to_num(_colour_scale(rows[:, k]), nan=0.5), colorscale="RdBu_r", cmin=0, cmax=1,
                      showscale=True, colorbar=dict(title=colour, tickvals=[0, 1], ticktext=["low", "high"]))
    fig = go.Figure(go.Scatter(x=rows[:, j], y=values[:, j], mode="markers", marker=marker,
                               hovertemplate=f"{shown} %{{x}}<br>SHAP %{{y:.4g}}<extra></extra>"))
    if feature in categories:
        fig.update_xaxes(tickvals=list(range(len(categories[feature]))), ticktext=labels(categories[feature]))
    fig.update_layout(title=f"Dependence: {shown}" + (f" (colour: {colour})" if colour_by else ""),
                      xaxis_title=shown, yaxis_title=f"SHAP value of {shown}", height=420,
                      margin=dict(l=10, r=10, t=40, b=40))
    return fig


def waterfall(names, scores, base_value: float, output: float, max_features: int = 12,
              output_name: str = "model output") -> go.Figure:
    """From the base value to the row's output, one step per feature (largest |score| first, the rest summed)."""
    scores = np.asarray(scores, dtype=float)
    order = np.argsort(-np.abs(scores), kind="stable")
    shown, rest = order[:max_features], order[max_features:]
    names = ["base value"] + [label(names[i]) for i in shown]
    steps = [base_value] + [scores[i] for i in shown]
    if len(rest):
        names.append(f"{len(rest)} other features")
        steps.append(float(scores[rest].sum()))
    names.append(label(output_name))
    steps.append(output)
    measure = ["absolute"] + ["relative"] * (len(steps) - 2) + ["total"]
    fig = go.Figure(go.Waterfall(
        x=steps, y=names, measure=measure, orientation="h",
        increasing=dict(marker_color="#d62728"), decreasing=dict(marker_color="#1f77b4"),
        totals=dict(marker_color="#7f7f7f"), textposition="outside",
        text=[f"{base_value:.4g}"] + [f"{d:+.3g}" for d in steps[1:-1]] + [f"{output:.4g}"],
    ))
    fig.update_layout(title=f"Waterfall: base value {base_value:.4g} → {label(output_name)} {output:.4g}",
                      yaxis=dict(autorange="reversed"), height=_height(len(names)), showlegend=False,
                      margin=dict(l=10, r=10, t=40, b=40))
    return fig
