"""Sessions cannot harm each other on one shared model (issue 14, findings 3 and 4).

The sanity check's randomised copy must not carry another session's hooks (it once deep-copied the
module while a CAM's hook was on it, so the copy's passes fed that CAM's activations), and a short
Grad-CAM must not wait silently for the whole of a long RISE."""

import threading

import numpy as np

from explainers import explain
from explainers.metrics.sanity import hook_count, randomized_copy

ROUNDS = 40


def test_cams_beside_sanity_copies_equal_their_solo_results_and_no_copy_carries_a_hook(cnn, chelsea):
    cams = ("grad-cam", "eigen-cam")
    solo = {m: explain(cnn, chelsea, method=m).scores for m in cams}
    randomized_solo = explain(randomized_copy(cnn, 2, 0), chelsea, method="grad-cam").scores
    wrong, hooked, copies_wrong, errors = [], [], [], []
    start = threading.Barrier(2)

    def cam_loop():
        start.wait()
        for k in range(ROUNDS):
            method = cams[k % 2]
            if not np.allclose(explain(cnn, chelsea, method=method).scores, solo[method], rtol=0, atol=1e-6):
                wrong.append((k, method))

    def sanity_loop():
        start.wait()
        for k in range(ROUNDS):
            copy = randomized_copy(cnn, 2, 0)
            if hook_count(copy.module):
                hooked.append(k)
            if not np.allclose(explain(copy, chelsea, method="grad-cam").scores, randomized_solo, rtol=0, atol=1e-6):
                copies_wrong.append(k)

    def guarded(loop):
        def run():
            try:
                loop()
            except Exception as exc:  # noqa: BLE001 - reported by the assertion below
                errors.append(repr(exc))
        return run

    threads = [threading.Thread(target=guarded(cam_loop)), threading.Thread(target=guarded(sanity_loop))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert wrong == [], f"{len(wrong)} of {ROUNDS} CAMs differ from their solo result"
    assert hooked == [], f"{len(hooked)} of {ROUNDS} copies carried hooks"
    assert copies_wrong == []
    assert hook_count(cnn.module) == 0  # nothing left behind on the shared model either


def test_a_grad_cam_started_during_a_long_rise_finishes_while_the_rise_still_has_passes_left(cnn, chelsea):
    """RISE makes only forward passes (no hooks): it takes the model's lock per batch, and the fair lock
    hands it to the waiting Grad-CAM at the next batch. Measured in RISE passes, not seconds."""
    solo = explain(cnn, chelsea, method="grad-cam")
    n_masks = 2000
    rise_progress, started, cancel, rise_error = [], threading.Event(), threading.Event(), []

    def progress(done, total):
        rise_progress.append((done, total))
        started.set()

    def rise():
        try:
            explain(cnn, chelsea, method="rise", n_masks=n_masks, progress=progress, cancel=cancel)
        except Exception as exc:  # noqa: BLE001 - Cancelled, once the Grad-CAM is back
            rise_error.append(type(exc).__name__)

    t = threading.Thread(target=rise)
    t.start()
    assert started.wait(600)
    told = []
    cam = explain(cnn, chelsea, method="grad-cam", waiting=told.append)
    done_when_cam_returned, total = rise_progress[-1]
    cancel.set()
    t.join()
    assert total == n_masks + 1
    assert done_when_cam_returned < total  # the CAM did not wait for the RISE to finish
    assert rise_error == ["Cancelled"]
    assert told == []  # a RISE holds the lock only for one batch: nothing long to wait for
    assert (cam.n_forward, cam.n_backward) == (1, 1)
    np.testing.assert_allclose(cam.scores, solo.scores, rtol=0, atol=1e-6)
