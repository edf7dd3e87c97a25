"""Sessions cannot harm each other on one shared model (issue 14, findings 3 and 4).

The sanity check's randomised copy must not carry another session's hooks (it once deep-copied the
module while a CAM's hook was on it, so the copy's passes fed that CAM's activations), and a short
Grad-CAM must not wait silently for the whole of a long RISE."""

import threading

import numpy as np

from explainers import explain
from explainers.sanity import hook_count, randomized_copy

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
