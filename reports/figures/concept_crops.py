"""Concept crops: CRAFT's gallery, one row of crops per concept (concept 1 on top), on white."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import plotly.graph_objects as go

from models.inputs.images import encode_png
from reports.figures.base import Renderer, data_uri, rgb


@dataclass
class Sheet:
    image: np.ndarray  # the gallery as one RGB image
    n_concepts: int


def prepare(crops: np.ndarray, gap: int = 4) -> Sheet:
    """``crops``: (concepts, shown, s, s, 3) uint8, as in CRAFT's ``extras["concept_crops"]``."""
    r, shown, s = crops.shape[:3]
    sheet = np.full((r * (s + gap) - gap, shown * (s + gap) - gap, 3), 255, np.uint8)
    for i in range(r):
        for j in range(shown):
            sheet[i * (s + gap): i * (s + gap) + s, j * (s + gap): j * (s + gap) + s] = rgb(crops[i, j])
    return Sheet(sheet, r)


def png(d: Sheet) -> bytes:
    return encode_png(d.image)


def plotly(d: Sheet) -> go.Figure:
    h, w = d.image.shape[:2]
    fig = go.Figure(go.Image(source=data_uri(png(d)), hoverinfo="skip"))
    fig.update_xaxes(visible=False)
    fig.update_yaxes(visible=False, scaleanchor="x")
    fig.update_layout(margin=dict(l=0, r=0, t=0, b=0), height=max(120, min(640, 640 * h / w)))
    return fig


def has_crops(explanation) -> bool:
    crops = explanation.extras.get("concept_crops")
    return isinstance(crops, np.ndarray) and crops.ndim == 5 and crops.size > 0


RENDERER = Renderer("concept_crops", prepare, plotly=plotly, png=png)
