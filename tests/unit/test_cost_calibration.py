"""Cost estimates follow the runs and go stale (issue 14, finding 5): the probe's pass times are scaled by
what recent runs measured (median, so one odd run moves nothing) and measured again once old.
Deterministic: the probe, the runtimes and the clock are injected; nothing sleeps."""

import gc
import weakref

import pytest

from explainers import explain

from explainers.core import cost
from tests.tiny_models import random_image, small_cnn


@pytest.fixture
def probe(monkeypatch):
    """A fake probe (10 ms forward, 20 ms backward) that counts its calls, and a clock the test moves."""
    calls = []
    now = [1000.0]
    monkeypatch.setattr(cost, "_measure", lambda model: calls.append(model.name) or (0.01, 0.02))
    monkeypatch.setattr(cost, "clock", lambda: now[0])
    return calls, now


def test_runs_move_the_estimate_toward_what_they_measured_and_one_outlier_moves_nothing(probe):
    calls, _ = probe
    model = small_cnn(16)
    assert cost.pass_times(model) == (0.01, 0.02)
    assert cost.estimate(model, "rise", {"n_masks": 99})[2] == pytest.approx(1.0)  # 100 passes × 10 ms
    for _ in range(3):  # runs under load: 100 forward passes in 3 s, 3× the probe's pace
        cost.record_run(model, 100, 0, 3.0)
    assert cost.pass_times(model) == pytest.approx((0.03, 0.06))
    assert cost.estimate(model, "rise", {"n_masks": 99})[2] == pytest.approx(3.0)
    cost.record_run(model, 100, 0, 300.0)  # one run 100× slower (a stall): the median ignores it
    assert cost.pass_times(model) == pytest.approx((0.03, 0.06))
    cost.record_run(model, 4, 0, 100.0)  # too few passes to say anything about them
    assert cost.pass_times(model) == pytest.approx((0.03, 0.06))
    for _ in range(5):  # the load is gone: the last five runs are at the probe's pace again
        cost.record_run(model, 50, 50, 50 * 0.01 + 50 * 0.02)
    assert cost.pass_times(model) == pytest.approx((0.01, 0.02))
    assert len(calls) == 1 and "_lumen_pass_times" not in vars(model)  # kept in cost.py, not on the shared model


def test_a_stale_probe_is_measured_again_and_forgets_the_old_runs(probe):
    calls, now = probe
    model = small_cnn(16)
    cost.pass_times(model)
    cost.record_run(model, 100, 0, 5.0)
    now[0] += cost.MAX_AGE_S - 1
    assert cost.pass_times(model) == pytest.approx((0.05, 0.1)) and len(calls) == 1
    now[0] += 2
    assert cost.known_pass_times(model) is None  # stale: not trusted, and asking measures nothing
    assert cost.pass_times(model) == (0.01, 0.02) and len(calls) == 2


def test_explain_calibrates_a_probed_model_and_the_entry_dies_with_the_model(probe):
    model = small_cnn(16)
    image = random_image(16)
    explain(model, image, method="rise", target=0, n_masks=16)  # never probed: nothing recorded, nothing measured
    assert cost.known_pass_times(model) is None
    cost.pass_times(model)
    explain(model, image, method="rise", target=0, n_masks=16)
    assert len(cost._TIMES[model].ratios) == 1
    explain(model, image, method="grad-cam", target=0)  # 1 + 1 passes: too few to calibrate
    assert len(cost._TIMES[model].ratios) == 1
    gc.collect()  # models of earlier tests that only a collection frees: not counted below
    gone, entries = weakref.ref(model), len(cost._TIMES)
    del model
    gc.collect()
    assert gone() is None and len(cost._TIMES) == entries - 1
