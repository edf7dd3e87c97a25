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
from reports.figures.base import label, labels


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

    @property
    def rgb(self) -> np.ndarray:
        """(rows, cols, 3) uint8: each cell's colour on the shared scale."""
        return colour_scales.apply(self.values, self.scale, self.lo, self.hi)


def make(values, raw, row_labels, col_labels, signed: bool, unsigned: str = colour_scales.UNSIGNED_MATRIX,
         **titles) -> Cells:
    name, lo, hi = colour_scales.scale_for(signed, unsigned)
    return Cells(np.asarray(values, dtype=np.float64), np.asarray(raw, dtype=np.float64), [str(t) for t in row_labels],
                 [str(t) for t in col_labels], name, lo, hi, **titles)


def plotly(d: Cells) -> go.Figure:
    rows, cols = d.values.shape
    xs, ys = labels(d.col_labels), labels(d.row_labels)
    heat = dict(z=d.values, colorscale=colour_scales.plotly_scale(d.scale), zmin=d.lo, zmax=d.hi,
                customdata=[[f"{ys[i]} ← {xs[j]}" for j in range(cols)] for i in range(rows)],
                hovertemplate="%{customdata}<br>%{text}<extra></extra>",
                text=[[f"{v:.4g}" for v in row] for row in d.raw], colorbar=dict(title=label(d.colour_title),
                                                                                thickness=14))
    if d.numbers:
        heat.update(text=[[f"{v:.3f}" for v in row] for row in d.raw], texttemplate="%{text}")
    fig = go.Figure(go.Heatmap(**heat))
    fig.update_xaxes(tickvals=list(range(cols)), ticktext=xs, title=label(d.x_title) if d.x_title else None)
    fig.update_yaxes(tickvals=list(range(rows)), ticktext=ys, title=label(d.y_title) if d.y_title else None,
                     autorange="reversed")
    fig.update_layout(margin=dict(l=10, r=10, t=10, b=10), height=min(900, 140 + 26 * rows))
    return fig


def png(d: Cells, cell: int = 12, max_side: int = 1200) -> bytes:
    """The cells as a PNG, rows top to bottom, each ``cell`` pixels (fewer for large matrices)."""
    grid = d.rgb
    rows, cols = grid.shape[:2]
    cell = max(1, min(cell, max_side // max(rows, cols, 1)))
    return encode_png(np.repeat(np.repeat(grid, cell, axis=0), cell, axis=1))
