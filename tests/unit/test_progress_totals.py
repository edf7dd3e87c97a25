"""Progress totals never grow: every registered method reports ``(done, total)`` with ``total`` known before the run
(its cost function: what the estimate shown before Run reads), ``done`` never going back and ending at ``total``.

The issue saw integrated gradients' total grow 353 → 513 → 833 (Captum's batches were counted as they came, and
the total followed them); ReAGent's ran ~5× past its typical estimate. Every method runs here on a tiny model of
its modality, and each report its progress callback receives is recorded.
"""

import pytest

from explainers import explain, get_method, list_explainers, list_modalities
from explainers.core.cost import estimate_passes
from explainers.core.engine import batched_logits, begin_part, finish, report_progress, run_control
from explainers.core.modality import input_sizes
from models.adapters.tabular import train_model
from models.inputs.tables import load_dataset
from explainers.neurons.neuron_path import is_vit
from tests.tiny_lm import tiny_llama, tiny_lm
from tests.tiny_models import HeadedCNN, classifier, random_image, small_cnn
from tests.tiny_text import bag_model, tiny_bert
from tests.unit.test_neuron_path import small_timm_vit

TEXT = "The food was awful but the staff were lovely."
# a few methods' defaults are sized for real models: smaller here, the same code paths
SMALLER = {("image", "sobol"): {"nb_design": 8}, ("tabular", "shap-permutation"): {"permutations": 2},
           ("image", "craft"): {"n_concepts": 3, "patch_size": 16, "nb_design": 8}}


@pytest.fixture(scope="module")
def cases():
    iris = load_dataset("iris")
    forest = train_model(iris, "random-forest", n_estimators=10)
    linear = train_model(iris, "linear")
    row = iris.features.iloc[0].to_dict()
    bert, _ = tiny_bert()
    headed = classifier(HeadedCNN(n_classes=3), 32, n_classes=3)
    images = [random_image(32, seed=s) for s in range(6)]
    out = {}
    for modality in list_modalities():
        for method in list_explainers(modality):
            spec = get_method(method, modality)
            if modality == "image" and spec.requires is is_vit:  # neuron-path: a vision transformer's FFN neurons
                model, x = small_timm_vit(), random_image(16)
            elif modality == "image":
                model, x = (headed, images) if spec.many else (small_cnn(size=32), random_image(32))
            elif modality == "text":
                model, x = (bert if spec.family == "attention" else bag_model()), TEXT
            elif modality == "generation":
                # lm-neurons decodes MLP neurons: a model with MLP blocks and an LM head (the key-token LM has none)
                model, x = (tiny_llama() if method == "lm-neurons" else tiny_lm()), "w3 w7 w4"
            else:
                model = linear if method == "shap-linear" else forest
                x = iris.features.iloc[:20] if spec.family == "global" else row
            out[(modality, method)] = (model, x)
    return out


def _all_methods():
    return [(m, method) for m in list_modalities() for method in list_explainers(m)]


@pytest.mark.parametrize("modality, method", _all_methods())
def test_every_method_reports_one_fixed_total_done_never_back_ending_at_it(cases, modality, method):
    model, x = cases[(modality, method)]
    spec = get_method(method, modality)
    assert spec.applies_to(model)
    params = SMALLER.get((modality, method), {})
    target = " w5" if modality == "generation" else None
    # the total is the estimate shown before Run (forward passes of the method's cost function), as it is before
    # the run: ReAGent's then learns from the run (its typical steps per probe)
    resolved = spec.resolve_params(params)
    if spec.many:
        expected = sum(estimate_passes(model, method, resolved, **input_sizes(model, one, target))[0] for one in x)
    else:
        expected = estimate_passes(model, method, resolved, **input_sizes(model, x, target))[0]
    calls = []
    e = explain(model, x, method=method, target=target, progress=lambda d, t: calls.append((d, t)), **params)
    assert calls, f"{method} reported no progress"
    totals = {t for _, t in calls}
    assert len(totals) == 1, f"{method}'s total changed: {sorted(totals)}"
    total = totals.pop()
    dones = [d for d, _ in calls]
    assert dones == sorted(dones), f"{method}'s progress went back: {dones}"
    assert dones[-1] == total and dones.count(total) == 1, f"{method} ended at {calls[-1]}"
    assert total == max(1, expected)
    assert e.n_forward >= 0


@pytest.mark.parametrize("method", ["shap-tree", "shap-kernel", "shap-permutation"])
def test_a_global_table_run_has_the_per_row_cost_times_its_rows_as_its_total(cases, method):
    from explainers.tabular.shap_methods import explain_global

    model, _ = cases[("tabular", method)]
    params = SMALLER.get(("tabular", method), {})
    calls = []
    explain_global(model, method=method, rows=6, progress=lambda d, t: calls.append((d, t)), **params)
    per_row = estimate_passes(model, method, get_method(method, "tabular").resolve_params(params))[0]
    assert {t for _, t in calls} == {6 * per_row}
    dones = [d for d, _ in calls]
    assert dones == sorted(dones) and dones[-1] == 6 * per_row


def test_a_run_longer_than_its_total_waits_short_of_the_end_and_one_shorter_jumps_to_it():
    model = small_cnn(size=16)
    inputs = [random_image(16)]
    import torch

    batch = torch.zeros(8, 3, 16, 16)
    calls = []
    with run_control(progress=lambda d, t: calls.append((d, t)), total=10):
        batched_logits(model, 8, lambda i, j: batch[i:j], batch_size=4)
        batched_logits(model, 8, lambda i, j: batch[i:j], batch_size=4)  # 16 passes: more than announced
        finish()
    assert calls == [(4, 10), (8, 10), (9, 10), (10, 10)]
    calls.clear()
    with run_control(progress=lambda d, t: calls.append((d, t)), total=100):
        batched_logits(model, 8, lambda i, j: batch[i:j], batch_size=8)
        finish()
    assert calls == [(8, 100), (100, 100)]
    assert inputs  # (the images are not read: the batches are made here)


def test_parts_fill_their_share_whatever_their_passes():
    import torch

    model = small_cnn(size=16)
    batch = torch.zeros(64, 3, 16, 16)
    calls = []
    with run_control(progress=lambda d, t: calls.append((d, t)), total=40):
        for k, n in enumerate([64, 2]):  # the first part runs long, the second stops at once
            begin_part(k, 2)
            batched_logits(model, n, lambda i, j: batch[i:j], batch_size=16)
        report_progress(1, 2)  # a method's own units: half of the current part
        finish()
    # the first part (0-20) runs 64 passes and waits at 19; the second begins at 20, makes 2, and half of it (30)
    # is said by report_progress; the end by finish
    assert calls == [(16, 40), (19, 40), (20, 40), (22, 40), (30, 40), (40, 40)]


@pytest.mark.parametrize("modality, method", [("image", "saliency"), ("text", "occlusion"),
                                              ("generation", "occlusion"), ("tabular", "shap-tree")])
def test_the_faithfulness_figures_report_their_passes_as_one_fixed_total(cases, modality, method):
    from explainers import faithfulness
    from explainers.core.modality import faithfulness_passes, get_modality

    model, x = cases[(modality, method)]
    target = " w5" if modality == "generation" else None
    e = explain(model, x, method=method, target=target)
    calls = []
    figures = faithfulness(model, x, e, progress=lambda d, t: calls.append((d, t)))
    assert figures and figures is e.faithfulness
    total = faithfulness_passes(model, x, get_modality(modality).explained_target(e))
    assert {t for _, t in calls} == {max(1, total)}
    dones = [d for d, _ in calls]
    assert dones == sorted(dones) and dones[-1] == max(1, total) and dones.count(dones[-1]) == 1
