"""The neuron path's ablation check: the class probability with the influential path's neurons zeroed, against the
top-activation rule's path and random paths (one neuron per block each), the unablated probability as a line.

From ``Explanation.extras["ablation"]`` of neuron-path (explainers/neurons/neuron_path.py); one row per kind of
path, a dot per path, the random paths' mean as a bar.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import plotly.graph_objects as go
from PIL import Image, ImageDraw

from models.inputs.images import encode_png
from reports.figures.base import LUMEN_COLOURS, Renderer, _fit, _font, hex_rgb, label

NO_ABLATION = (127, 127, 127)


@dataclass
class Row:
    name: str
    values: list[float]
    colour: str


@dataclass
class Ablation:
    rows: list[Row]  # first on top
    probability: float  # the class probability with nothing zeroed
    title: str = ""
    x_title: str = "probability of the class"

    @property
    def drops(self) -> dict[str, float]:
        """Each row's mean drop of the class probability."""
        return {r.name: self.probability - float(np.mean(r.values)) for r in self.rows}


def has_ablation(extras: dict) -> bool:
    a = extras.get("ablation") if isinstance(extras, dict) else None
    return isinstance(a, dict) and all(k in a for k in ("probability", "path", "top_activation", "random"))


def prepare(ablation: dict, title: str = "", target: str | None = None) -> Ablation:
    """``ablation``: neuron-path's ``extras["ablation"]``; ``target``: the class's name, for the axis."""
    rows = [
        Row("influential path zeroed", [float(ablation["path"])], LUMEN_COLOURS[1]),
        Row("top-activation path zeroed", [float(ablation["top_activation"])], LUMEN_COLOURS[3]),
        Row(f"random paths zeroed ({len(ablation['random'])})", [float(v) for v in ablation["random"]],
            LUMEN_COLOURS[0]),
    ]
    x_title = f"probability of {target}" if target else "probability of the class"
    return Ablation(rows, float(ablation["probability"]), title, x_title)


def plotly(d: Ablation) -> go.Figure:
    fig = go.Figure()
    n = len(d.rows)
    for i, r in enumerate(d.rows):
        y = n - 1 - i
        name = label(r.name)
        fig.add_trace(go.Scatter(x=r.values, y=np.full(len(r.values), y), mode="markers", name=name, showlegend=False,
                                 marker=dict(color=r.colour, size=9, opacity=0.8),
                                 hovertemplate=f"{name}: %{{x:.4f}}<extra></extra>"))
        if len(r.values) > 1:
            mean = float(np.mean(r.values))
            fig.add_trace(go.Scatter(x=[mean, mean], y=[y - 0.3, y + 0.3], mode="lines", showlegend=False,
                                     line=dict(color=r.colour, width=3), name=f"{name}: mean",
                                     hovertemplate=f"{name}, mean: {mean:.4f}<extra></extra>"))
    fig.add_vline(x=d.probability, line=dict(color="rgb(127,127,127)", dash="dash"),
                  annotation_text=f"nothing zeroed: {d.probability:.4f}", annotation_position="top")
    fig.update_yaxes(tickvals=list(range(n)), ticktext=[label(r.name) for r in d.rows][::-1], range=[-0.6, n - 0.4])
    fig.update_xaxes(title=label(d.x_title), zeroline=False)
    fig.update_layout(title=label(d.title) if d.title else None, height=110 + 46 * n + (30 if d.title else 0),
                      margin=dict(l=10, r=10, t=50 if d.title else 30, b=10))
    return fig


def png(d: Ablation, width: int = 900) -> bytes:
    """The same on white: a row per kind of path (name on the left), a dot per path, the mean as a bar, the
    unablated probability as a dashed grey line, the probability axis below."""
    font, small = _font(14), _font(12)
    row, pad, left = 40, 12, min(280, width // 3)
    title_h = 26 if d.title else 0
    top = pad + title_h + 18
    height = top + row * len(d.rows) + 56
    image = Image.new("RGB", (width, height), "white")
    draw = ImageDraw.Draw(image)
    if d.title:
        draw.text((pad, pad), _fit(draw, d.title, font, width - 2 * pad), font=font, fill=(34, 34, 34))
    values = np.array([v for r in d.rows for v in r.values] + [d.probability])
    lo, hi = float(values.min()), float(values.max())
    if hi <= lo:
        lo, hi = lo - 0.01, hi + 0.01
    margin = (hi - lo) * 0.06
    lo, hi = lo - margin, hi + margin
    x0, x1 = left, width - pad - 10

    def x(v: float) -> float:
        return x0 + (v - lo) / (hi - lo) * (x1 - x0)

    bottom = top + row * len(d.rows)
    px = x(d.probability)
    for y in range(top, bottom, 8):  # dashed
        draw.line((px, y, px, min(y + 4, bottom)), fill=NO_ABLATION, width=2)
    text = f"nothing zeroed: {d.probability:.4f}"
    tw = draw.textlength(text, font=small)
    draw.text((min(max(x0, px - tw / 2), x1 - tw), top - 18), text, font=small, fill=(68, 68, 68))
    for i, r in enumerate(d.rows):
        cy = top + i * row + row / 2
        colour = hex_rgb(r.colour)
        draw.text((pad, cy - 8), _fit(draw, r.name, small, left - 2 * pad), font=small, fill=(34, 34, 34))
        for v in r.values:
            draw.ellipse((x(v) - 4, cy - 4, x(v) + 4, cy + 4), fill=colour)
        if len(r.values) > 1:
            m = x(float(np.mean(r.values)))
            draw.line((m, cy - 12, m, cy + 12), fill=colour, width=3)
    axis_y = bottom + 4
    draw.line((x0, axis_y, x1, axis_y), fill=(120, 120, 120))
    for k in range(5):
        v = lo + margin + k * (hi - lo - 2 * margin) / 4
        draw.line((x(v), axis_y, x(v), axis_y + 4), fill=(120, 120, 120))
        t = f"{v:.4g}"
        tw = draw.textlength(t, font=small)
        draw.text((min(max(x0, x(v) - tw / 2), x1 - tw), axis_y + 6), t, font=small, fill=(34, 34, 34))
    tw = draw.textlength(d.x_title, font=small)
    draw.text(((x0 + x1 - min(tw, x1 - x0)) / 2, axis_y + 26), _fit(draw, d.x_title, small, x1 - x0), font=small,
              fill=(68, 68, 68))
    return encode_png(np.asarray(image))


RENDERER = Renderer("neuron_path_ablation", prepare, plotly=plotly, png=png)
