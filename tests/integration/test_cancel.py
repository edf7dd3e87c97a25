"""Cancelling any long method: it stops, frees what it held (hooks, the model's lock, tensors) and
leaves the model usable: the next explanation equals one computed before the cancel."""

import gc
import threading
import warnings

import numpy as np
import pytest
import torch

from explainers import explain, get_method, list_explainers
from explainers.core.engine import Cancelled
from tests.integration.test_memory import no_hooks
from tests.tiny_lm import tiny_llama, tiny_lm
from tests.tiny_models import HeadedCNN, classifier, random_image
from tests.tiny_text import tiny_bert
from tests.unit.test_neuron_path import small_timm_vit

LONG = 8  # passes (forward + backward): a method the page shows with progress and Cancel
PROMPT = "w3 w9 w7 w4 w11 w12"


def _image():
    model = classifier(HeadedCNN(n_classes=3), size=64, n_classes=3)  # CRAFT's default patches are 64 px
    return model, random_image(64, seed=1)


def _table():
    from models.inputs.tables import load_dataset
    from models.adapters.tabular import train_model

    model = train_model(load_dataset("wine"), "random-forest", n_estimators=10)
    return model, model.held_out[0].iloc[0]


def _cases():
    torch.manual_seed(0)
    models = {
        "image": _image(),
        "text": (tiny_bert()[0], "the food was awful and the service was slow"),
        "generation": (tiny_lm(), PROMPT),
        "tabular": _table(),
    }
    others = {  # models the main ones' methods do not apply to: a ViT's neuron path, an LM's decodable MLP neurons
        "image": (small_timm_vit(), random_image(16, seed=1)),
        "generation": (tiny_llama(), PROMPT),
    }
    for modality, main in models.items():
        for method in list_explainers(modality):
            spec = get_method(method, modality)
            fits = [case for case in (main, others.get(modality)) if case is not None and spec.applies_to(case[0])]
            if not fits:  # shap-linear on a forest: short methods of other models (linear), not run here
                continue
            model, x = fits[0]
            forward, backward = spec.estimate(spec.resolve_params({}), model)
            if forward + backward >= LONG and spec.family != "global":
                yield pytest.param(model, [x] if spec.many else x, method, id=f"{modality}:{method}")


def _live_tensors() -> int:
    gc.collect()
    with warnings.catch_warnings():  # isinstance on torch.distributed's deprecated reduce_op warns
        warnings.simplefilter("ignore", FutureWarning)
        return sum(1 for o in gc.get_objects() if isinstance(o, torch.Tensor))


def _lock_is_free(model) -> bool:
    got = []

    def try_lock():  # from another thread, as another session would
        got.append(model.lock.acquire(blocking=False))
        if got[0]:
            model.lock.release()

    t = threading.Thread(target=try_lock)
    t.start()
    t.join()
    return got[0]


@pytest.mark.parametrize("model, x, method", list(_cases()))
def test_cancel_frees_and_leaves_the_model_usable(model, x, method):
    target = " w5" if model.modality == "generation" else None
    reports = []
    before = explain(model, x, method=method, target=target, progress=lambda *a: reports.append(a))  # warms up too
    tensors = _live_tensors()
    cancel = threading.Event()
    # a report per batch, and the run's end said once more as (total, total): the batches are the reports before it
    if len([r for r in reports if r[0] < r[1]]) < 2:  # one batch in all: Cancel can only stop it before it starts
        cancel.set()
    with pytest.raises(Cancelled):  # else Cancel is pressed at the first progress report, mid-run
        explain(model, x, method=method, target=target, cancel=cancel, progress=lambda done, total: cancel.set())
    assert not isinstance(getattr(model, "module", None), torch.nn.Module) or no_hooks(model.module)
    assert _lock_is_free(model)
    assert _live_tensors() <= tensors + 2, "the cancelled run left tensors behind"
    after = explain(model, x, method=method, target=target)
    np.testing.assert_array_equal(after.scores, before.scores)
