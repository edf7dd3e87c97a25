"""Interaction heatmap: TreeSHAP interaction values between a table's features (shap-tree with ``interactions``).

One explained row: each off-diagonal cell is the pair's interaction value for that row (half of the pair's
interaction effect on the output; the other half is the mirrored cell), signed on the diverging scale. Several
rows: the mean |interaction value| per pair, on the sequential scale. The diagonal holds the main effects (each
feature's SHAP value minus its interactions); they are much larger than the interactions, so they are printed on
hover but left uncoloured, and the colours are scaled to the largest off-diagonal value. The ``top`` features by
|SHAP| (mean |SHAP| for several rows) are shown, strongest first.
"""

from __future__ import annotations

import numpy as np

from reports.figures import cells
from reports.figures.base import Legend, Renderer

TOP_FEATURES = 15  # features shown (the strongest by |SHAP|); a matrix of every column of a wide table is unreadable


def prepare(explanation, top: int = TOP_FEATURES) -> cells.Cells:
    e = explanation
    matrix = np.asarray(e.extras["interactions"], dtype=np.float64)
    names = list(e.feature_names or [f"feature {i}" for i in range(len(matrix))])
    order = np.argsort(-np.abs(np.asarray(e.scores, dtype=np.float64)), kind="stable")[:max(1, int(top))]
    raw = matrix[np.ix_(order, order)]
    signed = "interaction_values" not in e.extras  # one row: signed values; several: mean magnitudes
    off = raw[~np.eye(len(order), dtype=bool)]
    hi = float(np.abs(off).max()) if off.size and np.abs(off).max() > 0 else 1.0
    display = np.clip(raw / hi, -1.0 if signed else 0.0, 1.0)
    np.fill_diagonal(display, 0.0)  # main effects: printed on hover, not coloured
    output = e.extras.get("output_kind") or "output"
    what = "interaction value" if signed else "mean |interaction value|"
    if signed:
        meaning = "red: the pair raises the output together · blue: lowers it"
        ticks = ((-1.0, f"-{hi:.3g}"), (0.0, "0"), (1.0, f"+{hi:.3g}"))
    else:
        meaning = "brighter: a stronger interaction"
        ticks = ((0.0, "0"), (1.0, f"{hi:.3g}"))
    legend = Legend(f"{what} ({output})", meaning,
                    "scaled to the largest pair; the diagonal (main effects) is not coloured", ticks)
    return cells.make(display, raw, [names[i] for i in order], [names[i] for i in order], signed,
                      colour_title=legend.title, numbers=len(order) <= 8, x_title="feature", y_title="feature",
                      legend=legend)


def plotly(d: cells.Cells):
    fig = cells.plotly(d)
    fig.update_traces(colorbar_title_text="interaction")  # the cells' colour bar is titled for attribution maps
    return fig


RENDERER = Renderer("interaction_heatmap", prepare, plotly=plotly, png=cells.png)
