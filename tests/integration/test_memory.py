"""50 consecutive explanations per method: RSS grows by under 100 MB and no hook is left behind.

Run on the embedded digits ViT (16 px input) so that 50 runs of every method, the
many-pass ones included, fit in a CPU test run; the code paths (hooks, Captum,
the engine, shap) are the ones every model goes through.
"""

import gc
import os

import pytest

from explainers import explain, list_explainers
from models.samples import sample_image

REPEATS = 50
# Parameters that keep 50 runs of every method cheap on a 2-core CPU while exercising the same code paths.
CHEAP = {
    "occlusion": {"window": 8, "stride": 8},
    "rise": {"n_masks": 8},
    "sobol": {"grid_size": 2, "nb_design": 2},
    "shap": {"max_evals": 16},
    "integrated-gradients": {"n_steps": 4},
    "smoothgrad": {"n_samples": 2},
    "gradient-shap": {"n_samples": 2},
}


def rss_mb() -> float:
    with open("/proc/self/statm") as f:
        pages = int(f.read().split()[1])
    return pages * os.sysconf("SC_PAGE_SIZE") / 2**20


def no_hooks(module) -> bool:
    return all(
        not m._forward_hooks and not m._forward_pre_hooks and not m._backward_hooks
        and not getattr(m, "_backward_pre_hooks", None)
        for m in module.modules()
    )


@pytest.mark.parametrize("method", list_explainers("image"))
def test_fifty_explanations_do_not_leak(vit, method):
    digit = sample_image("digit 3 (for vit-digits)")
    params = {k: v for k, v in CHEAP.get(method, {}).items()}
    for _ in range(3):  # warm-up: allocator pools, lazy inits, caches of the method
        explain(vit, digit, method=method, **params)
    gc.collect()
    before = rss_mb()
    for _ in range(REPEATS):
        explain(vit, digit, method=method, **params)
    gc.collect()
    grown = rss_mb() - before
    assert grown < 100, f"{method}: RSS grew by {grown:.0f} MB over {REPEATS} explanations"
    assert no_hooks(vit.module)
