"""On bundled images and the embedded CNN, every real method beats the random baseline on the default
image faithfulness figures (region perturbation with ROAD imputation, explainers/metrics/image.py), on average."""

import numpy as np
import pytest

from explainers import explain, get_modality
from explainers.metrics.image import image_faithfulness
from models.inputs.samples import sample_image

IMAGES = ("chelsea (cat)", "coffee", "astronaut")
# modest parameters so that the test runs in minutes on two cores; the ranking holds at the defaults too
METHODS = {"grad-cam": {}, "rise": {"n_masks": 300}, "occlusion": {"stride": 32},
           "sobol": {"grid_size": 6, "nb_design": 8}}
RANDOM_SEEDS = (0, 1)
FIGURES = ("srg", "morf_auc", "lerf_auc")

pytestmark = pytest.mark.slow


def test_every_method_beats_random_on_average(cnn):
    better = get_modality("image").better
    scores = {m: [] for m in [*METHODS, "random"]}
    for name in IMAGES:
        image = sample_image(name)
        target = explain(cnn, image, method="grad-cam").target
        for method, params in METHODS.items():
            e = explain(cnn, image, method=method, target=target, **params)
            scores[method].append(image_faithfulness(cnn, image, e, pixel_curves=False))
        for seed in RANDOM_SEEDS:
            e = explain(cnn, image, method="random", target=target, seed=seed)
            scores["random"].append(image_faithfulness(cnn, image, e, pixel_curves=False))
    for figure in FIGURES:
        sign = 1 if better[figure] == "higher" else -1
        mean = {m: sign * np.mean([f[figure] for f in fs]) for m, fs in scores.items()}
        for method in METHODS:
            assert mean[method] > mean["random"], (figure, mean)
