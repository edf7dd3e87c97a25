"""``shap`` for images: the shap library's Partition explainer with its image blur masker.

shap owns the masking (``shap.maskers.Image("blur(k,k)")``) and the Owen-value
recursion; Lumen feeds it the model through the one engine, so every masked image
is batched, counted, cancellable and reported as progress.
"""

from __future__ import annotations

import copy
from functools import lru_cache

import numpy as np
import torch

from explainers.core.engine import batched_logits, expect
from explainers.image.maps import to_pixel_grid_signed
from explainers.core.budget import DOUBLE, FLOAT, engine_bytes, n_classes
from explainers.core.registry import SEED, register
from explainers.core.shap_budget import check_max_evals, numpy_seed, partition_passes
from models.errors import ExplainerError

SHAP_BATCH = 64  # masked images per call from shap to the model (the engine may split it further)


def _shap_memory(params, model, **_) -> int:
    """shap's masker (the image, its blur, the partition tree: a few doubles per value), one batch of masked
    images through the engine, and every output shap keeps (max_evals × classes, as doubles)."""
    h, w = model.input_size
    values = h * w * 3
    outputs = 2 * params["max_evals"] * n_classes(model) * (DOUBLE + FLOAT)
    return 16 * values * DOUBLE + engine_bytes(model, SHAP_BATCH, SHAP_BATCH) + outputs


@register(
    "shap",
    modality="image",
    family="perturbation",
    cost=lambda params, model=None, **sizes: (partition_passes(check_max_evals(params)), 0),
    defaults={"max_evals": 500, "blur": 128, "seed": 0},
    signed=True,
    limits={"max_evals": (2, 20000), "blur": (1, 1024), "seed": SEED},  # 20,000 passes: minutes on a GPU
    memory=_shap_memory,
)
def shap_partition(model, image, target, max_evals=500, blur=128, seed=0):
    """SHAP (Lundberg & Lee, NeurIPS 2017), Partition explainer: Owen values over a hierarchy of image halves.

    shap splits the model's input recursively in halves along its longest side; a
    hidden region is replaced by the image blurred with a ``blur`` × ``blur`` box
    filter (model-grid pixels). Within ``max_evals`` model passes it refines the
    splits that change the target's softmax probability most; the values of every
    pixel (summed over colour channels) add up to p(x) - p(all blurred). Signed,
    scaled by the largest |value| into [-1, 1]. ``seed`` fixes shap's tie-breaking.
    """
    values, _base, index = shap_values(model, image, target, max_evals, blur, seed)
    return to_pixel_grid_signed(torch.from_numpy(values), image.shape[0], image.shape[1]), index


def shap_values(model, image, target, max_evals=500, blur=128, seed=0):
    """(values (h, w) float64 on the model grid, base value, target index).

    Additivity: ``values.sum() + base`` is the target's probability for the image,
    ``base`` its probability for the fully blurred image.
    """
    import shap

    max_evals = check_max_evals({"max_evals": max_evals})
    blur = int(blur)
    if blur < 1:
        raise ExplainerError(f"blur must be a box size of at least 1 pixel; got {blur}.")
    x = model.preprocess(image)
    pixels = x[0].permute(1, 2, 0).contiguous().cpu().numpy()  # shap's maskers want (h, w, c) arrays
    device = x.device
    expect(partition_passes(max_evals))

    def probabilities(batch: np.ndarray) -> np.ndarray:  # batch: (n, h·w·c) flat masked images
        batch = np.ascontiguousarray(batch, dtype=np.float32).reshape(len(batch), *pixels.shape)
        inputs = torch.from_numpy(batch).to(device).permute(0, 3, 1, 2)
        logits = batched_logits(model, len(inputs), lambda i, j: inputs[i:j])
        return torch.softmax(logits, dim=1).cpu().numpy()

    masker = copy.copy(_masker_template(blur, pixels.shape))  # a fresh copy: its blur cache starts empty
    explainer = shap.PartitionExplainer(probabilities, masker)
    outputs = shap.Explanation.argsort.flip[:1] if target is None else [int(target)]
    with numpy_seed(seed):  # explain_row: one image, and it says which output the top class was
        row = explainer.explain_row(  # a flat image: the masker then blurs it once, not once per mask
            pixels.ravel(), max_evals=max_evals, main_effects=False, error_bounds=False,
            batch_size=SHAP_BATCH, outputs=outputs, silent=True,
        )
    values = np.asarray(row["values"], dtype=np.float64).reshape(*pixels.shape, -1)[..., 0].sum(axis=-1)
    base = float(np.asarray(row["expected_values"]).reshape(-1)[0])
    index = int(np.asarray(row["output_indices"]).reshape(-1)[0])
    return values, base, index


@lru_cache(maxsize=4)
def _masker_template(blur: int, shape: tuple[int, ...]):
    """shap's image masker builds its partition tree over every pixel and channel (~0.7 s at 224 × 224 × 3):
    build it once per shape; callers use shallow copies and never this template itself."""
    import shap

    return shap.maskers.Image(f"blur({blur},{blur})", shape)


