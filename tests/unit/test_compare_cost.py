"""Compare's cost before it runs, and the faithfulness figures of several maps measured together.

``compare_cost`` must say the passes ``compare`` then makes, as the model counts them, on every modality; the
figures of several maps measured in one engine call must equal those measured one map at a time.
"""

import numpy as np
import pytest
import torch

from explainers import explain
from explainers.core.compare import compare, compare_cost
from explainers.core.modality import faithfulness, faithfulness_many, figure_options
from explainers.metrics.image import image_faithfulness, image_faithfulness_many
from explainers.metrics.text import text_faithfulness, text_faithfulness_many
from models.adapters.tabular import train_model
from models.errors import ExplainerError
from models.inputs.tables import load_dataset
from tests.tiny_lm import tiny_lm
from tests.tiny_models import random_image, small_cnn
from tests.tiny_text import bag_model


@pytest.fixture(scope="module")
def models():
    return {
        "image": small_cnn(size=32),
        "text": bag_model(),
        "generation": tiny_lm(),
        "tabular": train_model(load_dataset("iris"), "logistic-regression"),
    }


INPUTS = {"image": random_image(32, seed=4), "text": "a good day but a dull and bad film", "generation": "w3 w7 w4",
          "tabular": load_dataset("iris").features.iloc[7].to_dict()}
# methods whose passes do not depend on the data, so the estimate is exact; two gradient CAMs share their pass
METHODS = {
    "image": {"grad-cam": {}, "grad-cam++": {}, "saliency": {}, "occlusion": {"window": 8, "stride": 8}},
    "text": {"occlusion": {}, "saliency": {}},
    "generation": {"occlusion": {}},
    "tabular": {"shap-linear": {}},
}


def _counted(model, fn):
    before = model.n_forward, model.n_backward
    out = fn()
    return out, (model.n_forward - before[0], model.n_backward - before[1])


@pytest.mark.parametrize("modality", ["image", "text", "generation", "tabular"])
@pytest.mark.parametrize("sanity", [False, True])
def test_the_estimate_is_the_passes_compare_makes(models, modality, sanity):
    model, x, methods = models[modality], INPUTS[modality], METHODS[modality]
    target = " w5" if modality == "generation" else None
    if sanity and modality == "tabular":  # a scikit-learn model has no layers to randomise: said before anything runs
        with pytest.raises(ExplainerError, match="has none to randomise"):
            compare(model, x, methods, sanity=True)
        assert compare_cost(model, x, methods, sanity=True, timed=False).sanity == {}
        return
    plan = compare_cost(model, x, methods, target, sanity=sanity, timed=False)
    out, counted = _counted(model, lambda: compare(model, x, methods, target, sanity=sanity))
    assert [e.method for e in out] == [*methods, "random"]
    made_on_copies = [e.extras["sanity"]["passes"] for e in out if "sanity" in e.extras]
    assert len(made_on_copies) == (len(methods) if sanity else 0)
    explained = (sum(e.n_forward for e in out), sum(e.n_backward for e in out))
    assert plan.measuring > 0 and plan.measuring % len(out) == 0
    assert (sum(f for f, _ in plan.explaining.values()), sum(b for _, b in plan.explaining.values())) == explained
    assert counted == (explained[0] + plan.measuring, explained[1])  # the model counts every pass made on it
    assert plan.sanity == ({e.method: tuple(e.extras["sanity"]["passes"]) for e in out if "sanity" in e.extras})
    assert (plan.n_forward, plan.n_backward) == (counted[0] + sum(p[0] for p in made_on_copies),
                                                 counted[1] + sum(p[1] for p in made_on_copies))


def test_the_shared_pass_is_counted_once_and_the_options_change_the_cost(models):
    model, x = models["image"], INPUTS["image"]
    plan = compare_cost(model, x, METHODS["image"], timed=False)
    assert plan.explaining["grad-cam"] == (1, 1) and plan.explaining["grad-cam++"] == (0, 0)
    with_pixels = compare_cost(model, x, METHODS["image"], faithfulness_options={"pixel_curves": True}, timed=False)
    per_map = (with_pixels.measuring - plan.measuring) // 5  # five maps: four methods and the random baseline
    assert per_map == 2 * (32 * 32 // 224 + 2)  # the two pixel curves at 224 pixels a step, each with its x = 0
    assert compare_cost(model, x, METHODS["image"], faithfulness=False, timed=False).measuring == 0
    timed = compare_cost(model, x, METHODS["image"])
    assert timed.seconds is not None and timed.seconds > 0
    assert timed.sentence("cpu").startswith(f"Estimated cost: {timed.n_forward:,} forward + {timed.n_backward:,} backward")


def test_a_data_dependent_estimate_is_an_upper_bound(models):
    # shap's permutation explainer skips the background rows a mask leaves equal to the row: fewer passes than
    # the estimate, which assumes every row differs
    model, x = models["tabular"], INPUTS["tabular"]
    methods = {"shap-permutation": {"permutations": 4}}
    plan = compare_cost(model, x, methods, faithfulness=False, timed=False)
    (e, _), counted = _counted(model, lambda: compare(model, x, methods, faithfulness=False))
    assert plan.explaining["shap-permutation"][0] >= e.n_forward > 0 and plan.n_forward >= counted[0]


def test_a_refused_method_costs_nothing_and_the_others_are_still_estimated(models):
    plan = compare_cost(models["image"], INPUTS["image"], {"saliency": {}, "occlusion": {"nope": 1}}, timed=False)
    assert plan.explaining["occlusion"] == (0, 0) and plan.explaining["saliency"] == (1, 1)


def test_unknown_or_wrong_options_are_refused_with_a_sentence():
    with pytest.raises(ExplainerError, match="take no option 'cells'"):
        figure_options("image", {"cells": 3})
    with pytest.raises(ExplainerError, match="'mask' is not one of delete, attention-mask"):
        figure_options("text", {"removal": "mask"})
    assert figure_options("text", None) == {"removal": "delete"}
    assert figure_options("image", {"fill": "blur"}) == {"fill": "blur", "pixel_curves": False}


def _maps(model, x, methods):
    return [explain(model, x, method=m, target=1, **p) for m, p in methods.items()]


def test_image_figures_of_several_maps_together_equal_each_alone_in_fuller_batches(models):
    model, x = models["image"], INPUTS["image"]
    maps = _maps(model, x, {"saliency": {}, "grad-cam": {}, "random": {}})
    calls = []
    handle = model.module.register_forward_hook(lambda *_: calls.append(1))
    try:
        alone, counted_alone = _counted(model, lambda: [image_faithfulness(model, x, e) for e in maps])
        n_alone = len(calls)
        together, counted_together = _counted(model, lambda: image_faithfulness_many(model, x, maps))
        n_together = len(calls) - n_alone
    finally:
        handle.remove()
    assert counted_alone == counted_together  # the same passes…
    batch = 8  # explainers.core.engine.CPU_BATCH_SIZE
    assert counted_together[0] == 3 * (2 * 49 + 2)  # per map: both region curves (14 × 14 cells, 4 a step) and AD/IC
    assert n_together == -(-counted_together[0] // batch) < n_alone  # …in full batches across the maps' boundaries
    for a, b in zip(alone, together):
        assert a.keys() == b.keys()
        for key in a:
            assert np.allclose(a[key], b[key], atol=1e-5), key


def test_road_noise_depends_on_the_step_not_on_the_batch(models):
    from explainers.metrics.image import road_impute

    x = torch.rand(1, 3, 8, 8)
    keep = (torch.rand(3, 1, 8, 8) > 0.5).float()
    whole = road_impute(x, keep, 0.5, seeds=[10, 11, 12])
    parts = torch.cat([road_impute(x, keep[:1], 0.5, seeds=[10]), road_impute(x, keep[1:], 0.5, seeds=[11, 12])])
    assert torch.equal(whole, parts)
    assert not torch.equal(whole[0], road_impute(x, keep[:1], 0.5, seeds=[11])[0])


@pytest.mark.parametrize("removal", ["delete", "attention-mask"])
def test_text_figures_of_several_maps_together_equal_each_alone(models, removal):
    model, x = models["text"], INPUTS["text"]
    maps = _maps(model, x, {"occlusion": {}, "saliency": {}, "random": {}})
    maps.append(explain(model, x, method="occlusion", target=0))  # another class: measured in its own call
    alone, counted_alone = _counted(model, lambda: [text_faithfulness(model, x, e, removal=removal) for e in maps])
    together, counted_together = _counted(model, lambda: text_faithfulness_many(model, x, maps, removal=removal))
    assert counted_alone == counted_together
    for a, b in zip(alone, together):
        assert a.keys() == b.keys() and a["removal"] == removal
        for key in ("comprehensiveness", "sufficiency", "aopc_comprehensiveness", "aopc_sufficiency", "probability"):
            assert np.allclose(a[key], b[key], atol=1e-6), key


@pytest.mark.parametrize("modality", ["image", "text", "generation", "tabular"])
def test_faithfulness_many_fills_each_explanation_as_faithfulness_does(models, modality):
    model, x = models[modality], INPUTS[modality]
    target = " w5" if modality == "generation" else None
    maps = [explain(model, x, method=m, target=target, **p) for m, p in METHODS[modality].items()]
    found = faithfulness_many(model, x, maps)
    assert [e.faithfulness for e in maps] == found
    for e, figures in zip(maps, found):
        one = explain(model, x, method=e.method, target=target, **e.params)
        for key, value in faithfulness(model, x, one).items():
            assert value == figures[key] if isinstance(value, str) else np.allclose(value, figures[key], atol=1e-5,
                                                                                    equal_nan=True), key


def test_the_table_highlights_every_best_value_and_none_when_a_figure_does_not_separate_the_methods():
    from explainers.core.compare import best

    rows = [{"method": "a", "srg": 0.2, "morf_auc": 0.3, "increase": 0.0, "gap": float("nan")},
            {"method": "b", "srg": 0.2, "morf_auc": 0.1, "increase": 0.0, "gap": 1.0},
            {"method": "random", "srg": 0.0, "morf_auc": 0.5, "increase": 0.0, "gap": 2.0}]
    better = {"srg": "higher", "morf_auc": "lower", "increase": "higher", "gap": "lower"}
    assert best(rows, better) == {"srg": {"a", "b"}, "morf_auc": {"b"}, "gap": {"b"}}


def test_the_figures_table_has_a_row_per_method_and_headers_with_unit_and_direction(models):
    from explainers.core.compare import figures_table

    model, x = models["image"], INPUTS["image"]
    out = compare(model, x, {"saliency": {}}, sanity=True)
    rows, better, headers = figures_table(out)
    assert [r["method"] for r in rows] == ["saliency", "random"] and next(iter(better)) == "srg"
    assert headers["average_drop"] == "average drop (%) — lower is better"
    assert rows[0]["sanity"] in ("passes", "FAILS") and "sanity" not in rows[1]
    assert rows[0]["srg"] == out[0].faithfulness["srg"]
