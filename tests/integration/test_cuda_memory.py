"""Where CUDA is present, GPU memory returns to its level before each explanation (skipped without a GPU)."""

import gc

import pytest
import torch

from explainers import explain, get_method, list_explainers
from models.inputs.samples import sample_image

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device on this machine")

CHEAP = {"rise": {"n_masks": 64}, "sobol": {"nb_design": 8}, "shap": {"max_evals": 64}}


@pytest.fixture(scope="module")
def gpu_cnn():
    from models import load_model

    return load_model("efficientnet-lite0", device="cuda")


def allocated() -> int:
    gc.collect()
    torch.cuda.synchronize()
    return torch.cuda.memory_allocated()


@pytest.mark.parametrize("method", [m for m in list_explainers("image") if not get_method(m, "image").many])
def test_gpu_memory_returns_to_its_level_after_each_explanation(gpu_cnn, method):
    image = sample_image("chelsea (cat)")
    params = CHEAP.get(method, {})
    explain(gpu_cnn, image, method=method, **params)  # first use: lazy buffers (layer shapes, pass times)
    before = allocated()
    for _ in range(3):
        explain(gpu_cnn, image, method=method, **params)
        assert allocated() == before, f"{method} kept {allocated() - before} bytes of GPU memory"
