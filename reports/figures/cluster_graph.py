"""Strategic cluster graph: each concept at (prevalence, reliability), sized by its importance.

Concepts often share a spot (with 8 images, prevalence and reliability are eighths), and their labels used to print
over each other. Labels are now placed: concepts at the same spot get one joined label ("concepts 2, 5"), and each
label takes the first side of its marker (above, below, right, left, then the corners) whose box, as estimated on a
typical plot (``PLOT_W`` × ``PLOT_H`` pixels, ``CHAR_W`` per character), meets no other label, marker or the plot's
edge; where every side collides it takes the one that overlaps least. The hover text names every concept.
On a plot narrower than ``PLOT_W`` (a window under about 1000 px) neighbouring labels can still touch."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import plotly.graph_objects as go

from reports.describe import concept_name
from reports.figures.base import Renderer, css
from reports.figures.colour_scales import concept_colour

X_RANGE = (-0.05, 1.05)
Y_RANGE = (-0.08, 1.25)  # headroom above 100 %, where most concepts sit, for their labels
PLOT_W, PLOT_H = 700.0, 300.0  # the plot area the placement assumes (px): a wide page's column, 360 less margins
CHAR_W, LINE_H, GAP = 6.5, 15.0, 3.0  # the label font's mean character width, its line height, marker-to-label gap
# candidate sides: Plotly's textposition and where the label's box sits relative to the marker (dx, dy in -1/0/1)
SIDES = [("top center", 0, 1), ("bottom center", 0, -1), ("middle right", 1, 0), ("middle left", -1, 0),
         ("top right", 1, 1), ("top left", -1, 1), ("bottom right", 1, -1), ("bottom left", -1, -1)]


@dataclass
class Points:
    concepts: list[int]
    x: list[float]  # prevalence
    y: list[float]  # reliability
    size: list[float]
    labels: list[str] = field(default_factory=list)  # "" where another concept at the same spot carries the label
    positions: list[str] = field(default_factory=list)  # Plotly textposition per point


def _px(x: float, y: float) -> tuple[float, float]:
    return ((x - X_RANGE[0]) / (X_RANGE[1] - X_RANGE[0]) * PLOT_W,
            (y - Y_RANGE[0]) / (Y_RANGE[1] - Y_RANGE[0]) * PLOT_H)


def label_box(x: float, y: float, size: float, text: str, side: str) -> tuple[float, float, float, float]:
    """The box (left, bottom, right, top, in plot pixels, y up) that ``text`` takes on ``side`` of a marker of
    diameter ``size`` at (x, y), as the placement estimates it."""
    _, dx, dy = next(s for s in SIDES if s[0] == side)
    cx, cy = _px(x, y)
    w, h, r = CHAR_W * len(text), LINE_H, size / 2 + GAP
    left = cx - w / 2 if dx == 0 else (cx + r if dx > 0 else cx - r - w)
    bottom = cy - h / 2 if dy == 0 else (cy + r if dy > 0 else cy - r - h)
    if dx and dy:  # a corner: Plotly puts it beside the marker's edge, not its bounding square's corner
        left += -dx * r * 0.3
        bottom += -dy * r * 0.3
    return left, bottom, left + w, bottom + h


def _overlap(a, b) -> float:
    w = min(a[2], b[2]) - max(a[0], b[0])
    h = min(a[3], b[3]) - max(a[1], b[1])
    return w * h if w > 0 and h > 0 else 0.0


def _grow(box, by: float):
    return box[0] - by, box[1] - by, box[2] + by, box[3] + by


def _outside(box) -> float:
    """The box's area beyond the plot's edges (Plotly clips it)."""
    inside = _overlap(box, (0.0, 0.0, PLOT_W, PLOT_H))
    return (box[2] - box[0]) * (box[3] - box[1]) - inside


def _group_label(members: list[int]) -> str:
    if len(members) == 1:
        return concept_name(members[0])
    return "concepts " + ", ".join(str(i + 1) for i in sorted(members))


def place_labels(concepts, x, y, size) -> tuple[list[str], list[str]]:
    """Each point's label text and Plotly textposition (see the module's docstring)."""
    n = len(concepts)
    spots: dict[tuple[float, float], list[int]] = {}
    for k in range(n):
        spots.setdefault((round(float(x[k]), 9), round(float(y[k]), 9)), []).append(k)
    texts, positions = [""] * n, ["top center"] * n
    markers = []
    for k in range(n):
        cx, cy = _px(x[k], y[k])
        r = size[k] / 2
        markers.append((cx - r, cy - r, cx + r, cy + r))
    placed = []
    # the biggest (most important) spot first: it gets the best side
    for members in sorted(spots.values(), key=lambda m: -max(size[k] for k in m)):
        carrier = max(members, key=lambda k: size[k])
        text = _group_label([concepts[k] for k in members])
        best, best_cost = None, None
        for side, _, _ in SIDES:
            box = label_box(x[carrier], y[carrier], size[carrier], text, side)
            cost = sum(_overlap(box, b) for b in placed) + _outside(box) * 2
            cost += sum(_overlap(box, _grow(markers[k], GAP)) for k in range(n) if k not in members)
            if best_cost is None or cost < best_cost - 1e-9:
                best, best_cost = (side, box), cost
            if cost == 0:
                break
        texts[carrier], positions[carrier] = text, best[0]
        placed.append(best[1])
    return texts, positions


def prepare(prevalence, reliability, importance) -> Points:
    shown = [i for i, rel in enumerate(reliability) if rel is not None]
    importance = np.asarray(importance, dtype=np.float64)
    top = importance.max() if importance.size and importance.max() > 0 else 1.0
    # the biggest markers drawn first, so a smaller one at the same spot stays visible on top
    shown.sort(key=lambda i: -max(importance[i], 0))
    x = [float(prevalence[i]) for i in shown]
    y = [float(reliability[i]) for i in shown]
    size = [14 + 36 * max(importance[i], 0) / top for i in shown]
    texts, positions = place_labels(shown, x, y, size)
    return Points(shown, x, y, size, texts, positions)


def plotly(d: Points) -> go.Figure:
    fig = go.Figure(go.Scatter(
        x=d.x, y=d.y, mode="markers+text", text=d.labels, textposition=d.positions,
        customdata=[concept_name(i) for i in d.concepts], cliponaxis=False,
        marker=dict(size=d.size, color=[css(concept_colour(i)) for i in d.concepts], line=dict(width=1, color="#333")),
        hovertemplate="%{customdata}<br>prevalence %{x:.0%}<br>reliability %{y:.0%}<extra></extra>",
    ))
    fig.update_layout(margin=dict(l=0, r=10, t=10, b=0), height=360,
                      xaxis=dict(title="prevalence (share of images where it dominates)", tickformat=".0%",
                                 range=list(X_RANGE)),
                      yaxis=dict(title="reliability (model accuracy on those images)", tickformat=".0%",
                                 range=list(Y_RANGE), tickvals=[0, 0.2, 0.4, 0.6, 0.8, 1.0]))
    return fig


RENDERER = Renderer("cluster_graph", prepare, plotly=plotly)
