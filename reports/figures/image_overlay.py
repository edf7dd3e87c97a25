"""Image overlay: an image with its attribution map drawn over it (the image page, Compare, HTML, PDF, bundle)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import plotly.graph_objects as go
from PIL import Image

from models.inputs.images import encode_png
from reports.figures import colour_scales
from reports.figures.base import (HEATMAP_SIDE, Renderer, data_uri, display_scores, downscale, label,
                                  resize_values)


@dataclass
class Overlay:
    shown: np.ndarray  # the image as displayed (RGB, longest side ≤ DISPLAY_SIDE)
    size: tuple[int, int]  # (h, w) of the image as uploaded: the axes' pixels
    grid: np.ndarray  # display-scaled scores, block means on a grid of side ≤ HEATMAP_SIDE
    scale: str
    lo: float
    hi: float
    opacity: float
    title: str | None

    @property
    def heat(self) -> np.ndarray:
        """The grid interpolated to the displayed image and coloured: the same values Plotly smooths and colours."""
        h, w = self.shown.shape[:2]
        return colour_scales.apply(resize_values(self.grid, h, w), self.scale, self.lo, self.hi)


def prepare(explanation, image: np.ndarray, colormap: str = colour_scales.UNSIGNED, opacity: float = 0.5,
            title: str | None = None, magnitude: bool = False) -> Overlay:
    """``explanation.scores`` (H, W, on the image's pixel grid) over ``image``. Signed scores use the diverging
    scale on [-1, 1], unsigned ones ``colormap`` on [0, 1]; ``magnitude`` shows |scores| on ``colormap`` (Compare's
    shared scale)."""
    scores = np.asarray(explanation.scores)
    h, w = image.shape[:2]
    if scores.shape != (h, w):
        raise ValueError(f"scores {scores.shape} do not match the image {(h, w)}")
    signed = explanation.signed and not magnitude
    values = display_scores(np.abs(scores) if magnitude else scores, signed)
    ratio = min(1.0, HEATMAP_SIDE / max(h, w))
    grid = resize_values(values, max(1, round(h * ratio)), max(1, round(w * ratio)), resample=Image.BOX)
    name, lo, hi = colour_scales.scale_for(signed, colormap)
    return Overlay(downscale(image), (h, w), grid, name, lo, hi, opacity, title)


def plotly(d: Overlay) -> go.Figure:
    """Axes in the uploaded image's pixels whatever the display resolution, so hovering reads the score there."""
    h, w = d.size
    sh, sw = d.shown.shape[:2]
    gh, gw = d.grid.shape
    xs = (np.arange(gw) + 0.5) * (w / gw) - 0.5
    ys = (np.arange(gh) + 0.5) * (h / gh) - 0.5
    fig = go.Figure()
    fig.add_trace(go.Image(source=data_uri(encode_png(d.shown)), x0=-0.5 + 0.5 * w / sw, y0=-0.5 + 0.5 * h / sh,
                           dx=w / sw, dy=h / sh, hoverinfo="skip"))
    fig.add_trace(go.Heatmap(
        z=d.grid, x=xs, y=ys, colorscale=colour_scales.plotly_scale(d.scale), zmin=d.lo, zmax=d.hi,
        opacity=d.opacity, zsmooth="best", colorbar=dict(title="score", thickness=14),
        hovertemplate="x %{x:.0f}, y %{y:.0f}<br>score %{z:.3f}<extra></extra>",
    ))
    fig.update_xaxes(visible=False, range=[-0.5, w - 0.5])
    fig.update_yaxes(visible=False, range=[h - 0.5, -0.5], scaleanchor="x")
    fig.update_layout(margin=dict(l=0, r=0, t=30 if d.title else 0, b=0), title=d.title and label(d.title),
                      height=max(260, min(640, 560 * h / w)))
    return fig


def png(d: Overlay) -> bytes:
    """The displayed image with the coloured map blended over it at the figure's opacity."""
    base = d.shown.astype(np.float32)
    blended = base * (1 - d.opacity) + d.heat.astype(np.float32) * d.opacity
    return encode_png(blended.round().astype(np.uint8))


RENDERER = Renderer("image_overlay", prepare, plotly=plotly, png=png)
