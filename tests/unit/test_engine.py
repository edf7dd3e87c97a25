"""The one perturbation engine: batching, progress, cancellation, out-of-memory halving."""

import threading

import numpy as np
import pytest
import torch

from explainers import explain
from explainers.core.engine import CPU_BATCH_SIZE, Cancelled, batched_logits, default_batch_size, run_control
from models.errors import ExplainerError
from tests.tiny_models import OutOfMemoryAbove, SmallCNN, classifier, random_image, small_cnn


@pytest.fixture
def model():
    return small_cnn()


@pytest.fixture
def inputs():
    torch.manual_seed(1)
    return torch.randn(10, 3, 16, 16)


def test_batches_give_the_logits_of_one_big_batch(model, inputs):
    with torch.inference_mode():
        expected = model.module(inputs)
    for size in (1, 3, 4, 10, 64):
        got = batched_logits(model, len(inputs), lambda i, j: inputs[i:j], batch_size=size)
        assert got.dtype == torch.float32 and got.shape == (10, 5)
        torch.testing.assert_close(got, expected, rtol=1e-5, atol=1e-6)


def test_every_input_is_counted_once(model, inputs):
    before = model.n_forward
    batched_logits(model, len(inputs), lambda i, j: inputs[i:j], batch_size=3)
    assert model.n_forward - before == 10


def test_make_batch_sees_consecutive_ranges(model, inputs):
    ranges = []

    def make(i, j):
        ranges.append((i, j))
        return inputs[i:j]

    batched_logits(model, 10, make, batch_size=4)
    assert ranges == [(0, 4), (4, 8), (8, 10)]


def test_cpu_default_batch_size(model):
    assert default_batch_size(model, 1000) == CPU_BATCH_SIZE
    assert default_batch_size(model, 5) == 5


def test_autocast_is_ignored_on_cpu(model, inputs):
    got = batched_logits(model, 10, lambda i, j: inputs[i:j], autocast=True)
    with torch.inference_mode():
        torch.testing.assert_close(got, model.module(inputs))


def test_progress_reports_increasing_done_up_to_total(model, inputs):
    calls = []
    with run_control(progress=lambda done, total: calls.append((done, total))):
        batched_logits(model, 10, lambda i, j: inputs[i:j], batch_size=3)
    assert calls == [(3, 10), (6, 10), (9, 10), (10, 10)]


def test_progress_adds_up_over_several_engine_calls(model, inputs):
    calls = []
    with run_control(progress=lambda done, total: calls.append((done, total))):
        batched_logits(model, 4, lambda i, j: inputs[i:j], batch_size=4)
        batched_logits(model, 6, lambda i, j: inputs[i:j], batch_size=4)
    dones = [d for d, _ in calls]
    assert dones == sorted(dones) and calls[-1] == (10, 10)


def test_no_progress_outside_a_run_control(model, inputs):
    assert batched_logits(model, 10, lambda i, j: inputs[i:j]).shape == (10, 5)


def test_cancel_stops_after_the_current_batch(model, inputs):
    cancel = threading.Event()
    made = []

    def make(i, j):
        made.append((i, j))
        return inputs[i:j]

    before = model.n_forward
    with run_control(progress=lambda done, total: cancel.set(), cancel=cancel):
        with pytest.raises(Cancelled) as info:
            batched_logits(model, 10, make, batch_size=3)
    assert made == [(0, 3)] and model.n_forward - before == 3  # one batch ran, none after the cancel
    assert str(info.value) == "Cancelled by the user."
    assert isinstance(info.value, ExplainerError)  # pages show it like any other sentence


def test_cancel_set_before_the_run_runs_nothing(model, inputs):
    cancel = threading.Event()
    cancel.set()
    before = model.n_forward
    with run_control(cancel=cancel), pytest.raises(Cancelled):
        batched_logits(model, 10, lambda i, j: inputs[i:j])
    assert model.n_forward == before


@pytest.mark.parametrize(
    "error",
    [
        torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB"),
        RuntimeError("[enforce fail at alloc_cpu.cpp:117] DefaultCPUAllocator: can't allocate memory: 8 GB"),
    ],
    ids=["cuda", "cpu"],
)
def test_out_of_memory_halves_the_batch_and_retries(inputs, error):
    torch.manual_seed(0)
    inner = SmallCNN()
    flaky = OutOfMemoryAbove(inner, limit=2, error=error)
    model = classifier(flaky, size=16, n_classes=5)
    flaky.sizes.clear()
    got = batched_logits(model, 10, lambda i, j: inputs[i:j], batch_size=8)
    with torch.inference_mode():
        torch.testing.assert_close(got, inner(inputs))
    assert flaky.sizes[:3] == [8, 4, 2]  # halved twice, then kept at 2
    assert set(flaky.sizes[3:]) == {2}


def test_out_of_memory_on_a_single_input_is_a_clear_error(inputs):
    flaky = OutOfMemoryAbove(SmallCNN(), limit=1, error=torch.cuda.OutOfMemoryError("CUDA out of memory"))
    model = classifier(flaky, size=16, n_classes=5)
    flaky.limit = 0
    with pytest.raises(ExplainerError, match="Not enough memory"):
        batched_logits(model, 4, lambda i, j: inputs[i:j], batch_size=4)


def test_other_runtime_errors_are_not_retried(inputs):
    flaky = OutOfMemoryAbove(SmallCNN(), limit=1, error=RuntimeError("shape mismatch"))
    model = classifier(flaky, size=16, n_classes=5)
    flaky.limit, flaky.sizes = 0, []
    with pytest.raises(RuntimeError, match="shape mismatch"):
        batched_logits(model, 4, lambda i, j: inputs[i:j], batch_size=4)
    assert flaky.sizes == [4]


def test_nothing_to_evaluate_is_an_error(model):
    with pytest.raises(ExplainerError):
        batched_logits(model, 0, lambda i, j: None)


def test_explain_routes_progress_and_cancel_without_recording_them():
    model = small_cnn(size=32)
    image = random_image(32)
    calls = []
    e = explain(model, image, "rise", n_masks=40, grid=4, progress=lambda d, t: calls.append((d, t)))
    assert calls[-1] == (41, 41) and e.n_forward == 41
    assert "progress" not in e.params and "cancel" not in e.params
    cancel = threading.Event()
    cancel.set()
    with pytest.raises(Cancelled):
        explain(model, image, "rise", n_masks=40, grid=4, cancel=cancel)
    np.testing.assert_array_equal(e.scores, explain(model, image, "rise", n_masks=40, grid=4).scores)


def test_shap_reports_one_stable_total_over_its_many_engine_calls():
    from tests.tiny_models import RegionScore

    model = classifier(RegionScore((slice(0, 8), slice(0, 8))), 32)
    calls = []
    e = explain(model, random_image(32), "shap", max_evals=40, blur=8, progress=lambda d, t: calls.append((d, t)))
    assert {t for _, t in calls} == {40} and calls[-1] == (40, 40) and e.n_forward == 40
    assert [d for d, _ in calls] == sorted(d for d, _ in calls)
