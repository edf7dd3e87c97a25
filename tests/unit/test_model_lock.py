"""The model lock is fair and reentrant, a run that waits for another is told how long, and each run
counts its own passes (models/locks.py; issue 14, finding 4). Pass counts and orders, never seconds."""

import threading

import numpy as np

from explainers import explain
from explainers.core.registry import get_method
from models.locks import Holder, ModelLock, count_backward, count_forward, counting, waiting_reports, waiting_sentence
from models.units import duration
from tests.tiny_models import random_image, small_cnn


def _wait_for(condition, what: str):
    for _ in range(10_000):
        if condition():
            return
        threading.Event().wait(0.001)
    raise AssertionError(f"timed out waiting for {what}")


def test_a_waiter_gets_the_lock_before_a_thread_that_releases_and_reacquires_in_a_loop():
    lock = ModelLock()
    loops, seen_at = [], []

    def waiter():
        with lock:
            seen_at.append(len(loops))

    lock.acquire()
    t = threading.Thread(target=waiter)
    t.start()
    _wait_for(lambda: lock.n_waiting() == 1, "the waiter to queue")
    for k in range(200):  # a long run releasing between batches and taking the lock again at once
        lock.release()
        lock.acquire()
        loops.append(k)
    lock.release()
    t.join()
    assert seen_at == [0]  # handed over at the first release, not after the loop


def test_waiters_are_served_in_the_order_they_came():
    lock = ModelLock()
    order = []
    lock.acquire()
    threads = []
    for k in range(5):
        t = threading.Thread(target=lambda k=k: (lock.acquire(), order.append(k), lock.release()))
        t.start()
        threads.append(t)
        _wait_for(lambda k=k: lock.n_waiting() == k + 1, f"waiter {k}")
    lock.release()
    for t in threads:
        t.join()
    assert order == [0, 1, 2, 3, 4]


def test_reentrant_and_exclusive_and_a_timed_out_waiter_leaves_the_queue():
    lock = ModelLock()
    got = []
    with lock, lock:  # the same thread twice
        t = threading.Thread(target=lambda: got.extend([lock.acquire(blocking=False), lock.acquire(timeout=0.01)]))
        t.start()
        t.join()
        assert got == [False, False] and lock.n_waiting() == 0
    assert not lock.locked()
    assert lock.acquire(blocking=False)
    lock.release()


def test_waiting_sentence_from_the_estimate_then_from_the_runs_own_pace():
    assert waiting_sentence([Holder(started=100.0, estimate_s=10.0)], now=103.0) == \
        "Waiting for another run on this model (about 7 s)…"
    # 25 of 100 passes in 5 s: 75 more take about 15 s, whatever the estimate said
    assert waiting_sentence([Holder(started=0.0, estimate_s=1000.0, done=25, total=100)], now=5.0) == \
        "Waiting for another run on this model (about 15 s)…"
    assert waiting_sentence([Holder(started=0.0)], now=5.0) == "Waiting for another run on this model…"
    assert waiting_sentence([Holder(started=0.0, estimate_s=455.0)], now=5.0) == \
        "Waiting for another run on this model (about 7.5 min)…"


def test_a_cam_that_must_wait_for_a_whole_run_is_told_and_then_runs():
    model = small_cnn(16)
    image = random_image(16)
    solo = explain(model, image, method="grad-cam", target=0)
    told, result = [], []
    holding, release = threading.Event(), threading.Event()

    def long_hooked_run():  # what explain does for a method with hooks: hold the lock for the whole run
        with model.lock.hold(estimate_s=120.0):
            holding.set()
            release.wait(60)

    t = threading.Thread(target=long_hooked_run)
    t.start()
    holding.wait(60)

    def waiting(sentence):
        told.append(sentence)
        release.set()

    explained = threading.Thread(target=lambda: result.append(
        explain(model, image, method="grad-cam", target=0, waiting=waiting)))
    explained.start()
    explained.join(60)
    t.join()
    assert len(told) == 1 and told[0].startswith("Waiting for another run on this model (about ")
    assert told[0] in {f"Waiting for another run on this model (about {duration(s)})…" for s in range(100, 121)}
    np.testing.assert_array_equal(result[0].scores, solo.scores)


def test_two_runs_on_one_model_each_count_their_own_passes():
    model = small_cnn(8)
    counts, go = {}, threading.Barrier(2)

    def run(name, n):
        with counting() as count:
            go.wait()
            for _ in range(n):
                count_forward(model, 1)
                count_backward(model, 2)
        counts[name] = (count.n_forward, count.n_backward)

    threads = [threading.Thread(target=run, args=("a", 300)), threading.Thread(target=run, args=("b", 500))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert counts == {"a": (300, 600), "b": (500, 1000)}
    assert (model.n_forward, model.n_backward) == (800, 1600)


def test_hook_free_methods_do_not_hold_the_lock_for_their_run_and_hooked_ones_do():
    for modality, method in [("image", "rise"), ("image", "occlusion"), ("image", "sobol"), ("image", "random"),
                             ("text", "occlusion"), ("generation", "occlusion"), ("tabular", "shap-tree"),
                             ("tabular", "permutation-importance")]:
        assert not get_method(method, modality).exclusive, (modality, method)
    # hooks, or the process-wide random-generator lock held across passes (taken after the model's lock
    # elsewhere: holding it without the model's lock first could deadlock)
    for modality, method in [("image", "grad-cam"), ("image", "eigen-cam"), ("image", "score-cam"), ("image", "shap"),
                             ("image", "smoothgrad"), ("text", "lime"), ("text", "shap"), ("text", "integrated-gradients"),
                             ("tabular", "shap-kernel"), ("tabular", "shap-permutation"),
                             ("generation", "reagent")]:
        assert get_method(method, modality).exclusive, (modality, method)


def test_a_hook_free_run_takes_the_lock_only_per_pass():
    model = small_cnn(16)
    image = random_image(16)
    free_between_passes = []
    forward = model.forward

    def spying_forward(batch):
        free_between_passes.append(not model.lock.locked())
        return forward(batch)

    model.forward = spying_forward
    explain(model, image, method="rise", target=0, n_masks=16)
    explain(model, image, method="grad-cam", target=0)
    assert len(free_between_passes) > 2
    assert all(free_between_passes[:-1]) and not free_between_passes[-1]  # RISE: free between passes; Grad-CAM: held


def test_a_waiter_whose_page_stops_while_told_leaves_the_queue_and_the_lock_works_on():
    lock = ModelLock()
    holding, release, errors = threading.Event(), threading.Event(), []

    def hooked_run():
        with lock.hold(estimate_s=5.0):
            holding.set()
            release.wait(60)

    def stopped(_sentence):
        raise KeyboardInterrupt("the page stopped")

    def waiter():
        with waiting_reports(stopped):
            try:
                lock.acquire()
            except KeyboardInterrupt as exc:
                errors.append(str(exc))

    t = threading.Thread(target=hooked_run)
    t.start()
    holding.wait(60)
    w = threading.Thread(target=waiter)
    w.start()
    w.join(60)
    release.set()
    t.join(60)
    assert errors == ["the page stopped"] and lock.n_waiting() == 0 and not lock.locked()
    assert lock.acquire(blocking=False)
    lock.release()
