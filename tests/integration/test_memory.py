"""50 consecutive explanations per method: RSS grows by under 100 MB and no hook is left behind.

Run on the embedded digits ViT (16 px input) so that 50 runs of every method, the
many-pass ones included, fit in a CPU test run; the code paths (hooks, Captum,
the engine, shap) are the ones every model goes through.
"""

import gc
import os

import pytest

from explainers import explain, get_method, list_explainers
from models.inputs.samples import sample_image
from tests.tiny_models import HeadedCNN, classifier, random_image

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


def assert_no_leak(model, x, method, params):
    for _ in range(3):  # warm-up: allocator pools, lazy inits, caches of the method
        explain(model, x, method=method, **params)
    gc.collect()
    before = rss_mb()
    for _ in range(REPEATS):
        explain(model, x, method=method, **params)
    gc.collect()
    grown = rss_mb() - before
    assert grown < 100, f"{method}: RSS grew by {grown:.0f} MB over {REPEATS} explanations"
    assert no_hooks(model.module)


@pytest.mark.parametrize("method", [m for m in list_explainers("image") if not get_method(m, "image").many])
def test_fifty_explanations_do_not_leak(vit, method):
    digit = sample_image("digit 3 (for vit-digits)")
    assert_no_leak(vit, digit, method, dict(CHEAP.get(method, {})))


def test_fifty_concept_explanations_do_not_leak():
    """CRAFT needs a convolutional feature map (the ViT has tokens): a tiny CNN split like timm's."""
    model = classifier(HeadedCNN(n_classes=3), size=32, n_classes=3)
    images = [random_image(32, seed=s) for s in range(4)]
    assert_no_leak(model, images, "craft", {"n_concepts": 3, "patch_size": 16, "nb_design": 4})
