"""Generation matrix: generated tokens (rows) × prompt tokens (columns), each cell the attribution.

Scores are clipped at a percentile (``base.scaling``, 99 by default) like the image maps; the colour bar (Plotly)
and the legend drawn below the PNG say what the colours mean.
"""

from __future__ import annotations

from reports.figures import cells
from reports.figures.base import CLIP_PERCENTILE, Renderer, display_scores, scaling


def prepare(explanation, percentile: float = CLIP_PERCENTILE) -> cells.Cells:
    e = explanation
    rows, cols = e.scores.shape
    xs = e.tokens if e.tokens and len(e.tokens) == cols else [str(j) for j in range(cols)]
    ys = e.target_tokens if e.target_tokens and len(e.target_tokens) == rows else [str(i) for i in range(rows)]
    scale = scaling(e.scores, e.signed, percentile)
    legend = scale.legend("the generated token", subject="the generated token's score")
    return cells.make(display_scores(e.scores, e.signed, scale=scale), e.scores,
                      [f"{k}:{t}" for k, t in enumerate(ys)], [f"{i}:{t}" for i, t in enumerate(xs)], e.signed,
                      x_title="prompt tokens", y_title="generated tokens", colour_title=legend.title, legend=legend)


RENDERER = Renderer("generation_matrix", prepare, plotly=cells.plotly, png=cells.png)
