"""One renderer per figure kind, looked up by name (a Modality spec's ``figures`` lists these names).

Each renderer prepares its display data once and draws every form from it: the Plotly figure for the pages and
the HTML report, PNG bytes for the PDF and the bundle, escaped HTML for token highlights; the PDF draws its
vector bars, cells and tokens from the same prepared data. Colours come from ``colour_scales`` alone.

    r = renderer("image_overlay")
    d = r.prepare(explanation, image)     # display data, computed once
    r.plotly(d), r.png(d)                 # the page's figure and the report's PNG, from the same data
    r.figure(explanation, image)          # shortcut: r.plotly(r.prepare(...))
"""

from __future__ import annotations

from reports.figures import (agreement_matrix, beeswarm, channel_maps, cluster_graph, concept_crops, concept_maps,
                             dependence, distribution, faithfulness_curves, generation_matrix, image_overlay,
                             interaction_heatmap, mean_maps, neuron_path_ablation, ranked_bars, responsiveness,
                             token_highlight, waterfall)
from reports.figures.base import Renderer, label, labels
from reports.figures.colour_scales import COLORMAPS

RENDERERS: dict[str, Renderer] = {r.kind: r for r in (
    image_overlay.RENDERER,
    token_highlight.RENDERER,
    ranked_bars.RENDERER,
    ranked_bars.TOP_CLASSES,
    generation_matrix.RENDERER,
    waterfall.RENDERER,
    beeswarm.RENDERER,
    dependence.RENDERER,
    concept_maps.RENDERER,
    concept_crops.RENDERER,
    cluster_graph.RENDERER,
    agreement_matrix.RENDERER,
    faithfulness_curves.RENDERER,
    distribution.RENDERER,
    mean_maps.RENDERER,
    neuron_path_ablation.RENDERER,
    responsiveness.RENDERER,
    channel_maps.RENDERER,
    interaction_heatmap.RENDERER,
)}


def renderer(kind: str) -> Renderer:
    """The renderer of a figure kind, e.g. "image_overlay", "token_highlight", "generation_matrix"."""
    try:
        return RENDERERS[kind]
    except KeyError:
        raise KeyError(f"No renderer for the figure kind {kind!r}; known: {', '.join(sorted(RENDERERS))}.") from None


__all__ = ["COLORMAPS", "RENDERERS", "Renderer", "label", "labels", "renderer"]
