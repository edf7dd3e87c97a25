"""The run budget (explainers/core/budget.py): parameter maxima and peak-memory estimates, checked before a run allocates.

Every registered method is covered by looping over the registry, so a new method (or a new numeric
parameter) is checked without touching this file.
"""

import re
import resource
import tracemalloc
import weakref

import numpy as np
import psutil
import pytest
import torch
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_flatten

from explainers import ExplainerError, explain, get_method, list_explainers
from explainers.core.budget import ENV_VAR, check_run, run_budget
from tests.tiny_lm import tiny_lm
from tests.tiny_models import random_image, small_cnn
from tests.tiny_text import bag_model

MODALITIES = ("image", "text", "generation", "tabular")
RSS_GROWTH_LIMIT = 300 * 2**20


def numeric(value) -> bool:
    return isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool)


def specs():
    return [get_method(m, modality) for modality in MODALITIES for m in list_explainers(modality)]


def test_every_numeric_parameter_has_a_maximum_and_its_default_lies_within():
    for spec in specs():
        for name, default in spec.defaults.items():
            if numeric(default):
                assert name in spec.limits, f"{spec.modality} {spec.id}: {name} has no maximum"
        for name, (low, high) in spec.limits.items():
            assert high is not None, f"{spec.id}: {name}"
            default = spec.defaults[name]
            if default is not None:
                assert (low is None or low <= default) and default <= high, (spec.id, name, default, low, high)


@pytest.fixture(scope="module")
def tabular_model():
    from models.inputs.tables import load_dataset
    from models.adapters.tabular import train_model

    return train_model(load_dataset("iris"), "linear")


def test_ten_times_each_maximum_is_refused_with_a_sentence_naming_it(cnn, chelsea, tabular_model):
    inputs = {
        "image": (cnn, chelsea),
        "text": (bag_model(), "a fine and happy day"),
        "generation": (tiny_lm(), "a b c d"),
        "tabular": (tabular_model, tabular_model.held_out[0].iloc[0]),
    }
    process = psutil.Process()
    rss_before = process.memory_info().rss
    peak_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    refused = 0
    for spec in specs():
        model, x = inputs[spec.modality]
        data = [x] if spec.many else x
        for name, (_low, high) in spec.limits.items():
            value = type(high)(high * 10)
            with pytest.raises(ExplainerError) as caught:
                explain(model, data, spec.id, **{name: value})
            message = str(caught.value)
            maximum = f"{int(high):,}" if float(high).is_integer() else f"{high:g}"
            assert f"maximum, {maximum}." in message and name in message and spec.id in message, message
            refused += 1
    rss_after = process.memory_info().rss
    peak_after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    assert refused >= 60  # every modality's methods were reached (about 70 parameters today)
    assert rss_after - rss_before < RSS_GROWTH_LIMIT, (rss_before, rss_after)
    assert peak_after - max(peak_before, rss_before) < RSS_GROWTH_LIMIT, (peak_before, peak_after)


def test_a_run_over_the_budget_names_the_largest_value_and_that_value_runs(cnn, chelsea, monkeypatch):
    spec = get_method("gradient-shap", "image")
    per_sample = spec.estimate_memory({"n_samples": 2}, cnn) - spec.estimate_memory({"n_samples": 1}, cnn)
    budget_mb = spec.estimate_memory({"n_samples": 3}, cnn) / 2**20 + 0.5 * per_sample / 2**20  # 3 fit, 4 do not
    monkeypatch.setenv(ENV_VAR, f"{budget_mb:.3f}")
    assert run_budget() == int(float(f"{budget_mb:.3f}") * 2**20)
    with pytest.raises(ExplainerError) as caught:
        explain(cnn, chelsea, "gradient-shap", n_samples=32)
    message = str(caught.value)
    assert re.search(r"gradient-shap with n_samples 32 would need about [\d.]+ [GM]B; the run budget is", message)
    assert message.endswith("use n_samples 3 or less."), message
    e = explain(cnn, chelsea, "gradient-shap", n_samples=3)
    assert e.n_backward == 3
    with pytest.raises(ExplainerError, match="use n_samples 3 or less"):
        explain(cnn, chelsea, "gradient-shap", n_samples=4)


def test_largest_value_respects_the_methods_own_rules(monkeypatch):
    """Sobol's nb_design must be a power of two: the value offered is one, and it fits."""
    model = small_cnn(size=32)
    spec = get_method("sobol", "image")
    params = spec.resolve_params({"grid_size": 16, "nb_design": 256})
    budget = (spec.estimate_memory({"grid_size": 16, "nb_design": 32}, model)
              + spec.estimate_memory({"grid_size": 16, "nb_design": 64}, model)) // 2
    monkeypatch.setenv(ENV_VAR, str(budget / 2**20))
    with pytest.raises(ExplainerError) as caught:
        check_run(spec, model, params, random_image(32))
    offered = int(re.search(r"use (\w+) ([\d,]+) or less", str(caught.value)).group(2).replace(",", ""))
    name = re.search(r"use (\w+) ", str(caught.value)).group(1)
    assert name in ("nb_design", "grid_size")
    if name == "nb_design":
        assert offered == 32
    assert check_run(spec, model, {**params, name: offered}, random_image(32)) <= budget


def test_an_input_too_large_for_any_parameter_is_refused_as_such(monkeypatch):
    model = tiny_lm()
    monkeypatch.setenv(ENV_VAR, "0.001")
    with pytest.raises(ExplainerError, match="use a smaller input"):
        explain(model, "a b c d " * 50, "gradient-x-input", target="e f g h " * 50)


def test_the_budget_is_capped_by_available_memory(monkeypatch):
    monkeypatch.setenv(ENV_VAR, str(10**9))  # a petabyte
    assert run_budget() <= psutil.virtual_memory().total


# ---------------------------------------------------------------- estimates against measured peaks


class LiveTensorBytes(TorchDispatchMode):
    """The peak bytes of live CPU tensor storages made by torch operators while the mode is on."""

    def __init__(self):
        super().__init__()
        self.refs, self.size, self.live, self.peak = {}, {}, 0, 0

    def _drop(self, key):
        self.refs[key] -= 1
        if self.refs[key] == 0:
            del self.refs[key]
            self.live -= self.size.pop(key)

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        for t in tree_flatten(out)[0]:
            if isinstance(t, torch.Tensor) and t.device.type == "cpu" and t.untyped_storage().data_ptr():
                key = t.untyped_storage().data_ptr()
                if key not in self.refs:
                    self.refs[key], self.size[key] = 0, t.untyped_storage().nbytes()
                    self.live += self.size[key]
                    self.peak = max(self.peak, self.live)
                self.refs[key] += 1
                weakref.finalize(t, self._drop, key)
        return out


def measured_peak(run) -> int:
    """Torch's peak live tensor bytes plus numpy's (and Python's) peak traced allocations during ``run()``."""
    tracemalloc.start()
    try:
        with LiveTensorBytes() as mode:
            run()
        _, python_peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return mode.peak + python_peak


REVIEW_TEXT = "the film was a quiet delight from start to end and nobody left early " * 3


@pytest.mark.parametrize(
    "modality, method, params",
    [
        ("image", "rise", {"n_masks": 300, "grid": 16}),
        ("image", "integrated-gradients", {"n_steps": 32, "batch_size": 16}),
        ("image", "smoothgrad", {"n_samples": 16, "batch_size": 16}),
        ("image", "sobol", {"grid_size": 8, "nb_design": 8}),
        ("text", "integrated-gradients", {"n_steps": 32, "batch_size": 16}),
        ("text", "occlusion", {}),
        ("text", "lime", {"n_samples": 200}),
    ],
)
def test_memory_estimate_is_above_the_measured_peak_and_within_four_times_it(modality, method, params):
    from tests.tiny_text import tiny_bert

    if modality == "image":
        model, x, sizes = small_cnn(size=64), random_image(64), {}
    else:
        model, x = tiny_bert()[0], REVIEW_TEXT
        sizes = {"n_tokens": len(model.encode(x).content)}
    estimate = get_method(method, modality).estimate_memory(params, model, **sizes)
    explain(model, x, method, **params)  # first use: lazy imports and caches are not the run's
    measured = measured_peak(lambda: explain(model, x, method, **params))
    assert measured <= estimate <= 4 * measured, (estimate, measured)


# ---------------------------------------------------------------- the runs the issue reported


@pytest.mark.parametrize(
    "method, params, maximum",
    [
        ("integrated-gradients", {"n_steps": 512, "batch_size": 512}, "batch_size 512 is above its maximum, 32."),
        ("rise", {"grid": 224, "n_masks": 4000}, "grid 224 is above its maximum, 64."),
        ("sobol", {"grid_size": 40}, "grid_size 40 is above its maximum, 32."),
    ],
)
def test_the_reported_runs_are_refused_before_they_allocate(method, params, maximum):
    model = small_cnn(size=32)
    with pytest.raises(ExplainerError, match=re.escape(maximum)):
        explain(model, random_image(32), method, **params)


def test_a_long_target_with_attention_is_refused_by_its_estimate(monkeypatch):
    """layers × heads × L² floats: the estimate grows with the square of the target's length."""
    from types import SimpleNamespace

    model = tiny_lm()
    sizes = {"num_hidden_layers": 30, "num_attention_heads": 9}  # SmolLM2's
    model.module.config = SimpleNamespace(**{**vars(model.module.config), **sizes})
    spec = get_method("attention", "generation")
    short = spec.estimate_memory({}, model, n_prompt=8, n_target=30)
    long = spec.estimate_memory({}, model, n_prompt=8, n_target=3000)
    assert long >= 30 * 9 * 3008**2 * 4 > 100 * short
    # a 3,000-token target is refused by the continuation limit before any estimate (test_input_budgets.py);
    # within that limit, the estimate refuses a long target when the budget is small
    within = spec.estimate_memory({}, model, n_prompt=8, n_target=120)
    monkeypatch.setenv(ENV_VAR, str(within / 2**20 / 2))
    with pytest.raises(ExplainerError, match="would need about .* use a smaller input"):
        check_run(spec, model, spec.resolve_params({}), "w1 w2 w3 w4 w5 w6 w7 w8", " ".join(["w3"] * 120))


# ---------------------------------------------------------------- bounded allocations, same results


def test_rise_cells_drawn_in_chunks_are_the_single_draw():
    from explainers.image.perturbation import RISE_DRAW, rise_masks

    n, grid, p, seed = RISE_DRAW * 2 + 7, 5, 0.4, 3
    masks = rise_masks(n, grid, p, (20, 20), seed, "cpu")
    rng = np.random.default_rng(seed)
    cells = torch.from_numpy(rng.random((n, grid, grid)) < p).float()  # the draw as it was made before
    cell = 4  # ceil(20 / 5)
    shifts = rng.integers(0, [cell, cell], size=(n, 2))
    for k in (0, RISE_DRAW - 1, RISE_DRAW, n - 1):
        up = torch.nn.functional.interpolate(cells[k][None, None], size=((grid + 1) * cell,) * 2, mode="bilinear",
                                             align_corners=False)[0, 0]
        dy, dx = shifts[k]
        torch.testing.assert_close(masks(k, k + 1)[0], up[dy:dy + 20, dx:dx + 20], atol=1e-5, rtol=0)


def test_sobol_design_rows_are_the_stacked_design_by_definition():
    from explainers.core import sobol

    dim, n = 5, 8
    a, b = sobol.design_matrices(dim, n, seed=2)
    by_definition = [a, b] + [np.where(np.arange(dim) == i, b, a) for i in range(dim)]  # A_B^(i): column i from B
    expected = np.concatenate(by_definition)
    np.testing.assert_array_equal(sobol.design(dim, n, seed=2), expected)
    np.testing.assert_array_equal(sobol.design_rows(a, b, 11, 29), expected[11:29])
