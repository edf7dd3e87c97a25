"""Distribution: one box (or violin) per group of values — a faithfulness figure per method over a dataset, the
agreement of each pair of methods.

The prepared ``Distribution`` holds each group's values and its five numbers (Tukey's box: quartiles, median,
whiskers at the furthest values within 1.5 IQR) computed once; the Plotly figure draws its boxes from the same
quartiles (``q1``, ``median``, ``q3``, ``lowerfence``, ``upperfence``), the PNG (PDF, bundle) draws them itself.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import plotly.graph_objects as go
from PIL import Image, ImageDraw

from models.inputs.images import encode_png
from reports.figures.base import LUMEN_COLOURS, Renderer, _fit, _font, hex_rgb, label

STYLES = ("box", "violin")


@dataclass
class Group:
    name: str
    values: np.ndarray
    q1: float
    median: float
    q3: float
    low: float  # the lower whisker: the smallest value within 1.5 IQR of q1
    high: float
    mean: float

    @property
    def n(self) -> int:
        return int(self.values.size)


@dataclass
class Distribution:
    groups: list[Group]  # first on top
    title: str
    value_title: str
    better: str | None = None  # "higher" | "lower": which way is better, said on the axis
    style: str = "box"


def five_numbers(values) -> tuple[float, float, float, float, float, float]:
    """(q1, median, q3, lower whisker, upper whisker, mean) of ``values`` (numpy's linear quartiles)."""
    v = np.sort(np.asarray(values, dtype=np.float64))
    q1, median, q3 = (float(x) for x in np.percentile(v, [25, 50, 75]))
    reach = 1.5 * (q3 - q1)
    low = float(v[v >= q1 - reach].min())
    high = float(v[v <= q3 + reach].max())
    return q1, median, q3, low, high, float(v.mean())


def prepare(values: dict, title: str = "", value_title: str = "value", better: str | None = None,
            style: str = "box") -> Distribution:
    """``values``: {group name: its values} (NaN left out; an empty group is not drawn), in the order shown, the
    first on top."""
    if style not in STYLES:
        raise ValueError(f"a distribution is drawn as one of {', '.join(STYLES)}; got {style!r}")
    groups = []
    for name, v in values.items():
        v = np.asarray(v, dtype=np.float64).ravel()
        v = v[np.isfinite(v)]
        if v.size:
            groups.append(Group(str(name), v, *five_numbers(v)))
    return Distribution(groups, title, value_title, better, style)


def axis_title(d: Distribution) -> str:
    return d.value_title + (f" ({d.better} is better)" if d.better else "")


def _colour(i: int) -> str:
    return LUMEN_COLOURS[i % len(LUMEN_COLOURS)]


def plotly(d: Distribution) -> go.Figure:
    fig = go.Figure()
    n = len(d.groups)
    for i, g in enumerate(d.groups):
        y = n - 1 - i  # the first group on top
        name = label(g.name)
        common = dict(name=name, orientation="h", marker_color=_colour(i), showlegend=False,
                      hoverinfo="x+name")
        if d.style == "violin":
            fig.add_trace(go.Violin(x=g.values, y=np.full(g.n, y), box_visible=True, meanline_visible=True,
                                    points="outliers", spanmode="hard", width=0.8, **common))
        else:
            fig.add_trace(go.Box(y=[y], q1=[g.q1], median=[g.median], q3=[g.q3], lowerfence=[g.low],
                                 upperfence=[g.high], mean=[g.mean], **common))
            outside = g.values[(g.values < g.low) | (g.values > g.high)]
            if outside.size:  # the values beyond the whiskers, as the PNG draws them
                fig.add_trace(go.Scatter(x=outside, y=np.full(outside.size, y), mode="markers", showlegend=False,
                                         name=name, marker=dict(color=_colour(i), symbol="circle-open", size=7),
                                         hovertemplate=f"{name}: %{{x:.4g}}<extra></extra>"))
    fig.update_yaxes(tickvals=list(range(n)), ticktext=[f"{label(g.name)} (n={g.n})" for g in d.groups][::-1],
                     range=[-0.6, n - 0.4])
    fig.update_xaxes(title=label(axis_title(d)), zeroline=False)
    fig.update_layout(title=label(d.title) if d.title else None, height=110 + 46 * n + (30 if d.title else 0),
                      margin=dict(l=10, r=10, t=40 if d.title else 10, b=10))
    return fig


def _ticks(lo: float, hi: float, n: int = 5) -> list[float]:
    step = (hi - lo) / (n - 1)
    return [lo + k * step for k in range(n)]


def png(d: Distribution, width: int = 900) -> bytes:
    """The boxes drawn on white (the violin style draws its box too): one row per group, its name and count on the
    left, the value axis with its title below; a dot per value outside the whiskers."""
    font, small = _font(14), _font(12)
    row, pad, left = 40, 12, min(260, width // 3)
    title_h = 26 if d.title else 0
    height = pad + title_h + row * max(1, len(d.groups)) + 56
    image = Image.new("RGB", (width, height), "white")
    draw = ImageDraw.Draw(image)
    if d.title:
        draw.text((pad, pad), _fit(draw, d.title, font, width - 2 * pad), font=font, fill=(34, 34, 34))
    values = np.concatenate([g.values for g in d.groups]) if d.groups else np.array([0.0, 1.0])
    lo, hi = float(values.min()), float(values.max())
    if hi <= lo:
        lo, hi = lo - 0.5, hi + 0.5
    margin = (hi - lo) * 0.04
    lo, hi = lo - margin, hi + margin
    x0, x1 = left, width - pad - 10
    top = pad + title_h

    def x(v: float) -> float:
        return x0 + (v - lo) / (hi - lo) * (x1 - x0)

    for i, g in enumerate(d.groups):
        cy = top + i * row + row / 2
        colour = hex_rgb(_colour(i))
        fill = tuple(int(255 - (255 - c) * 0.35) for c in colour)
        draw.text((pad, cy - 8), _fit(draw, f"{g.name} (n={g.n})", small, left - 2 * pad), font=small,
                  fill=(34, 34, 34))
        draw.line((x(g.low), cy, x(g.q1), cy), fill=colour, width=2)
        draw.line((x(g.q3), cy, x(g.high), cy), fill=colour, width=2)
        for end in (g.low, g.high):
            draw.line((x(end), cy - 6, x(end), cy + 6), fill=colour, width=2)
        draw.rectangle((x(g.q1), cy - 12, max(x(g.q3), x(g.q1) + 1), cy + 12), fill=fill, outline=colour, width=2)
        draw.line((x(g.median), cy - 12, x(g.median), cy + 12), fill=colour, width=3)
        for v in g.values[(g.values < g.low) | (g.values > g.high)]:
            draw.ellipse((x(v) - 3, cy - 3, x(v) + 3, cy + 3), outline=colour, width=1)
    axis_y = top + row * max(1, len(d.groups)) + 4
    draw.line((x0, axis_y, x1, axis_y), fill=(120, 120, 120))
    for v in _ticks(lo + margin, hi - margin):
        draw.line((x(v), axis_y, x(v), axis_y + 4), fill=(120, 120, 120))
        text = f"{v:.3g}"
        tw = draw.textlength(text, font=small)
        draw.text((min(max(x0, x(v) - tw / 2), x1 - tw), axis_y + 6), text, font=small, fill=(34, 34, 34))
    caption = axis_title(d)
    tw = draw.textlength(caption, font=small)
    draw.text(((x0 + x1 - min(tw, x1 - x0)) / 2, axis_y + 26), _fit(draw, caption, small, x1 - x0), font=small,
              fill=(68, 68, 68))
    return encode_png(np.asarray(image))


RENDERER = Renderer("distribution", prepare, plotly=plotly, png=png)
