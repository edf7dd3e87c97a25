"""What the beeswarm and the dependence plot share: a numeric feature's values as a position on its own colour
scale (low blue, high red), a categorical feature's values as one colour per category with a legend."""

from __future__ import annotations

import numpy as np

from reports.figures import colour_scales

FEATURE_SCALE = colour_scales.SIGNED  # low values blue, high values red
# categories: Okabe & Ito's colour-blind-safe palette (its blue and vermillion last, so that the first categories
# are not read as the numeric scale's "low" and "high"), then Plotly's Safe palette
CATEGORY_COLOURS = ("#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#F0E442", "#000000", "#0072B2", "#D55E00",
                    "#88CCEE", "#DDCC77", "#117733", "#332288", "#AA4499", "#44AA99", "#999933", "#882255")
MISSING_COLOUR = "#bbbbbb"
MAX_CATEGORY_COLOURS = len(CATEGORY_COLOURS)  # beyond: the least frequent categories share "other"


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


def category_groups(codes: np.ndarray, names: list[str]) -> list[tuple[str, str, np.ndarray]]:
    """(category name, colour, mask of the rows with it) for a categorical column encoded as codes into ``names``
    (NaN: missing), in the order of ``names``; past ``MAX_CATEGORY_COLOURS`` the rarest are grouped as "other"."""
    codes = np.asarray(codes, dtype=float)
    present = [k for k in range(len(names)) if np.any(codes == k)]
    if len(present) > MAX_CATEGORY_COLOURS:
        counts = {k: int(np.sum(codes == k)) for k in present}
        kept = sorted(sorted(present, key=lambda k: -counts[k])[:MAX_CATEGORY_COLOURS - 1])
    else:
        kept = present
    out = [(str(names[k]), CATEGORY_COLOURS[i], codes == k) for i, k in enumerate(kept)]
    rest = ~np.isnan(codes) & ~np.isin(codes, kept)
    if rest.any():
        out.append((f"other ({len(present) - len(kept)} categories)", CATEGORY_COLOURS[-1], rest))
    if np.isnan(codes).any():
        out.append(("missing", MISSING_COLOUR, np.isnan(codes)))
    return out
