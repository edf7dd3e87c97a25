"""Image overlay: an image with its attribution map drawn over it (the image page, Compare, HTML, PDF, bundle).

The map is clipped at a percentile of its scores (``base.scaling``: 99 by default, so one extreme pixel does not
wash out a sparse gradient map) and every form says what its colours mean: the Plotly figure with a titled colour
bar, the PNG (PDF, bundle) with the same bar and words drawn below the image. Hovering reads the true score.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
import plotly.graph_objects as go
from PIL import Image

from models.inputs.images import encode_png
from reports.figures import colour_scales
from reports.figures.base import (CLIP_PERCENTILE, HEATMAP_SIDE, Legend, Renderer, data_uri,
                                  display_scores, downscale, label, resize_values, scaling)


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
    legend: Legend  # what the colours mean: the colour bar's title, words and ticks
    raw: np.ndarray | None = None  # the true scores (block means) on the grid: what hovering reads

    @property
    def heat(self) -> np.ndarray:
        """The grid interpolated to the displayed image and coloured: the same values Plotly smooths and colours."""
        h, w = self.shown.shape[:2]
        return colour_scales.apply(resize_values(self.grid, h, w), self.scale, self.lo, self.hi)


def target_name(explanation) -> str | None:
    """The class the map explains, as its legend names it."""
    if explanation.target_label is not None:
        return str(explanation.target_label)
    return None if explanation.target is None else f"class {explanation.target}"


def prepare(explanation, image: np.ndarray, colormap: str = colour_scales.UNSIGNED, opacity: float = 0.5,
            title: str | None = None, magnitude: bool = False, percentile: float = CLIP_PERCENTILE,
            shows: str | None = None) -> Overlay:
    """``explanation.scores`` (H, W, on the image's pixel grid) over ``image``. Signed scores use the diverging
    scale on [-1, 1], unsigned ones ``colormap`` on [0, 1]; ``magnitude`` shows |scores| on ``colormap`` (Compare's
    shared scale). Scores are clipped at their ``percentile``-th percentile (``base.scaling``; 100: no clipping).
    ``shows``: what the map shows when it is not relevance to a class (a neuron's activation): the legend's title,
    its colours then saying only the sign."""
    scores = np.asarray(explanation.scores)
    h, w = image.shape[:2]
    if scores.shape != (h, w):
        raise ValueError(f"scores {scores.shape} do not match the image {(h, w)}")
    signed = explanation.signed and not magnitude
    shown_scores = np.abs(scores) if magnitude else scores
    scale = scaling(shown_scores, signed, percentile)
    values = display_scores(shown_scores, signed, scale=scale)
    ratio = min(1.0, HEATMAP_SIDE / max(h, w))
    gh, gw = max(1, round(h * ratio)), max(1, round(w * ratio))
    grid = resize_values(values, gh, gw, resample=Image.BOX)
    raw = resize_values(np.nan_to_num(shown_scores.astype(np.float32)), gh, gw, resample=Image.BOX)
    name, lo, hi = colour_scales.scale_for(signed, colormap)
    legend = scale.legend(target_name(explanation), magnitude=magnitude and explanation.signed)
    if shows is not None:
        meaning = "red: positive · blue: negative" if signed else "0 … the largest value"
        legend = replace(legend, title=shows, meaning=meaning)
    return Overlay(downscale(image), (h, w), grid, name, lo, hi, opacity, title, legend, raw)


def colour_bar(d: Overlay) -> dict:
    """The Plotly colour bar: horizontal, below the image, titled with what the values are and what the colours
    mean, its ticks in the scores' own units."""
    lg = d.legend
    return dict(
        orientation="h", x=0.5, xanchor="center", y=-0.02, yanchor="top", len=0.8, thickness=10,
        title=dict(text=f"{label(lg.title)}<br><span style='font-size:11px'>{label(lg.meaning)}<br>"
                        f"{label(lg.clipping)}</span>", side="top", font=dict(size=13)),
        tickvals=[v for v, _ in lg.ticks], ticktext=[label(t) for _, t in lg.ticks], tickfont=dict(size=11),
        ticklabeloverflow="allow",
    )


def plotly(d: Overlay) -> go.Figure:
    """Axes in the uploaded image's pixels whatever the display resolution, so hovering reads the score there."""
    h, w = d.size
    sh, sw = d.shown.shape[:2]
    gh, gw = d.grid.shape
    xs = (np.arange(gw) + 0.5) * (w / gw) - 0.5
    ys = (np.arange(gh) + 0.5) * (h / gh) - 0.5
    score = "score" if (gh, gw) == (h, w) else "score (mean of its block)"
    fig = go.Figure()
    fig.add_trace(go.Image(source=data_uri(encode_png(d.shown)), x0=-0.5 + 0.5 * w / sw, y0=-0.5 + 0.5 * h / sh,
                           dx=w / sw, dy=h / sh, hoverinfo="skip"))
    fig.add_trace(go.Heatmap(
        z=d.grid, x=xs, y=ys, colorscale=colour_scales.plotly_scale(d.scale), zmin=d.lo, zmax=d.hi,
        opacity=d.opacity, zsmooth="best", colorbar=colour_bar(d),
        customdata=d.raw if d.raw is not None else d.grid,
        hovertemplate=f"x %{{x:.0f}}, y %{{y:.0f}}<br>{score} %{{customdata:.3g}}"
                      "<br>shown as %{z:.2f} on the colour bar<extra></extra>",
    ))
    fig.update_xaxes(visible=False, range=[-0.5, w - 0.5])
    fig.update_yaxes(visible=False, range=[h - 0.5, -0.5], scaleanchor="x")
    fig.update_layout(margin=dict(l=0, r=0, t=30 if d.title else 0, b=100), title=d.title and label(d.title),
                      height=max(260, min(640, 560 * h / w)) + 100)
    return fig


def blended(d: Overlay) -> np.ndarray:
    """The displayed image with the coloured map blended over it at the figure's opacity (RGB uint8)."""
    base = d.shown.astype(np.float32)
    return (base * (1 - d.opacity) + d.heat.astype(np.float32) * d.opacity).round().astype(np.uint8)


def png(d: Overlay) -> bytes:
    """The blended image (top left) with its colour bar and legend below it: what the PDF and the bundle show."""
    return encode_png(d.legend.under(blended(d), d.scale, d.lo, d.hi))


RENDERER = Renderer("image_overlay", prepare, plotly=plotly, png=png)
