"""The random baseline: scores drawn uniformly at random, seeded — the reference every metric is read against."""

from __future__ import annotations

import numpy as np

from explainers.registry import register


@register("random", "image", "baseline", cost=lambda params, model=None: (1, 0), defaults=dict(seed=0))
def random_image(model, image, target, *, seed):
    """Uniform random scores in [0, 1] for every pixel (seeded): what any explainer must beat."""
    index = model.class_index(target, image)  # None: one forward pass for the top class
    h, w = image.shape[:2]
    return np.random.default_rng(seed).random((h, w), dtype=np.float32), index
