"""The colour scales, defined once: Plotly draws with ``plotly_scale(name)``, PNGs and the PDF with ``apply(...)``,
both from the same evenly spaced stops (Plotly's own lists of its named scales).

Signed scores use ``SIGNED`` (blue negative, white 0, red positive) on [-1, 1]; unsigned ones a sequential scale
on [0, 1]. Positive and negative bars and token highlights use ``POSITIVE`` and ``NEGATIVE``.
"""

from __future__ import annotations

import numpy as np
from plotly import colors as plotly_colors

COLORMAPS = ("Jet", "Turbo", "Viridis", "Inferno", "Hot", "RdBu_r", "Greys")  # choices for unsigned image maps
SIGNED = "RdBu_r"  # diverging: blue at -1, white at 0, red at +1
UNSIGNED = "Jet"  # image heatmaps
UNSIGNED_MATRIX = "Viridis"  # matrices of unsigned scores
POSITIVE = (214, 39, 40)  # red: toward the class
NEGATIVE = (31, 119, 180)  # blue: against it
NEUTRAL = (127, 127, 127)  # totals, magnitudes without a sign


def _parse(colour: str) -> tuple[int, int, int]:
    if colour.startswith("#"):
        return tuple(int(colour[k: k + 2], 16) for k in (1, 3, 5))
    return tuple(int(float(v)) for v in colour[colour.index("(") + 1: colour.index(")")].split(","))


def _stops(name: str) -> np.ndarray:
    reverse = name.endswith("_r")
    base = name.removesuffix("_r")
    for family in (plotly_colors.sequential, plotly_colors.diverging):
        if hasattr(family, base):
            table = np.array([_parse(c) for c in getattr(family, base)], dtype=np.float32)
            return table[::-1] if reverse else table
    raise KeyError(f"unknown colour scale {name!r}")


SCALES: dict[str, np.ndarray] = {name: _stops(name) for name in dict.fromkeys((*COLORMAPS, SIGNED, UNSIGNED_MATRIX))}


def plotly_scale(name: str) -> list[list]:
    """The scale as a Plotly colorscale: the same stops as ``apply`` interpolates, evenly spaced on [0, 1]."""
    table = SCALES[name]
    n = len(table) - 1
    return [[i / n, "rgb({},{},{})".format(*(int(c) for c in row))] for i, row in enumerate(table)]


def apply(values, name: str, lo: float, hi: float) -> np.ndarray:
    """RGB uint8 of ``values`` on the scale ``name`` from ``lo`` to ``hi`` (clipped): linear between stops,
    as Plotly interpolates."""
    table = SCALES[name]
    t = np.clip((np.asarray(values, dtype=np.float32) - lo) / (hi - lo), 0, 1)
    pos = np.nan_to_num(t) * (len(table) - 1)
    i = np.floor(pos).astype(int).clip(0, len(table) - 2)
    frac = (pos - i)[..., None]
    return (table[i] * (1 - frac) + table[i + 1] * frac).round().astype(np.uint8)


def scale_for(signed: bool, unsigned: str = UNSIGNED) -> tuple[str, float, float]:
    """(scale name, lo, hi) for display-scaled scores: the diverging scale on [-1, 1] when signed."""
    return (SIGNED, -1.0, 1.0) if signed else (unsigned, 0.0, 1.0)


def sign_colour(value: float) -> tuple[int, int, int]:
    return POSITIVE if value >= 0 else NEGATIVE


def tint(colour, alpha: float) -> tuple[int, int, int]:
    """``colour`` at opacity ``alpha`` over white: what an rgba background shows on a white page."""
    return tuple(int(round(255 + (c - 255) * alpha)) for c in colour)


# Distinct, colour-blind-friendly hues (Okabe–Ito, then Tol's muted), one per concept.
CONCEPT_COLOURS = ("#E69F00", "#56B4E9", "#009E73", "#F0E442", "#0072B2", "#D55E00", "#CC79A7",
                   "#332288", "#88CCEE", "#44AA99", "#117733", "#999933", "#DDCC77", "#CC6677", "#882255", "#AA4499")


def concept_colour(i: int) -> tuple[int, int, int]:
    return _parse(CONCEPT_COLOURS[i % len(CONCEPT_COLOURS)])
