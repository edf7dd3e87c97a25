"""What the beeswarm and the dependence plot share: a feature's values as a position on its own colour scale."""

from __future__ import annotations

import numpy as np

from reports.figures import colour_scales

FEATURE_SCALE = colour_scales.SIGNED  # low values blue, high values red


def rank_scale(column: np.ndarray) -> np.ndarray:
    """Each value's rank in its column, in [0, 1] (missing: 0.5), so every feature spans the colour scale."""
    out = np.full(len(column), 0.5)
    ok = ~np.isnan(column)
    if ok.sum() > 1:
        out[ok] = column[ok].argsort().argsort() / max(ok.sum() - 1, 1)
    return out


def marker(colour: np.ndarray, title: str, show: bool = True) -> dict:
    return dict(color=colour, colorscale=colour_scales.plotly_scale(FEATURE_SCALE), cmin=0, cmax=1, showscale=show,
                colorbar=dict(title=title, tickvals=[0, 1], ticktext=["low", "high"]))
