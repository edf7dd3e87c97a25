"""Faithfulness curves: the explained output against the share of the input deleted (and inserted)."""

from __future__ import annotations

from dataclasses import dataclass

import plotly.graph_objects as go

from reports.figures.base import Renderer, label


@dataclass
class Curves:
    fractions: list[float]
    deletion: list[float]
    insertion: list[float] | None
    title: str
    x_title: str


def prepare(faithfulness: dict, title: str = "", x_title: str | None = None) -> Curves:
    """From a faithfulness mapping with ``fractions``, ``deletion_curve`` and optionally ``insertion_curve``."""
    f = faithfulness
    return Curves(list(f["fractions"]), list(f["deletion_curve"]),
                  None if f.get("insertion_curve") is None else list(f["insertion_curve"]), title,
                  x_title or "share of the input changed (pixels, features)")


def plotly(d: Curves) -> go.Figure:
    fig = go.Figure()
    fig.add_trace(go.Scatter(x=d.fractions, y=d.deletion, name="deletion", mode="lines"))
    if d.insertion is not None:
        fig.add_trace(go.Scatter(x=d.fractions, y=d.insertion, name="insertion", mode="lines"))
    fig.update_layout(title=label(d.title), margin=dict(l=0, r=0, t=30 if d.title else 10, b=0), height=260,
                      xaxis=dict(title=d.x_title, tickformat=".0%"),
                      yaxis=dict(title="probability" if d.insertion is not None else "model output"))
    return fig


RENDERER = Renderer("faithfulness_curves", prepare, plotly=plotly)
