"""Channel maps: a CNN layer's top channels (channel-attribution's ``extras["channel_maps"]``), each as its
activation over the image, side by side in rank order; the same tiles for the page, the HTML, the PDF and the bundle."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import plotly.graph_objects as go
import torch

from explainers.image.maps import resize_map
from models.inputs.images import encode_png
from reports.figures.base import Renderer, data_uri, downscale, label
from reports.figures.colour_scales import UNSIGNED, apply

TILE = 160  # longest side of one tile, px
COLUMNS = 4


@dataclass
class ChannelSheet:
    image: np.ndarray  # the tiles as one RGB image (rank order, left to right, top to bottom)
    titles: list[str]  # one per tile: "#channel · score"
    columns: int
    tile: tuple[int, int]  # (height, width) of one tile


def prepare(explanation, image: np.ndarray, opacity: float = 0.6, columns: int = COLUMNS, gap: int = 4) -> ChannelSheet:
    """Each top channel's activation map (scaled by its own maximum, ReLU'd) in the unsigned colour scale over
    ``image``; the tile's title gives the channel and its score."""
    maps = np.asarray(explanation.extras["channel_maps"], dtype=np.float32)
    neurons = explanation.extras["neurons"]
    base = downscale(image, TILE)
    if max(base.shape[:2]) < TILE // 2:  # a small image (a thumbnail, a test's) is enlarged, pixels kept square
        factor = -(-TILE // 2 // max(base.shape[:2]))
        base = base.repeat(factor, axis=0).repeat(factor, axis=1)
    base = base.astype(np.float32)
    h, w = base.shape[:2]
    columns = max(1, min(int(columns), len(maps)))
    rows = -(-len(maps) // columns)
    sheet = np.full((rows * (h + gap) - gap, columns * (w + gap) - gap, 3), 255, np.uint8)
    for k, m in enumerate(maps):
        grid = np.clip(resize_map(torch.as_tensor(m), h, w).numpy(), 0, None)
        top = grid.max()
        grid = grid / top if top > 0 else grid
        colour = apply(grid, UNSIGNED, 0.0, 1.0).astype(np.float32)
        alpha = opacity * grid[..., None]
        tile = base * (1 - alpha) + colour * alpha
        r, c = divmod(k, columns)
        sheet[r * (h + gap): r * (h + gap) + h, c * (w + gap): c * (w + gap) + w] = tile.round().astype(np.uint8)
    titles = [f"#{n['index']} · {n['score']:+.3g}" for n in neurons[: len(maps)]]
    return ChannelSheet(sheet, titles, columns, (h, w))


def png(d: ChannelSheet) -> bytes:
    return encode_png(d.image)


def plotly(d: ChannelSheet) -> go.Figure:
    height, width = d.image.shape[:2]
    fig = go.Figure(go.Image(source=data_uri(png(d)), hoverinfo="skip"))
    h, w = d.tile
    for k, title in enumerate(d.titles):  # each tile's channel and score above it
        r, c = divmod(k, d.columns)
        fig.add_annotation(x=c * (w + 4) + w / 2, y=r * (h + 4) + 2, text=label(title), showarrow=False,
                           yanchor="top", font=dict(size=11, color="white"), bgcolor="rgba(0,0,0,0.55)")
    fig.update_xaxes(visible=False)
    fig.update_yaxes(visible=False, scaleanchor="x")
    fig.update_layout(margin=dict(l=0, r=0, t=0, b=0), height=max(160, min(720, 900 * height / width)))
    return fig


def has_channel_maps(explanation) -> bool:
    maps = explanation.extras.get("channel_maps")
    return isinstance(maps, np.ndarray) and maps.ndim == 3 and maps.size > 0 and bool(explanation.extras.get("neurons"))


RENDERER = Renderer("channel_maps", prepare, plotly=plotly, png=png)
