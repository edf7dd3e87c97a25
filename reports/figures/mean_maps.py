"""Mean maps: one tile per class, the mean of a method's maps over a dataset's inputs of that class
(explainers/batch/summary.py ``class_mean_maps``), all on one colour scale so that the classes compare.

The prepared ``MeanMaps`` hold every tile's display values and the scale, computed once: the Plotly figure draws
them as heatmaps sharing one colour axis, the PNG (PDF, bundle) as coloured tiles with the same legend below.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import plotly.graph_objects as go
from PIL import Image, ImageDraw

from models.inputs.images import encode_png
from reports.figures import colour_scales
from reports.figures.base import Legend, Renderer, Scaling, _fit, _font, display_scores, label, scaling

COLUMNS = 5  # tiles per row
TILE = 120  # px: a tile's side in the PNG


@dataclass
class MeanMaps:
    names: list[str]  # one per tile: the class and its count ("3 (n=180)")
    values: list[np.ndarray]  # each tile on the display scale
    raw: list[np.ndarray]  # the means as computed (hover)
    scale: str
    lo: float
    hi: float
    legend: Legend
    title: str = ""

    @property
    def columns(self) -> int:
        return max(1, min(COLUMNS, len(self.names)))

    @property
    def rows(self) -> int:
        return -(-len(self.names) // self.columns)


def prepare(maps, title: str = "", percentile: float = 100.0) -> MeanMaps:
    """``maps``: the ``ClassMap``s (or (label, mean, n) triples) of one method, in the order shown. One scale for
    all tiles: signed (blue … red) when any mean is negative, else from 0; ``percentile`` clips it (100: the largest
    value over every tile)."""
    triples = [(m.label, m.mean, m.n) if hasattr(m, "mean") else tuple(m) for m in maps]
    raw = [np.asarray(mean, dtype=np.float32) for _, mean, _ in triples]
    everything = np.concatenate([r.ravel() for r in raw]) if raw else np.zeros(1, np.float32)
    signed = bool((everything < 0).any())
    k: Scaling = scaling(everything, signed, percentile)
    name, lo, hi = colour_scales.scale_for(signed)
    legend = k.legend("its class", subject="the class score")
    legend = Legend("mean relevance (each map scaled by its largest |score|)", legend.meaning, legend.clipping,
                    legend.ticks, legend.beyond)
    return MeanMaps([f"{lab} (n={n})" for lab, _, n in triples], [display_scores(r, signed, scale=k) for r in raw],
                    raw, name, lo, hi, legend, title)


def plotly(d: MeanMaps) -> go.Figure:
    from plotly.subplots import make_subplots

    fig = make_subplots(rows=d.rows, cols=d.columns, subplot_titles=[label(n) for n in d.names],
                        horizontal_spacing=0.02, vertical_spacing=0.08 if d.rows > 1 else 0.02)
    for i, (values, raw) in enumerate(zip(d.values, d.raw)):
        r, c = divmod(i, d.columns)
        fig.add_trace(go.Heatmap(z=values, customdata=raw, coloraxis="coloraxis", name=label(d.names[i]),
                                 hovertemplate="row %{y}, column %{x}<br>mean %{customdata:.3g}<extra></extra>"),
                      row=r + 1, col=c + 1)
    fig.update_xaxes(visible=False)
    fig.update_yaxes(visible=False, autorange="reversed", scaleanchor="x")
    for i in range(1, len(d.values)):  # every tile square on its own axes
        fig.update_yaxes(scaleanchor=f"x{i + 1}", selector=dict(anchor=f"x{i + 1}"))
    lg = d.legend
    fig.update_layout(
        coloraxis=dict(colorscale=colour_scales.plotly_scale(d.scale), cmin=d.lo, cmax=d.hi,
                       colorbar=dict(title=dict(text="mean relevance", side="top"), thickness=14,
                                     tickvals=[v for v, _ in lg.ticks], ticktext=[label(t) for _, t in lg.ticks])),
        title=dict(text=(f"{label(d.title)}<br>" if d.title else "") + f"<sup>{label(lg.meaning)}</sup>",
                   x=0.01, xanchor="left"),
        height=90 + 190 * d.rows, margin=dict(l=10, r=10, t=80, b=10))
    return fig


def png(d: MeanMaps, tile: int = TILE) -> bytes:
    """The tiles in rows of ``COLUMNS``, each titled with its class and count, the colour bar and legend below."""
    font = _font(13)
    gap, caption = 10, 20
    cols, rows = d.columns, d.rows
    width, height = cols * (tile + gap) + gap, rows * (tile + caption + gap) + gap
    canvas = Image.new("RGB", (width, height), "white")
    draw = ImageDraw.Draw(canvas)
    for i, values in enumerate(d.values):
        r, c = divmod(i, cols)
        x, y = gap + c * (tile + gap), gap + r * (tile + caption + gap)
        draw.text((x, y), _fit(draw, d.names[i], font, tile), font=font, fill=(34, 34, 34))
        h, w = values.shape
        side = tile / max(h, w)
        size = (max(1, round(w * side)), max(1, round(h * side)))
        rgb = colour_scales.apply(values, d.scale, d.lo, d.hi)
        canvas.paste(Image.fromarray(rgb).resize(size, Image.NEAREST), (x, y + caption))
    return encode_png(d.legend.under(np.asarray(canvas), d.scale, d.lo, d.hi))


RENDERER = Renderer("mean_maps", prepare, plotly=plotly, png=png)
