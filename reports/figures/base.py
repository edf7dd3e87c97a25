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
from PIL import Image, ImageDraw, ImageFont

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


CLIP_PERCENTILE = 99.0  # maps are clipped at this percentile of their scores (100: no clipping)
CLIP_RANGE = (90.0, 100.0)  # what the pages' "Clip at percentile" slider offers


@dataclass(frozen=True)
class Scaling:
    """How scores became display values: ``display = clip((score - lo) / (hi - lo))`` into [-1, 1] (signed, with
    ``lo = -hi``) or [0, 1]; ``percentile`` is the p of ``hi``, ``clipped`` how many scores lie beyond it."""

    signed: bool
    lo: float
    hi: float
    percentile: float
    clipped: int = 0

    def legend(self, target: str | None = None, magnitude: bool = False, subject: str = "the class score"
               ) -> "Legend":
        """What the colours mean, in words: one legend for the Plotly colour bar and the PNG's drawn bar.
        ``target``: what the scores are relevance to (the class); ``subject``: what a positive score raises."""
        what = "|relevance|" if magnitude else "relevance"
        title = f"{what} to {target}" if target else what
        p = _percentile_text(self.percentile)
        if self.signed:
            meaning = f"red: raises {subject} · blue: lowers it"
            ticks = ((-1.0, f"-{_num(self.hi)} or less"), (0.0, "0"), (1.0, f"+{_num(self.hi)} or more"))
            clip = (f"clipped at the {p} percentile of |score|" if self.percentile < 100
                    else "scaled by the largest |score|")
            if self.percentile == 100:
                ticks = ((-1.0, f"-{_num(self.hi)}"), (0.0, "0"), (1.0, f"+{_num(self.hi)}"))
        else:
            top = f"the {p} percentile and above" if self.percentile < 100 else "the largest score"
            meaning = f"{_num(self.lo)} (the minimum) … {top}" if self.lo != 0 else f"0 … {top}"
            top_tick = f"{_num(self.hi)} or more" if self.percentile < 100 else _num(self.hi)
            ticks = ((0.0, _num(self.lo)), (1.0, top_tick))
            clip = f"clipped at the {p} percentile" if self.percentile < 100 else "not clipped"
        beyond = f"{self.clipped:,} of the values lie beyond it" if self.clipped else ""
        return Legend(title, meaning, clip, ticks, beyond)


@dataclass(frozen=True)
class Legend:
    title: str  # "relevance to tabby"
    meaning: str  # what the colours say
    clipping: str  # how the scores were scaled
    ticks: tuple[tuple[float, str], ...]  # (display value, label)
    beyond: str = ""  # how many scores the clip saturates (the PNG says it; the Plotly hover reads true scores)

    @property
    def text(self) -> str:
        return f"{self.title}: {self.meaning}; {self.clipping}" + (f" ({self.beyond})" if self.beyond else "")

    def panel(self, scale: str, lo: float, hi: float, width: int) -> np.ndarray:
        """The colour bar drawn as the Plotly figure draws it, for PNGs (PDF, bundle): the title, the colours'
        meaning, the bar (``scale`` from ``lo`` to ``hi``) with its ticks, and the clipping, on white, ``width``
        pixels wide (RGB uint8)."""
        from reports.figures import colour_scales

        size = max(11, round(width / 52))
        font, small = _font(size), _font(max(10, size - 2))
        pad, bar_h, line = max(6, size // 2), max(10, size), size + 4
        height = pad + line + line + bar_h + 3 + line + line + pad
        panel = Image.new("RGB", (width, height), "white")
        draw = ImageDraw.Draw(panel)
        inner = width - 2 * pad
        y = pad
        draw.text((pad, y), _fit(draw, self.title, font, inner), font=font, fill=(0, 0, 0))
        y += line
        draw.text((pad, y), _fit(draw, self.meaning, small, inner), font=small, fill=(60, 60, 60))
        y += line
        ramp = colour_scales.apply(np.linspace(lo, hi, inner)[None, :].repeat(bar_h, 0), scale, lo, hi)
        panel.paste(Image.fromarray(ramp), (pad, y))
        draw.rectangle((pad - 1, y - 1, pad + inner, y + bar_h), outline=(120, 120, 120))
        y += bar_h + 3
        for value, text in self.ticks:
            x = pad + (value - lo) / (hi - lo) * (inner - 1)
            draw.line((x, y - 3, x, y), fill=(0, 0, 0))
            tw = draw.textlength(text, font=small)
            draw.text((min(max(pad, x - tw / 2), pad + inner - tw), y), text, font=small, fill=(0, 0, 0))
        y += line
        clipping = f"{self.clipping} ({self.beyond})" if self.beyond else self.clipping
        draw.text((pad, y), _fit(draw, clipping, small, inner), font=small, fill=(60, 60, 60))
        return np.asarray(panel)

    def under(self, image: np.ndarray, scale: str, lo: float, hi: float) -> np.ndarray:
        """``image`` (RGB uint8, top left) with this legend's ``panel`` below it, on a white canvas at least
        ``LEGEND_MIN_WIDTH`` wide: the PNG form of every map with a colour bar."""
        h, w = image.shape[:2]
        width = max(w, LEGEND_MIN_WIDTH)
        panel = self.panel(scale, lo, hi, width)
        canvas = np.full((h + panel.shape[0], width, 3), 255, dtype=np.uint8)
        canvas[:h, :w] = image
        canvas[h:] = panel
        return canvas


LEGEND_MIN_WIDTH = 420  # px: a PNG narrower than this is drawn on a canvas this wide, so its legend's words fit


def _font(size: int):
    for name in ("DejaVuSans.ttf", "Arial.ttf"):  # a font with more than Latin-1, when the system has one
        try:
            return ImageFont.truetype(name, size)
        except OSError:
            continue
    return ImageFont.load_default(size=size)


def _fit(draw, text: str, font, width: int) -> str:
    """``text`` shortened with "…" to fit ``width`` pixels."""
    if draw.textlength(text, font=font) <= width:
        return text
    while text and draw.textlength(text + "…", font=font) > width:
        text = text[:-1]
    return text + "…"


def _percentile_text(p: float) -> str:
    """99 -> "99th", 91 -> "91st", 97.5 -> "97.5th"."""
    q = f"{p:g}"
    if "." in q or q.endswith(("11", "12", "13")) or q[-1] not in "123":
        return q + "th"
    return q + {"1": "st", "2": "nd", "3": "rd"}[q[-1]]


def _num(v: float) -> str:
    return f"{v:.3g}"


def scaling(scores, signed: bool, percentile: float = CLIP_PERCENTILE) -> Scaling:
    """The scale of ``display_scores``. Percentile clipping, as Captum's ``visualize_image_attr`` does with
    ``outlier_perc`` (it drops the top 2 % of the attribution *mass*, a cumulative-sum threshold); ours is a plain
    percentile of the values, so ``percentile = 99`` saturates the 1 % of pixels with the largest scores:

    - signed: ``hi`` = the p-th percentile of |score|, ``lo = -hi``: display = clip(score / hi, -1, 1);
    - unsigned: ``lo`` = 0, or the minimum when a score is negative; ``hi`` = the p-th percentile of the scores:
      display = clip((score - lo) / (hi - lo), 0, 1).

    When the percentile is at ``lo`` (over p % of the map is zero) ``hi`` falls back to the largest value, so the
    few non-zero scores still show. ``percentile = 100`` is the unclipped scale Lumen used before for signed maps
    (by the largest |score|), for unsigned maps in [0, 1] whose maximum is 1 (as every image explainer returns
    them) and for unsigned maps with a negative minimum (min-max). It differs only for non-negative unsigned maps
    whose maximum is not 1: they were shown raw when within [0, 1] and min-max scaled otherwise; now they run from
    0 to their maximum, so 0 means "no relevance" on every map. A percentile interpolates between values
    (numpy's default), so on a small matrix (a few dozen cells) the 99th percentile is close to the maximum."""
    if not 0 < percentile <= 100:
        raise ValueError(f"the clipping percentile must be in (0, 100]; got {percentile}")
    s = np.nan_to_num(np.asarray(scores, dtype=np.float32)).ravel()
    if not s.size:
        return Scaling(signed, -1.0 if signed else 0.0, 1.0, percentile)
    if signed:
        a = np.abs(s)
        top = float(np.percentile(a, percentile)) if percentile < 100 else float(a.max())
        if top <= 0:
            top = float(a.max())
        top = top if top > 0 else 1.0
        return Scaling(True, -top, top, percentile, int((a > top).sum()))
    lo = min(0.0, float(s.min()))
    hi = float(np.percentile(s, percentile)) if percentile < 100 else float(s.max())
    if hi <= lo:
        hi = float(s.max())
    hi = hi if hi > lo else lo + 1.0
    return Scaling(False, lo, hi, percentile, int((s > hi).sum()))


def display_scores(scores, signed: bool, percentile: float = CLIP_PERCENTILE, scale: Scaling | None = None
                   ) -> np.ndarray:
    """Scores on the display scale: [-1, 1] when signed, else [0, 1], clipped at the ``percentile``-th percentile
    (see ``scaling``; pass ``scale`` when it is already computed)."""
    s = np.nan_to_num(np.asarray(scores, dtype=np.float32))
    k = scale or scaling(s, signed, percentile)
    if k.signed:
        return np.clip(s / np.float32(k.hi), -1, 1)
    return np.clip((s - np.float32(k.lo)) / np.float32(k.hi - k.lo), 0, 1)


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


LUMEN_FONT = "system-ui, -apple-system, Segoe UI, Roboto, DejaVu Sans, sans-serif"
LUMEN_COLOURS = ["#1f77b4", "#d62728", "#7f7f7f", "#E69F00", "#56B4E9", "#009E73", "#CC79A7", "#0072B2"]


def lumen_template():
    """Lumen's own Plotly template for exported figures: white paper, light grid, dark text, axes that grow their
    margins to show their tick labels and titles. Set explicitly on every exported figure, so that whatever
    template is Plotly's default in the process (Streamlit makes its own theme the default) never reaches a file."""
    import plotly.graph_objects as go
    import plotly.io as pio

    t = go.layout.Template(pio.templates["plotly_white"])
    t.layout.font = dict(family=LUMEN_FONT, size=12, color="#222222")
    t.layout.colorway = LUMEN_COLOURS
    t.layout.paper_bgcolor = "#ffffff"
    t.layout.plot_bgcolor = "#ffffff"
    t.layout.title = dict(font=dict(size=14, color="#222222"), x=0.01, xanchor="left")
    t.layout.hoverlabel = dict(font=dict(family=LUMEN_FONT))
    for axis in (t.layout.xaxis, t.layout.yaxis):
        axis.update(automargin=True, gridcolor="#e5e5e5", linecolor="#999999", zerolinecolor="#bbbbbb",
                    title=dict(font=dict(size=12, color="#444444"), standoff=8))
    return t
