"""Which figures show an explanation, prepared once: Compare's tiles and the HTML, PDF and bundle all draw these views.

The figure kinds come from the explanation's ``Modality`` spec (``figures``, in its order); each kind has one rule
here: when it can show an explanation on its input, its title, and what its renderer's ``prepare`` takes. An
explanation of a modality this Lumen does not know (an imported bundle) is shown by every kind that can show it.
CRAFT (a set of images) shows concept importance bars and the crops gallery.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

import numpy as np

from explainers import Explanation, get_modality
from models.errors import ExplainerError
from reports.describe import is_craft
from reports.figures import renderer
from reports.figures.base import CLIP_PERCENTILE, display_scores
from reports.figures.channel_maps import has_channel_maps
from reports.figures.concept_crops import has_crops
from reports.figures.neuron_path_ablation import has_ablation
from reports.figures.neuron_bars import has_neurons, prepare as neuron_bars
from reports.report import ReportItem


@dataclass
class View:
    kind: str  # the renderer's figure kind
    title: str
    data: Any  # the renderer's prepared display data
    still: bool = False  # reports show its PNG rather than an interactive figure


@dataclass(frozen=True)
class Rule:
    shows: Callable[[Explanation, Any], bool]  # (explanation, input) -> whether this kind can show it
    title: Callable[[Explanation], str]
    args: Callable[[Explanation, Any], tuple]  # what the renderer's prepare takes, before the caller's options


def _on_image(e, x) -> bool:
    return isinstance(x, np.ndarray) and x.ndim in (2, 3) and e.scores.ndim == 2 and e.scores.shape == x.shape[:2]


RULES: dict[str, Rule] = {
    "image_overlay": Rule(_on_image, lambda e: "Attribution" + (" (blue negative, red positive)" if e.signed else ""),
                          lambda e, x: (e, x)),
    "generation_matrix": Rule(lambda e, x: e.scores.ndim == 2 and not _on_image(e, x),
                              lambda e: "Attribution matrix (rows: generated tokens, columns: input tokens)",
                              lambda e, x: (e,)),
    "token_highlight": Rule(lambda e, x: e.scores.ndim == 1 and bool(e.tokens) and len(e.tokens) == e.scores.size,
                            lambda e: "Tokens", lambda e, x: (e, x if isinstance(x, str) else None)),
    "ranked_bars": Rule(lambda e, x: e.scores.ndim == 1, lambda e: "Ranked", lambda e, x: (e,)),
    "neuron_path_ablation": Rule(lambda e, x: has_ablation(e.extras),
                                 lambda e: "Ablation check: the class probability with a path's neurons zeroed",
                                 lambda e, x: (e.extras["ablation"], "", e.target_label)),
    "waterfall": Rule(lambda e, x: e.scores.ndim == 1 and e.base_value is not None and "output" in e.extras,
                      lambda e: "Waterfall (base value + contributions = output)", lambda e, x: (e,)),
    "responsiveness": Rule(lambda e, x: e.method == "responsiveness" and e.scores.ndim == 1 and "fixed" in e.extras,
                           lambda e: "Responsiveness (P(reaching the target by changing one feature alone))",
                           lambda e, x: (e,)),
    "interaction_heatmap": Rule(lambda e, x: e.scores.ndim == 1 and "interactions" in e.extras,
                                lambda e: "TreeSHAP interaction values (diagonal: main effects, not coloured)",
                                lambda e, x: (e,)),
}


def figure_kinds(e: Explanation) -> tuple[str, ...]:
    """The kinds that may show ``e``: its modality's ``figures``, or every kind with a rule for an unknown modality."""
    try:
        return tuple(k for k in get_modality(e.modality).figures if k in RULES)
    except ExplainerError:
        return tuple(RULES)


def explanation_views(e: Explanation, x, options: dict[str, dict] | None = None) -> list[View]:
    """The views of ``e`` on its input ``x``; ``options``: {kind: keyword arguments of that renderer's prepare}."""
    options = options or {}
    if is_craft(e):
        out = [View("ranked_bars", "Concept importance", renderer("ranked_bars").prepare(e))]
        if has_crops(e):
            out.append(View("concept_crops", "Crops where each concept is strongest (one row per concept, "
                                             "concept 1 on top)",
                            renderer("concept_crops").prepare(e.extras["concept_crops"]), still=True))
        return out
    kinds = [kind for kind in figure_kinds(e) if RULES[kind].shows(e, x)]
    if not kinds:  # nothing of its modality's figures fits (an item without its input): whatever can show it
        kinds = [kind for kind, rule in RULES.items() if rule.shows(e, x)][:1]
    out = [View(kind, RULES[kind].title(e), renderer(kind).prepare(*RULES[kind].args(e, x), **options.get(kind, {})))
           for kind in kinds]
    return out + unit_views(e, x)


def unit_views(e: Explanation, x) -> list[View]:
    """The units a neurons method ranks (channel-attribution, lm-neurons): their bars (labelled with the decoded
    tokens of an LM neuron) and a CNN's top channel maps over the image."""
    if not has_neurons(e):
        return []
    what = "channels" if has_channel_maps(e) else "MLP neurons (↑ tokens each promotes, ↓ tokens it suppresses)"
    out = [View("ranked_bars", f"Top {what}", neuron_bars(e))]
    if has_channel_maps(e) and isinstance(x, np.ndarray) and x.ndim in (2, 3):
        out.append(View("channel_maps", "Top channels' activation maps (rank order)",
                        renderer("channel_maps").prepare(e, x), still=True))
    return out


def shown_scores(e: Explanation, x, options: dict[str, dict] | None = None) -> np.ndarray:
    """The values ``e``'s tile is drawn from with ``options`` (as ``explanation_views`` takes them), one per
    feature: a map over its image on the overlay's display scale (magnitudes or signed, clipped at its percentile,
    before the display's block means), else the bars' scores or their magnitudes. Compare's agreement reads these,
    so that it compares what the tiles show."""
    options = options or {}
    if "image_overlay" in figure_kinds(e) and RULES["image_overlay"].shows(e, x):
        o = options.get("image_overlay", {})
        magnitude = bool(o.get("magnitude"))
        values = np.abs(e.scores) if magnitude else e.scores
        return display_scores(values, e.signed and not magnitude, o.get("percentile", CLIP_PERCENTILE))
    return np.abs(e.scores) if options.get("ranked_bars", {}).get("magnitude") else np.asarray(e.scores)


def view_html(view: View) -> str:
    """The escaped HTML of a view whose renderer draws HTML (the token highlight): every piece of text in it is
    escaped by the renderer, so a page may show it raw (tests/unit/test_web_safety.py lists this builder)."""
    draw = renderer(view.kind).html
    if draw is None:
        raise ValueError(f"{view.kind} has no HTML form")
    return draw(view.data)


def views(item: ReportItem) -> list[View]:
    """The views a report shows for ``item``, drawn with the options the page used (``item.view_options``)."""
    return explanation_views(item.explanation, item.input, item.view_options)
