"""Generation matrix: generated tokens (rows) × prompt tokens (columns), each cell the attribution."""

from __future__ import annotations

from reports.figures import cells
from reports.figures.base import Renderer, display_scores


def prepare(explanation) -> cells.Cells:
    e = explanation
    rows, cols = e.scores.shape
    xs = e.tokens if e.tokens and len(e.tokens) == cols else [str(j) for j in range(cols)]
    ys = e.target_tokens if e.target_tokens and len(e.target_tokens) == rows else [str(i) for i in range(rows)]
    return cells.make(display_scores(e.scores, e.signed), e.scores, [f"{k}:{t}" for k, t in enumerate(ys)],
                      [f"{i}:{t}" for i, t in enumerate(xs)], e.signed, x_title="prompt tokens",
                      y_title="generated tokens", colour_title="score")


RENDERER = Renderer("generation_matrix", prepare, plotly=cells.plotly, png=cells.png)
