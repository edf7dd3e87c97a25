"""Which figures a report shows for an item, prepared once: the HTML, the PDF and the bundle draw these same views.

CRAFT: concept importance bars and the crops gallery. An image map on its input: the image overlay. A matrix:
the generation matrix. A 1-D explanation: the token highlight (when it has tokens) and ranked bars, and the
waterfall from the base value to the output (when it has both: a table row's SHAP values).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from reports.describe import is_craft
from reports.figures import renderer
from reports.figures.concept_crops import has_crops
from reports.report import ReportItem


@dataclass
class View:
    kind: str  # the renderer's figure kind
    title: str
    data: Any  # the renderer's prepared display data
    still: bool = False  # reports show its PNG rather than an interactive figure


def _view(kind: str, title: str, *args, still: bool = False, **kwargs) -> View:
    return View(kind, title, renderer(kind).prepare(*args, **kwargs), still)


def views(item: ReportItem) -> list[View]:
    ex = item.explanation
    if is_craft(ex):
        out = [_view("ranked_bars", "Concept importance", ex)]
        if has_crops(ex):
            out.append(_view("concept_crops", "Crops where each concept is strongest (one row per concept, "
                                              "concept 1 on top)", ex.extras["concept_crops"], still=True))
        return out
    if ex.scores.ndim == 2 and ex.modality == "image" and item.input_kind == "image" \
            and ex.scores.shape == item.input.shape[:2]:
        return [_view("image_overlay", "Attribution" + (" (blue negative, red positive)" if ex.signed else ""),
                      ex, item.input)]
    if ex.scores.ndim == 2:
        return [_view("generation_matrix", "Attribution matrix (rows: generated tokens, columns: input tokens)", ex)]
    out = []
    if ex.tokens and len(ex.tokens) == ex.scores.size:
        text = item.input if item.input_kind == "text" else None
        out.append(_view("token_highlight", "Tokens", ex, text))
    out.append(_view("ranked_bars", "Ranked", ex))
    if ex.base_value is not None and "output" in ex.extras:
        out.append(_view("waterfall", "Waterfall (base value + contributions = output)", ex))
    return out
