"""A matrix of coloured cells: what the generation matrix and the agreement matrix draw.

The prepared ``Cells`` hold the display values and their RGB colours, computed once; the Plotly heatmap takes
the same values on the same scale, the PNG and the PDF take the RGB cells.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import plotly.graph_objects as go

from models.inputs.images import encode_png
from reports.figures import colour_scales
from reports.figures.base import Legend, label, labels


@dataclass
class Cells:
    values: np.ndarray  # (rows, cols) on the display scale
    raw: np.ndarray  # the values as computed (hover, printed numbers)
    row_labels: list[str]
    col_labels: list[str]
    scale: str
    lo: float
    hi: float
    x_title: str = ""
    y_title: str = ""
    colour_title: str = ""
    numbers: bool = False  # print each cell's raw value in it
    legend: Legend | None = None  # what the colours mean (a map's cells): the colour bar's ticks and words

    @property
    def rgb(self) -> np.ndarray:
        """(rows, cols, 3) uint8: each cell's colour on the shared scale."""
        return colour_scales.apply(self.values, self.scale, self.lo, self.hi)


def make(values, raw, row_labels, col_labels, signed: bool, unsigned: str = colour_scales.UNSIGNED_MATRIX,
         **titles) -> Cells:
    name, lo, hi = colour_scales.scale_for(signed, unsigned)
    return Cells(np.asarray(values, dtype=np.float64), np.asarray(raw, dtype=np.float64), [str(t) for t in row_labels],
                 [str(t) for t in col_labels], name, lo, hi, **titles)


def colour_bar(d: Cells) -> dict:
    """The colour bar: titled with what the values are; a map's cells carry ticks in the scores' own units (what
    the colours mean is the figure's title line, ``legend_title``)."""
    if d.legend is None:
        return dict(title=label(d.colour_title), thickness=14)
    lg = d.legend
    return dict(title=dict(text="relevance", side="top"), tickvals=[v for v, _ in lg.ticks],
                ticktext=[label(t) for _, t in lg.ticks], thickness=14)


def legend_title(d: Cells) -> dict:
    """A map's legend as the figure's title, small, over the cells: what the values are, what the colours mean,
    where the clip is."""
    lg = d.legend
    return dict(text=f"colours: {label(lg.title)}<br>{label(lg.meaning)}<br>{label(lg.clipping)}",
                font=dict(size=12), x=0.01, xanchor="left", y=1, yanchor="top", yref="container", pad=dict(t=16))


def plotly(d: Cells) -> go.Figure:
    rows, cols = d.values.shape
    xs, ys = labels(d.col_labels), labels(d.row_labels)
    heat = dict(z=d.values, colorscale=colour_scales.plotly_scale(d.scale), zmin=d.lo, zmax=d.hi,
                customdata=[[f"{ys[i]} ← {xs[j]}" for j in range(cols)] for i in range(rows)],
                hovertemplate="%{customdata}<br>%{text}<extra></extra>",
                text=[[f"{v:.4g}" for v in row] for row in d.raw], colorbar=colour_bar(d))
    if d.numbers:
        heat.update(text=[[f"{v:.3f}" for v in row] for row in d.raw], texttemplate="%{text}")
    fig = go.Figure(go.Heatmap(**heat))
    fig.update_xaxes(tickvals=list(range(cols)), ticktext=xs, title=label(d.x_title) if d.x_title else None)
    fig.update_yaxes(tickvals=list(range(rows)), ticktext=ys, title=label(d.y_title) if d.y_title else None,
                     autorange="reversed")
    top = 10 if d.legend is None else 72
    fig.update_layout(margin=dict(l=10, r=10, t=top, b=10), height=min(900, 130 + top + 26 * rows))
    if d.legend is not None:
        fig.update_layout(title=legend_title(d))
    return fig


def bar_legend(d: Cells) -> Legend:
    """What the colour bar of ``d`` says: a map's legend, else the colour title on the scale's ends (an agreement
    matrix: -1 … 1)."""
    if d.legend is not None:
        return d.legend
    mid = (d.lo + d.hi) / 2
    signed = d.lo < 0 < d.hi
    meaning = "red: positive · blue: negative" if signed else "darker: lower · brighter: higher"
    return Legend(d.colour_title or "value", meaning, "not clipped",
                  tuple((v, f"{v:.3g}") for v in (d.lo, mid, d.hi)))


def png(d: Cells, cell: int = 12, max_side: int = 1200) -> bytes:
    """The cells as a PNG, rows top to bottom, each ``cell`` pixels (fewer for large matrices), with their colour
    bar and legend below them."""
    grid = d.rgb
    rows, cols = grid.shape[:2]
    cell = max(1, min(cell, max_side // max(rows, cols, 1)))
    image = np.repeat(np.repeat(grid, cell, axis=0), cell, axis=1)
    return encode_png(bar_legend(d).under(image, d.scale, d.lo, d.hi))  # a map's cells: its colour bar below them
