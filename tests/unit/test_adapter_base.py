"""One adapter base for every input kind, and no state left on a shared model by the methods that explain it."""

import gc
import typing

import numpy as np
import pytest
import torch

from explainers import ExplainerError, explain
from models import ModelAdapter, load_model
from models.locks import ModelLock, counting
from models.per_model import PerModel
from models.inputs.tables import load_dataset
from models.adapters.tabular import train_model
from tests.tiny_lm import tiny_lm
from tests.tiny_models import HeadedCNN, classifier, random_image
from tests.tiny_text import bag_model

TEXT = "a good film with a bad ending"
PROMPT = "w3 w9 w7 w4 w11 w12"


def _tabular(kind="linear", dataset="breast_cancer"):
    return train_model(load_dataset(dataset), kind, n_estimators=5)


def _image():
    torch.manual_seed(0)
    return classifier(HeadedCNN(n_classes=3), size=32, n_classes=3)


@pytest.fixture(scope="module")
def adapters():
    return {"image": _image(), "text": bag_model(), "generation": tiny_lm(), "tabular": _tabular()}


def _one_pass(model):
    """One input through the adapter's own forward (which counts it)."""
    if model.modality == "image":
        return model.forward(torch.zeros(1, 3, *model.input_size))
    if model.modality == "text":
        return model.forward(model.encode(TEXT).input_ids)
    if model.modality == "generation":
        return model.forward(torch.tensor([model.encode(PROMPT).prompt_ids]))
    return model.forward(torch.from_numpy(model.schema.encode(model.background.iloc[:1])))


def test_every_adapter_is_a_model_adapter_with_the_base_state(adapters):
    for modality, model in adapters.items():
        assert isinstance(model, ModelAdapter) and model.modality == modality
        assert type(model.lock) is ModelLock and isinstance(model.device, torch.device)
        assert model.device.type == "cpu" and "cpu" in model.device_description.lower()
        assert isinstance(model.labels, list)
    locks = {id(m.lock) for m in adapters.values()}
    assert len(locks) == len(adapters)  # each model its own lock
    assert adapters["generation"].labels == []
    assert typing.get_type_hints(load_model)["return"] is ModelAdapter


def test_every_adapter_counts_its_passes_in_its_totals_and_in_the_run(adapters):
    for model in adapters.values():
        before = (model.n_forward, model.n_backward)
        with counting() as run:
            _one_pass(model)
            model.count_backward(2)
        assert (run.n_forward, run.n_backward) == (1, 2), model.modality
        assert (model.n_forward - before[0], model.n_backward - before[1]) == (1, 2), model.modality


def test_a_pass_from_another_thread_waits_for_the_lock(adapters):
    """The base lock is the one every adapter's forward takes: held here, another thread's pass cannot run."""
    import threading

    for model in adapters.values():
        done = threading.Event()
        with model.lock:
            worker = threading.Thread(target=lambda m=model: (_one_pass(m), done.set()))
            worker.start()
            assert not done.wait(0.2), model.modality
        worker.join(30)
        assert done.is_set(), model.modality


def test_class_index_by_label_index_or_top_class(adapters):
    image, text, lm, table = adapters["image"], adapters["text"], adapters["generation"], adapters["tabular"]
    for model, x in ((image, random_image(32)), (text, TEXT), (table, table.background.iloc[:1])):
        assert model.class_index(model.labels[-1]) == len(model.labels) - 1
        assert model.class_index(0) == 0
        top = model.class_index(None, x)
        assert top == int(np.argmax(model.predict(x).probs))
        with pytest.raises(ExplainerError, match="No target class given"):
            model.class_index(None)
        with pytest.raises(ExplainerError, match="out of range"):
            model.class_index(len(model.labels))
        with pytest.raises(ExplainerError, match="not one of the model's classes"):
            model.class_index("no such class")
    assert lm.class_index(" w5") == " w5" and lm.class_index([5]) == [5]  # a continuation, taken as given


def test_fresh_copy_has_its_own_lock_and_counts_and_no_cached_values():
    model = _image()
    _one_pass(model)
    clone = model.fresh_copy()
    assert clone.lock is not model.lock and (clone.n_forward, clone.n_backward) == (0, 0)
    assert clone.module is model.module and clone.labels == model.labels
    _one_pass(clone)
    assert (model.n_forward, clone.n_forward) == (1, 1)
    store, calls = PerModel(), []
    assert store.get(model, "k", lambda: calls.append(1) or "a") == "a"
    assert store.get(model, "k", lambda: calls.append(1) or "b") == "a"
    assert store.get(clone, "k", lambda: calls.append(1) or "c") == "c"
    assert len(calls) == 2
    from types import SimpleNamespace  # takes no weak reference: computed every time, never kept

    stand_in = SimpleNamespace()
    assert [store.get(stand_in, "k", lambda: calls.append(1) or "d") for _ in range(2)] == ["d", "d"]
    assert len(calls) == 4 and len(store) == 2


def test_a_model_that_is_gone_leaves_nothing_in_the_per_model_stores():
    from explainers.concepts.model_split import _PROBED, ModelSplit
    from models.adapters.image import _LAYER_SHAPES

    shapes, probed = len(_LAYER_SHAPES), len(_PROBED)
    model = _image()
    model.layer_output_shape("features.0")
    assert ModelSplit(model, "features.0").activation_shape == (8, 32, 32)
    assert (len(_LAYER_SHAPES), len(_PROBED)) == (shapes + 1, probed + 1)
    del model
    gc.collect()
    assert (len(_LAYER_SHAPES), len(_PROBED)) == (shapes, probed)


def _state(model) -> dict:
    """The attribute names of the adapter and of every submodule (or the estimator) it holds."""
    state = {"adapter": set(vars(model))}
    module = getattr(model, "module", None)
    if module is not None:
        state.update({f"module.{name}": set(vars(m)) for name, m in module.named_modules()})
    if hasattr(model, "estimator"):
        state["estimator"] = set(vars(model.estimator))
        state.update({f"estimator.{name}": set(vars(step)) for name, step in getattr(model.estimator, "steps", [])})
    return state


RUNS = {
    "image": [
        ("grad-cam", {"target": 0}),
        ("score-cam", {"target": 0, "batch_size": 4}),
        ("integrated-gradients", {"target": 0, "n_steps": 4}),
        ("occlusion", {"target": 0}),
    ],
    "text": [("occlusion", {"target": 1}), ("integrated-gradients", {"target": 0, "n_steps": 4})],
    "generation": [("occlusion", {"target": " w5"}), ("gradient-x-input", {"target": " w5"})],
}


@pytest.mark.parametrize("modality", list(RUNS))
def test_explaining_leaves_no_new_attribute_on_the_model(modality):
    model = {"image": _image, "text": bag_model, "generation": tiny_lm}[modality]()
    x = {"image": random_image(32), "text": TEXT, "generation": PROMPT}[modality]
    before = _state(model)
    for method, params in RUNS[modality]:
        explain(model, x, method=method, **params)
    if modality == "image":
        model.layer_output_shape()
        explain(model, [random_image(32, seed=s) for s in range(2)], method="craft", layer="features.0",
                n_concepts=2, patch_size=16, nb_design=4, seed=0, extractor="pca")
    assert _state(model) == before


def test_tabular_explainers_leave_no_new_attribute_on_the_model():
    linear, forest = _tabular("linear"), _tabular("random-forest")
    row = linear.background.iloc[:1]
    before = {"linear": _state(linear), "forest": _state(forest)}
    explain(linear, row, method="shap-linear")
    explain(linear, row, method="shap-kernel", background=8, nsamples=100)
    explain(forest, row, method="shap-tree")
    assert {"linear": _state(linear), "forest": _state(forest)} == before
