"""Which figures show an explanation: its Modality spec's ``figures``, each drawn by the one renderer of its kind."""

import numpy as np
import pytest

from explainers import Explanation, get_modality, list_modalities
from explainers.core.modality import FIGURE_KINDS
from reports.figures import RENDERERS
from reports.views import RULES, explanation_views


def test_every_figure_kind_a_spec_may_name_has_a_renderer():
    assert set(FIGURE_KINDS) <= set(RENDERERS)
    for modality in list_modalities():
        assert set(get_modality(modality).figures) <= set(RENDERERS), modality


def _image():
    return Explanation(np.random.default_rng(0).random((6, 8)), "grad-cam", "image", "m", 1), np.zeros((6, 8, 3), np.uint8)


def _text():
    tokens = ["[CLS]", "good", "food", "[SEP]"]
    extras = {"offsets": [[0, 0], [0, 4], [5, 9], [9, 9]], "special": [True, False, False, True],
              "word_ids": [None, 0, 1, None]}
    return Explanation(np.array([0, 0.5, -0.2, 0]), "occlusion", "text", "m", 1, tokens=tokens, extras=extras), "good food"


def _generation():
    return Explanation(np.ones((2, 3)), "occlusion", "generation", "m", tokens=["a", "b", "c"],
                       target_tokens=["x", "y"]), "a b c"


def _row():
    return Explanation(np.array([0.3, -0.1]), "shap-tree", "tabular", "m", 0, feature_names=["age", "income"],
                       base_value=0.5, extras={"output": 0.7}), {"age": 30, "income": 2}


def _row_with_interactions():
    e, x = _row()
    e.extras["interactions"] = np.array([[0.25, 0.05], [0.05, -0.15]])  # rows add up to the SHAP values
    return e, x


@pytest.mark.parametrize("make, kinds", [
    (_image, ["image_overlay"]),
    (_text, ["token_highlight", "ranked_bars"]),
    (_generation, ["generation_matrix"]),
    (_row, ["ranked_bars", "waterfall"]),
    (_row_with_interactions, ["ranked_bars", "waterfall", "interaction_heatmap"]),
])
def test_views_follow_the_spec_in_its_order(make, kinds):
    e, x = make()
    views = explanation_views(e, x)
    assert [v.kind for v in views] == kinds
    order = [k for k in get_modality(e.modality).figures if k in kinds]
    assert order == kinds  # the spec's order, not this module's
    for v in views:  # each view's data is its renderer's prepared form: every form of the kind draws it
        renderer = RENDERERS[v.kind]
        for form in renderer.forms:
            assert getattr(renderer, form)(v.data) is not None


def test_a_row_without_a_base_value_has_no_waterfall():
    e, x = _row()
    e.base_value = None
    assert [v.kind for v in explanation_views(e, x)] == ["ranked_bars"]


def test_an_image_map_without_its_image_is_still_shown():
    e, _ = _image()
    assert [v.kind for v in explanation_views(e, None)] == ["generation_matrix"]  # the cells of the map, not nothing


def test_an_unknown_modality_is_shown_by_every_kind_that_fits():
    e, x = _row()
    e.modality = "audio"  # an imported bundle from a newer Lumen
    assert [v.kind for v in explanation_views(e, x)] == [k for k in RULES if k in ("ranked_bars", "waterfall")]


def test_options_reach_the_renderer():
    e, x = _row()
    bars = next(v for v in explanation_views(e, x, {"ranked_bars": {"magnitude": True}}) if v.kind == "ranked_bars")
    assert [r.value for r in bars.data.rows] == pytest.approx([0.3, 0.1])  # |scores|, largest first
    signed = next(v for v in explanation_views(e, x) if v.kind == "ranked_bars")
    assert [r.value for r in signed.data.rows] == pytest.approx([0.3, -0.1])
