"""What the HTML, PDF and bundle share: display scaling of scores, colours, PNG renderings, rankings.

PNGs are drawn with numpy and Pillow alone (no browser, no kaleido).
"""

from __future__ import annotations

import numpy as np
from PIL import Image

from explainers.core.explanation import Explanation
from models.inputs.images import encode_png

# Anchor colours of the two colour maps (evenly spaced on [0, 1]).
_JET = np.array([[0, 0, 128], [0, 0, 255], [0, 255, 255], [255, 255, 0], [255, 0, 0], [128, 0, 0]], np.float32)
_RDBU = np.array([[5, 48, 97], [67, 147, 195], [247, 247, 247], [214, 96, 77], [103, 0, 31]], np.float32)
TOP_BARS = 20  # features or tokens shown in a ranked bar chart


def display_scores(scores: np.ndarray, signed: bool) -> np.ndarray:
    """Scores on the display scale: [-1, 1] by the largest magnitude when signed, else [0, 1]."""
    s = np.nan_to_num(np.asarray(scores, dtype=np.float32))
    if signed:
        top = np.abs(s).max() if s.size else 0
        return s / top if top > 0 else s
    lo, hi = (s.min(), s.max()) if s.size else (0, 0)
    if lo >= 0 and hi <= 1:
        return s
    return (s - lo) / (hi - lo) if hi > lo else np.zeros_like(s)


def colours(values: np.ndarray, signed: bool) -> np.ndarray:
    """RGB uint8 for display-scaled values: a diverging blue–red map when signed, jet otherwise."""
    table = _RDBU if signed else _JET
    t = (np.clip(values, -1, 1) + 1) / 2 if signed else np.clip(values, 0, 1)
    pos = t * (len(table) - 1)
    lo = np.floor(pos).astype(int).clip(0, len(table) - 2)
    frac = (pos - lo)[..., None]
    return (table[lo] * (1 - frac) + table[lo + 1] * frac).round().astype(np.uint8)


def rgb(image: np.ndarray) -> np.ndarray:
    if image.ndim == 2:
        return np.repeat(image[..., None], 3, axis=2)
    return image[..., :3]


def overlay_png(image: np.ndarray, scores: np.ndarray, signed: bool, opacity: float = 0.5,
                max_side: int = 768) -> bytes:
    """The image with its heatmap blended over it, as PNG bytes (downscaled to ``max_side``)."""
    base = rgb(image).astype(np.float32)
    heat = colours(display_scores(scores, signed), signed).astype(np.float32)
    if heat.shape[:2] != base.shape[:2]:
        heat = np.asarray(Image.fromarray(heat.astype(np.uint8)).resize(base.shape[1::-1], Image.BILINEAR), np.float32)
    blended = Image.fromarray((base * (1 - opacity) + heat * opacity).round().astype(np.uint8))
    blended.thumbnail((max_side, max_side), Image.BILINEAR)
    return encode_png(np.asarray(blended))


def matrix_png(scores: np.ndarray, signed: bool, cell: int = 12, max_side: int = 1200) -> bytes:
    """A 2-D score matrix as coloured cells (rows top to bottom), PNG bytes."""
    grid = colours(display_scores(scores, signed), signed)
    rows, cols = grid.shape[:2]
    cell = max(1, min(cell, max_side // max(rows, cols, 1)))
    return encode_png(np.repeat(np.repeat(grid, cell, axis=0), cell, axis=1))


def thumbnail_png(image: np.ndarray, max_side: int = 768) -> bytes:
    img = Image.fromarray(rgb(image))
    img.thumbnail((max_side, max_side), Image.BILINEAR)
    return encode_png(np.asarray(img))


def crops_png(crops: np.ndarray, gap: int = 4) -> bytes:
    """CRAFT's gallery (r, shown, s, s, 3): one row of crops per concept, on white."""
    r, shown, s = crops.shape[:3]
    sheet = np.full((r * (s + gap) - gap, shown * (s + gap) - gap, 3), 255, np.uint8)
    for i in range(r):
        for j in range(shown):
            sheet[i * (s + gap): i * (s + gap) + s, j * (s + gap): j * (s + gap) + s] = rgb(crops[i, j])
    return encode_png(sheet)


def ranked(scores: np.ndarray, names: list[str], k: int = TOP_BARS) -> list[tuple[str, float]]:
    """The ``k`` entries of largest magnitude, largest first."""
    s = np.asarray(scores, dtype=np.float64).ravel()
    order = np.argsort(-np.abs(np.nan_to_num(s)), kind="stable")[:k]
    return [(names[i], float(s[i])) for i in order]


def feature_names(e: Explanation) -> list[str]:
    """A name per score of a 1-D explanation: feature names, tokens (numbered: tokens repeat) or indices."""
    n = e.scores.size
    if e.feature_names and len(e.feature_names) == n:
        return list(e.feature_names)
    if e.tokens and len(e.tokens) == n:
        return [f"\u2068{t}\u2069 #{i}" for i, t in enumerate(e.tokens)]  # isolated: "#i" stays after an RTL token
    return [str(i) for i in range(n)]


def is_craft(e: Explanation) -> bool:
    return e.method == "craft" or "concept_bank" in e.extras


def target_text(e: Explanation) -> str:
    if e.target is None and e.target_label is None:
        return "—"
    if e.target is None:
        return str(e.target_label)
    return f"{e.target_label} (index {e.target})" if e.target_label is not None else f"index {e.target}"


def heading(e: Explanation) -> str:
    """"method — target" for titles."""
    target = e.target_label if e.target_label is not None else e.target
    return f"{e.method} — {target}" if target is not None else e.method
