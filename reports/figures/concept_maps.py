"""Concept maps: an image with CRAFT's concept maps over it, each concept in its own colour."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import plotly.graph_objects as go
import torch

from explainers.image.maps import resize_map
from models.inputs.images import encode_png
from reports.describe import concept_name
from reports.figures.base import Renderer, css, data_uri, downscale
from reports.figures.colour_scales import concept_colour


@dataclass
class ConceptMaps:
    blended: np.ndarray  # the displayed image with the shown concepts coloured in (RGB uint8)
    shown: list[int]  # concept indices, in legend order


def prepare(image: np.ndarray, maps: np.ndarray, shown: list[int], opacity: float = 0.6) -> ConceptMaps:
    """The ``shown`` concepts' maps (r, h, w) over ``image``. Each map is scaled by its own maximum; a pixel takes
    the colour of the strongest shown concept there, with opacity ∝ that concept's scaled value."""
    rgb = downscale(image).astype(np.float32)
    h, w = rgb.shape[:2]
    layers = []
    for i in shown:
        grid = resize_map(torch.as_tensor(maps[i]), h, w).numpy()
        top = grid.max()
        layers.append(np.clip(grid / top, 0, 1) if top > 0 else np.zeros_like(grid))
    if layers:
        stack = np.stack(layers)
        alpha = (stack.max(0) * opacity)[..., None]
        colours = np.array([concept_colour(i) for i in shown], dtype=np.float32)
        rgb = rgb * (1 - alpha) + colours[stack.argmax(0)] * alpha
    return ConceptMaps(rgb.round().astype(np.uint8), list(shown))


def plotly(d: ConceptMaps) -> go.Figure:
    h, w = d.blended.shape[:2]
    fig = go.Figure(go.Image(source=data_uri(png(d)), hoverinfo="skip"))
    for i in d.shown:  # legend entries only
        fig.add_trace(go.Scatter(x=[None], y=[None], mode="markers", name=concept_name(i),
                                 marker=dict(size=12, color=css(concept_colour(i)), symbol="square")))
    fig.update_xaxes(visible=False)
    fig.update_yaxes(visible=False, scaleanchor="x")
    fig.update_layout(margin=dict(l=0, r=0, t=10, b=0), height=max(260, min(560, 480 * h / w)),
                      legend=dict(orientation="h", y=-0.02, title=dict(
                          text="colour: the strongest concept there (the more opaque, the stronger) ", side="top")),
                      showlegend=True)
    return fig


def png(d: ConceptMaps) -> bytes:
    return encode_png(d.blended)


RENDERER = Renderer("concept_maps", prepare, plotly=plotly, png=png)
