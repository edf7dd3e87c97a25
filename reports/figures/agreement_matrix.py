"""Agreement matrix: how much each pair of explainers agrees, on the diverging scale from -1 to 1."""

from __future__ import annotations

import numpy as np

from reports.figures import cells
from reports.figures.base import Renderer


def prepare(names, matrix, metric: str) -> cells.Cells:
    matrix = np.asarray(matrix, dtype=np.float64)
    return cells.make(np.clip(matrix, -1, 1), matrix, names, names, signed=True, colour_title=metric, numbers=True,
                      x_title="explainer", y_title="explainer")


RENDERER = Renderer("agreement_matrix", prepare, plotly=cells.plotly, png=cells.png)
