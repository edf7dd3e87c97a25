"""Plotly figures of explanations, shared by the pages and the exported reports."""

from __future__ import annotations

import base64
import html

import numpy as np
import plotly.graph_objects as go
from PIL import Image

from models.inputs.images import encode_png

COLORMAPS = ("Jet", "Turbo", "Viridis", "Inferno", "Hot", "RdBu_r", "Greys")

def label(text) -> str:
    """A user's string (a column, class, file or token name) as a Plotly figure shows it: as text. Plotly renders
    some HTML in titles, tick labels, hover text and legends (``<a href>`` becomes a link), so ``<``, ``>`` and
    ``&`` are escaped; Plotly turns the entities back into the characters."""
    return html.escape(str(text), quote=False)


def labels(texts) -> list[str]:
    return [label(t) for t in texts]


DISPLAY_SIDE = 768  # longest side of the base image sent to the browser
HEATMAP_SIDE = 256  # longest side of the heatmap grid sent to the browser


def downscale(rgb: np.ndarray, side: int) -> np.ndarray:
    h, w = rgb.shape[:2]
    scale = side / max(h, w)
    if scale >= 1:
        return rgb
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    return np.asarray(Image.fromarray(rgb).resize(size, Image.BILINEAR))


def _block_mean(scores: np.ndarray, side: int) -> np.ndarray:
    h, w = scores.shape
    scale = side / max(h, w)
    if scale >= 1:
        return scores
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    return np.asarray(Image.fromarray(scores.astype(np.float32), mode="F").resize(size, Image.BOX))


def heatmap_overlay(
    image: np.ndarray,
    scores: np.ndarray,
    colormap: str = "Jet",
    opacity: float = 0.5,
    title: str | None = None,
    signed: bool = False,
) -> go.Figure:
    """The image with ``scores`` (H, W, on the image's pixel grid) drawn over it.

    Unsigned scores use ``colormap`` on [0, 1]; signed scores a diverging map on [-1, 1].

    Axes are in the original image's pixels whatever the display resolution,
    so hovering reads the score at a pixel of the image as uploaded.
    """
    h, w = image.shape[:2]
    if scores.shape != (h, w):
        raise ValueError(f"scores {scores.shape} do not match the image {(h, w)}")
    shown = downscale(image, DISPLAY_SIDE)
    source = "data:image/png;base64," + base64.b64encode(encode_png(shown)).decode("ascii")
    grid = _block_mean(scores, HEATMAP_SIDE)
    gh, gw = grid.shape
    xs = (np.arange(gw) + 0.5) * (w / gw) - 0.5
    ys = (np.arange(gh) + 0.5) * (h / gh) - 0.5
    fig = go.Figure()
    fig.add_trace(
        go.Image(source=source, x0=-0.5 + 0.5 * w / shown.shape[1], y0=-0.5 + 0.5 * h / shown.shape[0],
                 dx=w / shown.shape[1], dy=h / shown.shape[0], hoverinfo="skip")
    )
    fig.add_trace(
        go.Heatmap(
            z=grid, x=xs, y=ys, colorscale="RdBu_r" if signed else colormap, zmin=-1.0 if signed else 0.0, zmax=1.0,
            opacity=opacity,
            zsmooth="best", colorbar=dict(title="score", thickness=14),
            hovertemplate="x %{x:.0f}, y %{y:.0f}<br>score %{z:.3f}<extra></extra>",
        )
    )
    fig.update_xaxes(visible=False, range=[-0.5, w - 0.5])
    fig.update_yaxes(visible=False, range=[h - 0.5, -0.5], scaleanchor="x")
    fig.update_layout(margin=dict(l=0, r=0, t=30 if title else 0, b=0), title=title and label(title), height=max(260, min(640, 560 * h / w)))
    return fig


def top_classes_bar(top: list[tuple[int, str, float]]) -> go.Figure:
    """Horizontal bars of (index, label, probability), best on top."""
    names = [label(name) for _, name, _ in top][::-1]
    probs = [p for _, _, p in top][::-1]
    fig = go.Figure(go.Bar(x=probs, y=names, orientation="h", text=[f"{p:.1%}" for p in probs],
                           textposition="auto", hovertemplate="%{y}: %{x:.2%}<extra></extra>"))
    fig.update_layout(margin=dict(l=0, r=10, t=10, b=0), height=40 + 34 * len(top),
                      xaxis=dict(range=[0, 1], tickformat=".0%", title="probability"))
    return fig


def agreement_heatmap(names: list[str], matrix, metric: str) -> go.Figure:
    """The agreement matrix between explainers, on a diverging scale from -1 to 1."""
    matrix = np.asarray(matrix, dtype=float)
    names = labels(names)
    fig = go.Figure(go.Heatmap(
        z=matrix, x=names, y=names, zmin=-1, zmax=1, colorscale="RdBu", text=np.round(matrix, 2),
        texttemplate="%{text}", hovertemplate="%{y} vs %{x}: %{z:.3f}<extra></extra>",
        colorbar=dict(title=metric, thickness=14),
    ))
    fig.update_yaxes(autorange="reversed")
    fig.update_layout(margin=dict(l=0, r=0, t=10, b=0), height=120 + 40 * len(names))
    return fig


def faithfulness_curves(fractions, deletion, insertion=None, title: str = "", x_title: str | None = None) -> go.Figure:
    """Deletion (and insertion) curves: the explained output against the share of the input changed."""
    fig = go.Figure()
    fig.add_trace(go.Scatter(x=fractions, y=deletion, name="deletion", mode="lines"))
    if insertion is not None:
        fig.add_trace(go.Scatter(x=fractions, y=insertion, name="insertion", mode="lines"))
    fig.update_layout(title=label(title), margin=dict(l=0, r=0, t=30 if title else 10, b=0), height=260,
                      xaxis=dict(title=x_title or "share of pixels changed", tickformat=".0%"),
                      yaxis=dict(title="probability" if insertion is not None else "model output"))
    return fig


def generation_heatmap(e, signed: bool = True) -> go.Figure:
    """The generation matrix: generated tokens (rows) × prompt tokens (columns)."""
    x = [label(f"{i}:{t}") for i, t in enumerate(e.tokens)]
    y = [label(f"{k}:{t}") for k, t in enumerate(e.target_tokens)]
    fig = go.Figure(go.Heatmap(z=e.scores, x=x, y=y, colorscale="RdBu_r" if signed else "Viridis",
                               zmid=0 if signed else None, hovertemplate="%{y} ← %{x}: %{z:.3f}<extra></extra>"))
    fig.update_layout(height=120 + 28 * len(y), margin=dict(l=10, r=10, t=10, b=10), yaxis=dict(autorange="reversed"),
                      xaxis_title="prompt tokens", yaxis_title="generated tokens")
    return fig
