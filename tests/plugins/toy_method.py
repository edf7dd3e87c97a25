"""A method from outside Lumen, as a user's plugin module would add one (``LUMEN_PLUGINS=tests.plugins.toy_method``)."""

import numpy as np

from explainers import register


@register("toy-plugin", modality="image", family="toy", cost=lambda params, model=None, **sizes: (1, 0))
def toy_plugin(model, image, target):
    """Toy plugin: the same score, 0.5, for every pixel."""
    return np.full(image.shape[:2], 0.5, dtype=np.float32), model.class_index(target, image)
