"""What every renderer shares: the ``Renderer`` record, label escaping for Plotly, display scaling, small images.

A renderer turns its inputs into display data ONCE (``prepare``); every form of the figure is drawn from that
data: the interactive Plotly figure (pages, HTML report), PNG bytes (PDF, bundle), escaped HTML (token highlights).
The PDF draws its vector forms (bars, cells, highlighted tokens) from the same prepared data.
"""

from __future__ import annotations

import base64
import html
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np
from PIL import Image

from models.inputs.images import encode_png

DISPLAY_SIDE = 768  # longest side of an image sent to the browser or drawn in a report
HEATMAP_SIDE = 256  # longest side of a score grid sent to the browser


@dataclass(frozen=True)
class Renderer:
    """One figure kind. ``prepare(...)`` gives the display data; ``plotly``, ``png`` and ``html`` draw it
    (a form the kind has no use for is None)."""

    kind: str
    prepare: Callable[..., Any]
    plotly: Callable[[Any], Any] | None = None
    png: Callable[[Any], bytes] | None = None
    html: Callable[[Any], str] | None = None

    @property
    def forms(self) -> list[str]:
        return [f for f in ("plotly", "png", "html") if getattr(self, f) is not None]

    def figure(self, *args, **kwargs):
        """The interactive Plotly figure of ``prepare(*args, **kwargs)``."""
        return self.plotly(self.prepare(*args, **kwargs))


def label(text) -> str:
    """A user's string (a column, class, file or token name) as a Plotly figure shows it: as text. Plotly renders
    some HTML in titles, tick labels, hover text and legends (``<a href>`` becomes a link), so ``<``, ``>`` and
    ``&`` are escaped; Plotly turns the entities back into the characters."""
    return html.escape(str(text), quote=False)


def labels(texts) -> list[str]:
    return [label(t) for t in texts]


def display_scores(scores, signed: bool) -> np.ndarray:
    """Scores on the display scale: [-1, 1] by the largest magnitude when signed, else [0, 1]."""
    s = np.nan_to_num(np.asarray(scores, dtype=np.float32))
    if signed:
        top = np.abs(s).max() if s.size else 0
        return s / top if top > 0 else s
    lo, hi = (s.min(), s.max()) if s.size else (0, 0)
    if lo >= 0 and hi <= 1:
        return s
    return (s - lo) / (hi - lo) if hi > lo else np.zeros_like(s)


def rgb(image: np.ndarray) -> np.ndarray:
    """An H×W×3 view of a grey, RGB or RGBA uint8 image."""
    if image.ndim == 2:
        return np.repeat(image[..., None], 3, axis=2)
    return image[..., :3]


def downscale(image: np.ndarray, side: int = DISPLAY_SIDE) -> np.ndarray:
    """An RGB image with its longest side at most ``side`` (bilinear), unchanged when already smaller."""
    image = rgb(image)
    h, w = image.shape[:2]
    scale = side / max(h, w)
    if scale >= 1:
        return image
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    return np.asarray(Image.fromarray(image).resize(size, Image.BILINEAR))


def resize_values(values: np.ndarray, height: int, width: int, resample=Image.BILINEAR) -> np.ndarray:
    """A float grid resized to (height, width): BOX to shrink (block means), bilinear to enlarge."""
    if values.shape == (height, width):
        return values.astype(np.float32)
    return np.asarray(Image.fromarray(values.astype(np.float32), mode="F").resize((width, height), resample))


def thumbnail_png(image: np.ndarray, side: int = DISPLAY_SIDE) -> bytes:
    return encode_png(downscale(image, side))


def data_uri(png: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


def hex_rgb(colour: str) -> tuple[int, int, int]:
    return tuple(int(colour[k: k + 2], 16) for k in (1, 3, 5))


def css(colour) -> str:
    return "rgb({},{},{})".format(*(int(c) for c in colour))
