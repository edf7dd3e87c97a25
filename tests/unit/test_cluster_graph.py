"""The strategic cluster graph's labels: one per spot, placed so that they do not print over each other."""

import itertools

import numpy as np

from reports.figures import renderer
from reports.figures.cluster_graph import _overlap, label_box, prepare


def _boxes(d):
    return [label_box(x, y, s, t, p) for x, y, s, t, p in zip(d.x, d.y, d.size, d.labels, d.positions) if t]


def test_concepts_at_one_spot_share_one_label():
    """Eight images: concepts 1, 3 and 4 each dominate one image the model gets right: the same spot."""
    d = prepare([0.125, 0.5, 0.125, 0.125, 0.125], [1.0, 0.75, 1.0, 1.0, None], [0.9, 0.5, 0.3, 0.2, 0.1])
    assert d.concepts == [0, 1, 2, 3]  # concept 5 dominates no image: not shown
    assert sorted(t for t in d.labels if t) == ["concept 2", "concepts 1, 3, 4"]
    assert d.labels[d.concepts.index(0)] == "concepts 1, 3, 4"  # carried by the biggest marker there
    fig = renderer("cluster_graph").plotly(d)
    assert list(fig.data[0].customdata) == ["concept 1", "concept 2", "concept 3", "concept 4"]  # hover names all


def test_labels_of_close_concepts_do_not_overlap():
    """Neighbouring spots (an eighth apart, as with 8 images) that all wanted "top center" before."""
    prevalence = [0.125, 0.25, 0.375, 0.25, 0.125, 0.25]
    reliability = [1.0, 1.0, 1.0, 0.875, 0.875, 0.75]
    d = prepare(prevalence, reliability, np.linspace(1, 0.5, 6))
    assert all(d.labels) and len(set(d.positions)) > 1
    for a, b in itertools.combinations(_boxes(d), 2):
        assert _overlap(a, b) == 0


def test_a_lone_concept_keeps_its_label_above():
    d = prepare([0.5], [0.5], [1.0])
    assert d.labels == ["concept 1"] and d.positions == ["top center"]


def test_no_concept_shown_draws_an_empty_graph():
    d = prepare([0.0, 0.0], [None, None], [0.0, 0.0])
    assert d.concepts == [] and d.labels == []
    renderer("cluster_graph").plotly(d)
