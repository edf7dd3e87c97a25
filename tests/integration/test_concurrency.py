"""Many sessions at once: Streamlit runs each browser session in its own thread and the embedded
models are shared. Explanations run from 8 threads at once on one model must equal the same
explanations run alone — hooks, captured activations, pass counts and seeded generators included."""

from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

from explainers import explain

CAT, ESPRESSO = 285, 967
# (method, image, target, params): hooked CAMs, gradients through Captum, seeded noise, batched perturbation
IMAGE_JOBS = [
    ("grad-cam", "chelsea", None, {}),
    ("grad-cam++", "coffee", ESPRESSO, {}),
    ("cf-cam", "chelsea", CAT, {"grad_noise": 0.5, "seed": 3}),
    ("layer-cam", "coffee", CAT, {}),
    ("eigen-cam", "chelsea", None, {}),
    ("saliency", "coffee", None, {}),
    ("gradient-x-input", "chelsea", ESPRESSO, {}),
    ("integrated-gradients", "coffee", None, {"n_steps": 4}),
    ("smoothgrad", "chelsea", CAT, {"n_samples": 4, "seed": 1}),
    ("gradient-shap", "coffee", ESPRESSO, {"n_samples": 4, "seed": 2}),
    ("occlusion", "chelsea", None, {"window": 112, "stride": 112}),
    ("rise", "coffee", None, {"n_masks": 16, "seed": 4}),
]
THREADS, PER_THREAD = 8, 10


def _assert_same(alone, together):
    assert together.target == alone.target, alone.method
    assert (together.n_forward, together.n_backward) == (alone.n_forward, alone.n_backward), alone.method
    np.testing.assert_allclose(together.scores, alone.scores, rtol=1e-5, atol=1e-6, err_msg=alone.method)


def test_eight_threads_on_one_model_equal_each_explanation_alone(cnn, chelsea, coffee):
    images = {"chelsea": chelsea, "coffee": coffee}

    def run(job):
        method, image, target, params = IMAGE_JOBS[job]
        return explain(cnn, images[image], method=method, target=target, **params)

    alone = {job: run(job) for job in range(len(IMAGE_JOBS))}
    # thread i runs jobs i, i+1, ... so that different methods, inputs and targets overlap in time
    schedule = [[(i + k) % len(IMAGE_JOBS) for k in range(PER_THREAD)] for i in range(THREADS)]
    with ThreadPoolExecutor(THREADS) as pool:
        results = list(pool.map(lambda jobs: [(job, run(job)) for job in jobs], schedule))
    assert sum(len(r) for r in results) == THREADS * PER_THREAD
    for per_thread in results:
        for job, explanation in per_thread:
            _assert_same(alone[job], explanation)


@pytest.mark.parametrize("rounds", [3])
def test_seeded_methods_on_two_models_at_once_keep_their_own_random_streams(cnn, minilm, chelsea, rounds):
    """SmoothGrad (image) and LIME (text) both draw from the global torch/numpy generators under
    their seed; run side by side on two models (two locks) they must still see only their own draws."""
    jobs = [
        lambda: explain(cnn, chelsea, method="smoothgrad", target=CAT, n_samples=4, seed=7),
        lambda: explain(minilm, "The food was awful and the service was slow", method="lime", n_samples=40, seed=5),
        lambda: explain(minilm, "A lovely evening, thank you", method="shap", max_evals=40, seed=2),
    ]
    alone = [job() for job in jobs]
    with ThreadPoolExecutor(6) as pool:
        futures = [(k, pool.submit(jobs[k])) for _ in range(rounds) for k in range(len(jobs)) for _ in range(2)]
        for k, future in futures:
            _assert_same(alone[k], future.result())
