"""Plotly figures of a concept explanation (CRAFT): importances, concept maps, the strategic cluster graph."""

from __future__ import annotations

import base64

import numpy as np
import plotly.graph_objects as go
import torch

from explainers.image.maps import resize_map
from models.inputs.images import encode_png
from reports.figures import DISPLAY_SIDE, downscale, label

# Distinct, colour-blind-friendly hues (Okabe–Ito, then Tol's muted), one per concept.
CONCEPT_COLOURS = ("#E69F00", "#56B4E9", "#009E73", "#F0E442", "#0072B2", "#D55E00", "#CC79A7",
                   "#332288", "#88CCEE", "#44AA99", "#117733", "#999933", "#DDCC77", "#CC6677", "#882255", "#AA4499")


def concept_colour(i: int) -> str:
    return CONCEPT_COLOURS[i % len(CONCEPT_COLOURS)]


def concept_name(i: int) -> str:
    return f"concept {i + 1}"


def importance_bar(importance: np.ndarray, title: str = "Concept importance") -> go.Figure:
    """Horizontal bars, most important on top, each in its concept's colour."""
    order = np.argsort(-np.asarray(importance), kind="stable")[::-1]
    fig = go.Figure(go.Bar(
        x=[float(importance[i]) for i in order], y=[concept_name(i) for i in order], orientation="h",
        marker_color=[concept_colour(i) for i in order], hovertemplate="%{y}: %{x:.4f}<extra></extra>",
    ))
    fig.update_layout(title=label(title), margin=dict(l=0, r=10, t=40, b=0), height=60 + 28 * len(order),
                      xaxis_title="importance")
    return fig


def concept_overlay(image: np.ndarray, maps: np.ndarray, shown: list[int], opacity: float = 0.6) -> go.Figure:
    """The image with the ``shown`` concepts' maps (r, h, w) drawn over it, each in its colour.

    Each map is scaled by its own maximum over the image; a pixel takes the colour of
    the strongest shown concept there, with opacity ∝ that concept's scaled value.
    """
    rgb = downscale(image, DISPLAY_SIDE).astype(np.float32)
    h, w = rgb.shape[:2]
    layers = []
    for i in shown:
        grid = resize_map(torch.as_tensor(maps[i]), h, w).numpy()
        top = grid.max()
        layers.append(np.clip(grid / top, 0, 1) if top > 0 else np.zeros_like(grid))
    if layers:
        stack = np.stack(layers)
        strongest = stack.argmax(0)
        alpha = (stack.max(0) * opacity)[..., None]
        colours = np.array([_hex_rgb(concept_colour(i)) for i in shown], dtype=np.float32)
        rgb = rgb * (1 - alpha) + colours[strongest] * alpha
    source = "data:image/png;base64," + base64.b64encode(encode_png(rgb.round().astype(np.uint8))).decode("ascii")
    fig = go.Figure(go.Image(source=source, hoverinfo="skip"))
    for i in shown:  # legend entries only
        fig.add_trace(go.Scatter(x=[None], y=[None], mode="markers", name=concept_name(i),
                                 marker=dict(size=12, color=concept_colour(i), symbol="square")))
    fig.update_xaxes(visible=False)
    fig.update_yaxes(visible=False, scaleanchor="x")
    fig.update_layout(margin=dict(l=0, r=0, t=10, b=0), height=max(260, min(560, 480 * h / w)),
                      legend=dict(orientation="h", y=-0.02), showlegend=True)
    return fig


def cluster_graph(prevalence, reliability, importance) -> go.Figure:
    """Strategic cluster graph: each concept at (prevalence, reliability), sized by its importance."""
    shown = [i for i, rel in enumerate(reliability) if rel is not None]
    importance = np.asarray(importance, dtype=np.float64)
    top = importance.max() if importance.size and importance.max() > 0 else 1.0
    fig = go.Figure(go.Scatter(
        x=[prevalence[i] for i in shown], y=[reliability[i] for i in shown], mode="markers+text",
        text=[concept_name(i) for i in shown], textposition="top center",
        marker=dict(size=[14 + 36 * max(importance[i], 0) / top for i in shown],
                    color=[concept_colour(i) for i in shown], line=dict(width=1, color="#333")),
        hovertemplate="%{text}<br>prevalence %{x:.0%}<br>reliability %{y:.0%}<extra></extra>",
    ))
    fig.update_layout(margin=dict(l=0, r=10, t=10, b=0), height=360,
                      xaxis=dict(title="prevalence (share of images where it dominates)", tickformat=".0%",
                                 range=[-0.05, 1.05]),
                      yaxis=dict(title="reliability (model accuracy on those images)", tickformat=".0%",
                                 range=[-0.05, 1.1]))
    return fig


def _hex_rgb(colour: str) -> tuple[int, int, int]:
    return tuple(int(colour[k : k + 2], 16) for k in (1, 3, 5))
